"""``heron order place|cancel|cancel-all|amend|list``: one venue account's orders by hand.

Each command opens the venue client (:func:`heron.cli.venue_options.open_client`), does
one thing and prints what the venue answered, as a table or (``--json``) one JSON
document with every price and size as exact decimal text.

**Before sending.** Prices and sizes are decimal text put on the instrument's grid: an
off-grid value is refused with the tick or lot and the two nearest valid values (a
rounded price would be an order the user did not ask for). Then the client's own check
(lot minimum, minimum notional, order types the venue takes): a refused order never
leaves the machine.

**Client ids.** ``--client-id`` or a fresh ``hcli-<ms>-<4 chars>``, in the venue's format
(:meth:`~heron.execution.port.VenueClient.venue_client_id`). It is how a lost reply is
resolved: when the placement's reply never comes, the order is looked up by its client
id and reported as the venue has it. The CLI never sends a placement twice.

Exit codes: 0 done; 1 the venue could not be reached, or a reply was lost and the
look-up failed too (the message says what to check); 2 bad input (off-grid price or size,
below the venue's minimums, missing option, unknown symbol, a venue without amend),
bad or missing keys, a key file readable by others, or the venue's refusal with its
code; 3 a bug.
"""

from __future__ import annotations

import secrets
import string
import time
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from heron.cli.venue_options import (
    AnySymbolOpt,
    EndpointOpt,
    JsonOpt,
    KeyFileOpt,
    OpenVenue,
    PaperOpt,
    SymbolOpt,
    TestnetOpt,
    VenueOpt,
    VenueOptions,
    dec,
    emit_json,
    open_client,
    run_command,
)
from heron.errors import HeronError, InputError, ResponseLost
from heron.execution.port import Amend
from heron.model.account import VenueOrder
from heron.model.events import SubmitOrder
from heron.model.instrument import Instrument, OffGrid
from heron.model.orders import OrderSide, OrderType, TimeInForce

order_app = typer.Typer(no_args_is_help=True, help="Place, cancel, amend and list orders.")
out = Console()
err = Console(stderr=True)
Opt = typer.Option
_ALNUM = string.ascii_lowercase + string.digits
_TYPES = {"market": OrderType.MARKET, "limit": OrderType.LIMIT, "stop": OrderType.STOP,
          "stop-limit": OrderType.STOP_LIMIT}

IdOpt = Annotated[str | None, Opt("--id", help="the venue's order id")]
ClientIdOpt = Annotated[str | None, Opt("--client-id", help="the order's client id, as "
                                        "`heron order list` shows it")]


@order_app.command("place")
def place_command(
    venue: VenueOpt, symbol: SymbolOpt,
    side: Annotated[str, Opt(help="buy or sell")],
    qty: Annotated[str, Opt("--qty", "--quantity", help="quantity, decimal, on the venue's lot")],
    order_type: Annotated[str, Opt("--type", help="market, limit, stop, stop-limit")
                          ] = "limit",
    price: Annotated[str | None, Opt(help="limit price (limit, stop-limit)")] = None,
    trigger: Annotated[str | None, Opt(help="trigger price (stop, stop-limit)")] = None,
    post_only: Annotated[bool, Opt("--post-only", help="maker only")] = False,
    reduce_only: Annotated[bool, Opt("--reduce-only", help="only reduce the position")
                           ] = False,
    tif: Annotated[str, Opt("--tif", help="gtc, ioc or fok")] = "gtc",
    client_id: Annotated[str | None, Opt("--client-id", help="client order id (default: "
                                         "hcli-<ms>-<random>)")] = None,
    endpoint: EndpointOpt = None, testnet: TestnetOpt = False, paper: PaperOpt = False,
    key_file: KeyFileOpt = None, as_json: JsonOpt = False,
) -> None:
    """Place one order; a lost reply is resolved by looking the order up, never resent."""
    opts = VenueOptions(venue, endpoint, testnet, paper, key_file, as_json)
    spec = OrderSpec(side=side, order_type=order_type, qty=qty, price=price, trigger=trigger,
                     post_only=post_only, reduce_only=reduce_only, tif=tif)
    spec.validate()
    run_command(_place(opts, symbol, spec, client_id))


