"""The API's request and response bodies, as the OpenAPI schema shows them.

Requests refuse unknown keys (a typo is a 422 naming the key, never a silently ignored
option). Prices, quantities and money are decimal strings, times ``int`` ns since the
epoch.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")
DECIMAL = r"^[0-9]{1,30}(\.[0-9]{1,30})?$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class CountedPage(Page[T], Generic[T]):
    """A page of one run's list whose length the server knows without reading it all."""

    total: int | None = Field(description=(
        "items in the whole list, where known without reading it all (null: filtered)"))


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    error: ErrorDetail


# -- runs ------------------------------------------------------------------------------------
class RunSummary(BaseModel):
    equity: str | None = None
    pnl: str | None = None
    trading_state: str | None = None
    exposure: str | None = None
    feeds: list[dict[str, Any]] | None = Field(
        default=None, description="a paper or live run's feed health, from status.json")


class RunOut(BaseModel):
    run_id: str
    kind: str
    name: str
    status: str
    config: str
    created_at: int
    started_at: int | None
    ended_at: int | None
    pid: int | None
    exit_code: int | None
    error: str | None
    directory: str
    summary: RunSummary | None = None


class CreateRun(Strict):
    kind: Literal["backtest", "paper", "live"]
    config: str = Field(max_length=262_144, description="the run's TOML config")
    name: str | None = Field(default=None, max_length=200)
    start: bool = True


class KillRun(Strict):
    flatten: bool = False
    reason: str | None = Field(default=None, max_length=500)


class ResumeRun(Strict):
    reason: str | None = Field(default=None, max_length=500)


# -- orders ----------------------------------------------------------------------------------
class OrderOut(BaseModel):
    run_id: str
    client_order_id: str
    strategy_id: str
    instrument_id: str
    symbol: str
    side: str
    type: str
    status: str
    quantity: str
    filled: str
    leaves: str
    price: str | None
    trigger_price: str | None
    avg_price: str | None
    time_in_force: str
    post_only: bool
    reduce_only: bool
    tag: str
    venue_order_id: str | None
    ts_init: int
    ts_last: int
    ts_closed: int | None


class PlaceOrder(Strict):
    """A manual order, checked by the run's risk engine like any strategy's."""

    symbol: str = Field(min_length=1, max_length=64)
    side: Literal["buy", "sell"]
    type: Literal["market", "limit", "stop", "stop-limit"] = "limit"
    quantity: str = Field(pattern=DECIMAL, description="decimal string")
    price: str | None = Field(default=None, pattern=DECIMAL)
    trigger_price: str | None = Field(default=None, pattern=DECIMAL)
    time_in_force: Literal["GTC", "IOC", "FOK", "gtc", "ioc", "fok"] = "GTC"
    post_only: bool = False
    reduce_only: bool = False
    client_order_id: str | None = Field(default=None, max_length=64,
                                        pattern=r"^[A-Za-z0-9_.:-]+$")


class CommandOut(BaseModel):
    command_id: str | None
    ok: bool | None = Field(description="null while the run has not answered (pending)")
    pending: bool
    client_order_id: str | None
    rule: str | None
    message: str


# -- account ---------------------------------------------------------------------------------
class FillOut(BaseModel):
    seq: int
    ts: int
    client_order_id: str
    instrument_id: str
    symbol: str
    side: str
    quantity: str
    price: str
    fee: str
    liquidity: str
    trade_id: str
    venue_order_id: str
    strategy_id: str


class PositionOut(BaseModel):
    instrument_id: str
    symbol: str
    quantity: str
    side: str
    avg_entry: str | None
    mark: str | None
    unrealized_pnl: str
    realized_pnl: str
    fees: str
    funding: str
    ts_opened: int | None


class BalanceOut(BaseModel):
    currency: str
    total: str
    free: str | None
    equity: str
    starting: str
    realized_pnl: str
    fees: str
    funding: str
    adjustments: str
    pnl: str


class RoundTripOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    instrument: str
    direction: str
    closed: bool
    entry_ts: int
    exit_ts: int | None
    qty: str
    net_pnl: str


class EquityPoint(BaseModel):
    ts: int
    equity: str
    drawdown: str = Field(description="1 - equity / running peak, a decimal fraction")


class EventOut(BaseModel):
    run_id: str
    seq: int
    type: str
    ts: int
    record: dict[str, Any]


# -- the rest --------------------------------------------------------------------------------
class ParamOut(BaseModel):
    name: str
    type: str
    default: Any
    bounds: dict[str, Any]
    choices: list[Any] | None
    doc: str


class StrategyOut(BaseModel):
    name: str
    doc: str
    source: str = Field(default="builtin", description="builtin, entry-point or path "
                        "(a file in a HERON_STRATEGY_PATH folder)")
    params: list[ParamOut]


class CatalogEntryOut(BaseModel):
    venue: str
    symbol: str
    kind: str
    rows: int
    first_ts: int
    last_ts: int
    partitions: int
    view: str


class DataFileOut(BaseModel):
    path: str = Field(description="as a backtest config's data key takes it")
    name: str
    bytes: int
    modified_at: int


class TokenOut(BaseModel):
    token_id: str
    name: str
    role: str
    created_at: int
    last_used_at: int | None


class CreateToken(Strict):
    role: Literal["viewer", "trader", "admin"]
    name: str = Field(default="", max_length=200)


class TokenCreated(BaseModel):
    token: TokenOut
    secret: str = Field(description="shown once: store it now")


class Health(BaseModel):
    status: str
    version: str
    runs: dict[str, int]


class Me(BaseModel):
    role: str
    token_id: str | None
