"""``heron positions`` and ``heron balances``: what the venue says the account holds.

Read-only: the venue is the source of truth, and these print its answer as it is, exact
(entry prices, unrealised PnL and balances are the venue's decimal text, never floats).
``positions`` without ``--symbol`` asks the venue which symbols have a position first.

Exit codes: 0 done; 1 the venue could not be reached; 2 bad input (unknown venue or
symbol, a flag the venue cannot honour), bad or missing keys, a key file readable by
others, or the venue's refusal with its code; 3 a bug.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from heron.cli.venue_options import (
    AnySymbolOpt,
    EndpointOpt,
    JsonOpt,
    KeyFileOpt,
    OpenVenue,
    PaperOpt,
    TestnetOpt,
    VenueOpt,
    VenueOptions,
    dec,
    emit_json,
    open_client,
    run_command,
)
from heron.model.account import VenueBalance, VenuePosition

out = Console()


def positions_command(
    venue: VenueOpt, symbol: AnySymbolOpt = None,
    endpoint: EndpointOpt = None, testnet: TestnetOpt = False, paper: PaperOpt = False,
    key_file: KeyFileOpt = None, as_json: JsonOpt = False,
) -> None:
    """The account's open positions: size, entry price, unrealised PnL, liquidation."""
    opts = VenueOptions(venue, endpoint, testnet, paper, key_file, as_json)
    run_command(_positions(opts, symbol))


async def _positions(opts: VenueOptions, symbol: str | None) -> None:
    async with open_client(opts, [symbol] if symbol else [], discover="positions") as ov:
        rows = list(await ov.client.positions()) if ov.client.instruments else []
        held = [p for p in rows if p.quantity != 0]
        docs = [position_doc(ov, p) for p in held]
        if opts.as_json:
            emit_json({"venue": opts.venue, "positions": docs})
            return
        _table(f"{opts.venue}: {len(docs)} positions", docs,
               ("symbol", "side", "quantity", "entry_price", "unrealised_pnl",
                "liquidation_price"))


def position_doc(ov: OpenVenue, position: VenuePosition) -> dict[str, Any]:
    """A position as JSON: signed quantity and the venue's money as exact decimal text."""
    inst = ov.client.instruments[position.instrument_id]
    side = "long" if position.quantity > 0 else "short" if position.quantity < 0 else "flat"
    return {"symbol": ov.symbol(position.instrument_id), "instrument": position.instrument_id,
            "side": side, "quantity": dec(inst.quantity(position.quantity)),
            "entry_price": dec(position.entry_price),
            "unrealised_pnl": dec(position.unrealised_pnl),
            "liquidation_price": dec(position.liquidation_price), "ts_ns": position.ts}


def balances_command(
    venue: VenueOpt,
    endpoint: EndpointOpt = None, testnet: TestnetOpt = False, paper: PaperOpt = False,
    key_file: KeyFileOpt = None, as_json: JsonOpt = False,
) -> None:
    """The account's wallet: balance and free amount per currency."""
    opts = VenueOptions(venue, endpoint, testnet, paper, key_file, as_json)
    run_command(_balances(opts))


async def _balances(opts: VenueOptions) -> None:
    async with open_client(opts, []) as ov:
        docs = [balance_doc(b) for b in await ov.client.balances()]
        if opts.as_json:
            emit_json({"venue": opts.venue, "balances": docs})
            return
        _table(f"{opts.venue}: balances", docs, ("currency", "total", "free"))


def balance_doc(balance: VenueBalance) -> dict[str, Any]:
    """A currency's wallet balance (without unrealised PnL) and what is free for orders."""
    return {"currency": balance.currency, "total": dec(balance.total),
            "free": dec(balance.free)}


def _table(title: str, docs: list[dict[str, Any]], names: tuple[str, ...]) -> None:
    if not docs:
        out.print(f"{title}: none", highlight=False)
        return
    table = Table(title=title)
    for name in names:
        table.add_column(name.replace("_", " "),
                         justify="left" if name in ("symbol", "side", "currency") else "right")
    for doc in docs:
        table.add_row(*(str(doc[n]) if doc[n] is not None else "" for n in names))
    wide = out if out.is_terminal else Console(width=max(out.width, 160))
    wide.print(table)