class OrderSpec:
    """The order flags as typed, checked for consistency before any venue is asked."""

    def __init__(self, *, side: str, order_type: str, qty: str, price: str | None,
                 trigger: str | None, post_only: bool, reduce_only: bool, tif: str) -> None:
        self.side, self.order_type, self.qty = side.lower(), order_type.lower(), qty
        self.price, self.trigger, self.tif = price, trigger, tif.lower()
        self.post_only, self.reduce_only = post_only, reduce_only

    def validate(self) -> None:
        """Refuse combinations no venue takes: the message names the flag to fix."""
        if self.side not in ("buy", "sell"):
            raise InputError(f"--side {self.side!r}: use buy or sell")
        if self.order_type not in _TYPES:
            raise InputError(f"--type {self.order_type!r}: use {', '.join(_TYPES)}")
        if self.tif not in ("gtc", "ioc", "fok"):
            raise InputError(f"--tif {self.tif!r}: use gtc, ioc or fok")
        kind = _TYPES[self.order_type]
        wants_price = kind in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        wants_trigger = kind in (OrderType.STOP, OrderType.STOP_LIMIT)
        if wants_price != (self.price is not None):
            raise InputError(f"a {self.order_type} order " + (
                "needs --price" if wants_price else "takes no --price"))
        if wants_trigger != (self.trigger is not None):
            raise InputError(f"a {self.order_type} order " + (
                "needs --trigger" if wants_trigger else "takes no --trigger"))
        if self.post_only and not wants_price:
            raise InputError("--post-only needs a limit or stop-limit order (--type limit)")

    def command(self, inst: Instrument, client_order_id: str) -> SubmitOrder:
        """The order on ``inst``'s grid (off-grid values refused with the nearest ones)."""
        now = time.time_ns()
        return SubmitOrder(
            now, now, client_order_id, "cli", inst.id, OrderSide(self.side),
            _TYPES[self.order_type], on_grid(inst, self.qty, "qty"),
            on_grid(inst, self.price, "price") if self.price is not None else None,
            on_grid(inst, self.trigger, "trigger") if self.trigger is not None else None,
            time_in_force=TimeInForce(self.tif), post_only=self.post_only,
            reduce_only=self.reduce_only)


def on_grid(inst: Instrument, text: str, flag: str) -> int:
    """``text`` as whole ticks (``price``/``trigger``) or lots (``qty``) of ``inst``."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InputError(f"--{flag} {text!r} is not a decimal number") from None
    if not value.is_finite() or value <= 0:
        raise InputError(f"--{flag} {text!r} must be a positive number")
    is_qty = flag == "qty"
    step = inst.size_increment if is_qty else inst.price_increment
    try:
        return inst.lots(value) if is_qty else inst.ticks(value)
    except OffGrid:
        down = (value / step).to_integral_value(ROUND_FLOOR) * step
        near = [v for v in (down, down + step) if v > 0]
        raise InputError(
            f"--{flag} {value} is off {inst.symbol}'s {'lot' if is_qty else 'tick'} "
            f"{step}; nearest valid: {' or '.join(format(v, 'f') for v in near)}") from None


def new_client_id() -> str:
    """``hcli-<ms>-<4 chars>``: unique enough for a human's orders, and short enough for
    every venue's client-id field (Binance takes 36 characters)."""
    tail = "".join(secrets.choice(_ALNUM) for _ in range(4))
    return f"hcli-{time.time_ns() // 1_000_000}-{tail}"


async def _place(opts: VenueOptions, symbol: str, spec: OrderSpec,
                 client_id: str | None) -> None:
    async with open_client(opts, [symbol]) as ov:
        client, inst = ov.client, ov.instrument()
        heron_id = client_id or new_client_id()
        try:
            venue_id = client.venue_client_id(heron_id)
        except ValueError as exc:
            raise InputError(f"--client-id: {exc}; use letters, digits, _ and -") from None
        cmd = spec.command(inst, heron_id)
        why = client.check(cmd)
        if why is not None:
            raise InputError(f"{opts.venue} would refuse the order: {why}; nothing was sent")
        lost = False
        try:
            order = await client.place(cmd, venue_id)
        except ResponseLost as exc:
            lost = True
            order = await _resolve_lost(ov, inst, venue_id, exc, symbol)
        if opts.as_json:
            emit_json({"venue": opts.venue, "reply_lost": lost,
                       "order": order_doc(ov, order)})
            return
        if lost:
            err.print("the venue's reply was lost; the order was found by its client id",
                      highlight=False)
        _orders_table(ov, [order], f"{opts.venue}: order placed")


async def _resolve_lost(ov: OpenVenue, inst: Instrument, venue_id: str, lost: ResponseLost,
                        symbol: str) -> VenueOrder:
    """The order a lost placement made, or a one-line error that says what is known."""
    try:
        found = await ov.client.fetch_order(inst, client_id=venue_id)
    except HeronError as exc:
        raise ResponseLost(f"{lost}; looking the order up failed too ({exc}): check "
                           f"`heron order list --symbol {symbol}` for client id {venue_id} "
                           "before placing it again") from exc
    if found is None:
        raise ResponseLost(f"{ov.client.venue}: the reply to order {venue_id} was lost and "
                           "the venue has no order with that client id: nothing was placed; "
                           "run the command again") from lost
    return found


@order_app.command("cancel")
def cancel_command(
    venue: VenueOpt, symbol: SymbolOpt, order_id: IdOpt = None, client_id: ClientIdOpt = None,
    endpoint: EndpointOpt = None, testnet: TestnetOpt = False, paper: PaperOpt = False,
    key_file: KeyFileOpt = None, as_json: JsonOpt = False,
) -> None:
    """Cancel one order, named by its venue id or its client id."""
    opts = VenueOptions(venue, endpoint, testnet, paper, key_file, as_json)
    _one_of(order_id, client_id)
    run_command(_cancel(opts, symbol, order_id or "", client_id or ""))


def _one_of(order_id: str | None, client_id: str | None) -> None:
    if (order_id is None) == (client_id is None):
        raise InputError("name the order with exactly one of --id and --client-id")


async def _cancel(opts: VenueOptions, symbol: str, order_id: str, client_id: str) -> None:
    async with open_client(opts, [symbol]) as ov:
        order = await ov.client.cancel(ov.instrument(), venue_order_id=order_id,
                                       client_id=client_id)
        if opts.as_json:
            emit_json({"venue": opts.venue, "order": order_doc(ov, order)})
        else:
            _orders_table(ov, [order], f"{opts.venue}: order canceled")


@order_app.command("cancel-all")
def cancel_all_command(
    venue: VenueOpt, symbol: SymbolOpt,
    endpoint: EndpointOpt = None, testnet: TestnetOpt = False, paper: PaperOpt = False,
    key_file: KeyFileOpt = None, as_json: JsonOpt = False,
) -> None:
    """Cancel every open order on one symbol."""
    opts = VenueOptions(venue, endpoint, testnet, paper, key_file, as_json)
    run_command(_cancel_all(opts, symbol))


async def _cancel_all(opts: VenueOptions, symbol: str) -> None:
    """Some venues answer a cancel-all with the orders, others (Binance) with a bare
    "done": the orders open before it are read first, so the report is the same."""
    async with open_client(opts, [symbol]) as ov:
        inst = ov.instrument()
        before = list(await ov.client.open_orders(inst))
        replied = list(await ov.client.cancel_all(inst))
        canceled = replied or before
        if opts.as_json:
            emit_json({"venue": opts.venue, "symbol": symbol,
                       "canceled": [order_doc(ov, o) for o in canceled]})
        else:
            _orders_table(ov, canceled, f"{opts.venue}: {len(canceled)} open orders on "
                          f"{symbol} canceled")


@order_app.command("amend")
def amend_command(
    venue: VenueOpt, symbol: SymbolOpt, order_id: IdOpt = None, client_id: ClientIdOpt = None,
    qty: Annotated[str | None, Opt("--qty", "--quantity", help="new quantity")] = None,
    price: Annotated[str | None, Opt(help="new limit price")] = None,
    endpoint: EndpointOpt = None, testnet: TestnetOpt = False, paper: PaperOpt = False,
    key_file: KeyFileOpt = None, as_json: JsonOpt = False,
) -> None:
    """Change an open order's quantity or price in place (venues that amend)."""
    opts = VenueOptions(venue, endpoint, testnet, paper, key_file, as_json)
    _one_of(order_id, client_id)
    if qty is None and price is None:
        raise InputError("nothing to amend: give --qty, --price or both")
    _can_amend(venue, symbol)
    run_command(_amend(opts, symbol, order_id or "", client_id or "", qty, price))


def _can_amend(venue: str, symbol: str) -> None:
    """Refuse an amend on a venue that has none, before keys are read or anything sent
    (Alpaca's US equities amend; its crypto pairs, through ccxt, do not)."""
    from heron.venues.ccxt.dialect import dialect_for

    if venue == "alpaca" and "/" not in symbol:
        return
    if not dialect_for(venue).supports_amend:
        raise InputError(f"{venue} cannot amend an order in place: cancel and place a new "
                         "order (heron order cancel, then heron order place)")


async def _amend(opts: VenueOptions, symbol: str, order_id: str, client_id: str,
                 qty: str | None, price: str | None) -> None:
    async with open_client(opts, [symbol]) as ov:
        client, inst = ov.client, ov.instrument()
        order = await client.fetch_order(inst, venue_order_id=order_id, client_id=client_id)
        if order is None or not order.status.is_open:
            state = "does not exist" if order is None else f"is {order.status.value}"
            raise InputError(f"order {order_id or client_id} {state} on {opts.venue}; only "
                             "an open order can be amended")
        if order.price is None and price is not None:
            raise InputError(f"order {order.venue_order_id} is a {order.order_type.value} "
                             "order: it has no limit price to amend")
        amended = await client.amend(Amend(
            instrument=inst, venue_order_id=order.venue_order_id,
            client_id=order.client_order_id, side=order.side, order_type=order.order_type,
            quantity=on_grid(inst, qty, "qty") if qty is not None else order.quantity,
            price=on_grid(inst, price, "price") if price is not None else order.price,
            trigger_price=order.trigger_price))
        if opts.as_json:
            emit_json({"venue": opts.venue, "order": order_doc(ov, amended)})
        else:
            _orders_table(ov, [amended], f"{opts.venue}: order amended")


@order_app.command("list")
def list_command(
    venue: VenueOpt, symbol: AnySymbolOpt = None,
    endpoint: EndpointOpt = None, testnet: TestnetOpt = False, paper: PaperOpt = False,
    key_file: KeyFileOpt = None, as_json: JsonOpt = False,
) -> None:
    """The account's open orders (all symbols unless --symbol)."""
    opts = VenueOptions(venue, endpoint, testnet, paper, key_file, as_json)
    run_command(_list(opts, symbol))


async def _list(opts: VenueOptions, symbol: str | None) -> None:
    async with open_client(opts, [symbol] if symbol else [], discover="orders") as ov:
        orders = list(await ov.client.open_orders()) if ov.client.instruments else []
        if opts.as_json:
            emit_json({"venue": opts.venue, "orders": [order_doc(ov, o) for o in orders]})
        else:
            _orders_table(ov, orders, f"{opts.venue}: {len(orders)} open orders")


def order_doc(ov: OpenVenue, order: VenueOrder) -> dict[str, Any]:
    """An order as JSON: prices and sizes as exact decimal text on the instrument."""
    inst = ov.client.instruments[order.instrument_id]
    return {
        "symbol": ov.symbol(order.instrument_id), "instrument": order.instrument_id,
        "venue_order_id": order.venue_order_id, "client_order_id": order.client_order_id,
        "side": order.side.value, "type": order.order_type.value,
        "status": order.status.value, "quantity": dec(inst.quantity(order.quantity)),
        "filled": dec(inst.quantity(order.filled)),
        "price": dec(inst.price(order.price)) if order.price is not None else None,
        "trigger_price": (dec(inst.price(order.trigger_price))
                          if order.trigger_price is not None else None),
        "avg_price": dec(order.avg_price), "time_in_force": order.time_in_force.value,
        "post_only": order.post_only, "reduce_only": order.reduce_only, "ts_ns": order.ts,
    }


def _orders_table(ov: OpenVenue, orders: list[VenueOrder], title: str) -> None:
    if not orders:
        out.print(f"{title}: none", highlight=False)
        return
    table = Table(title=title)
    names = ("symbol", "side", "type", "status", "quantity", "filled", "price",
             "trigger_price", "avg_price", "time_in_force", "venue_order_id",
             "client_order_id")
    for name in names:
        table.add_column(name.replace("_", " "),
                         justify="right" if name in ("quantity", "filled", "price",
                                                     "trigger_price", "avg_price") else "left")
    for order in orders:
        doc = order_doc(ov, order)
        table.add_row(*(str(doc[n]) if doc[n] is not None else "" for n in names))
    wide = out if out.is_terminal else Console(width=max(out.width, 200))
    wide.print(table)
