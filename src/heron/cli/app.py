"""The ``heron`` command.

Exit codes (documented in the README): 0 success; 1 a run failed for another reason;
2 bad input (missing or malformed file, unknown strategy or parameter, impossible
value), with a one-line message naming the problem and the fix; 3 an internal error
(a bug: please report it). Errors never print a traceback unless ``HERON_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from heron.cli.account import balances_command, positions_command
from heron.cli.audit import audit_app
from heron.cli.backtest import backtest_command
from heron.cli.data import data_app
from heron.cli.emulator import emulator_command
from heron.cli.feed import feed_command
from heron.cli.init import init_command
from heron.cli.journal import journal_app
from heron.cli.kill import kill_command
from heron.cli.live import live_command
from heron.cli.montecarlo import montecarlo_command
from heron.cli.optimize import optimize_command
from heron.cli.order import order_app
from heron.cli.paper import paper_command
from heron.cli.reconcile import reconcile_command
from heron.cli.record import record_command
from heron.cli.serve import serve_command
from heron.cli.status import status_command
from heron.cli.strategies import strategies_app
from heron.cli.token import token_app
from heron.cli.trades import trades_command
from heron.cli.walkforward import walkforward_command
from heron.errors import EXIT_INTERNAL, HeronError
from heron.venues.credentials import install_redaction, scrub

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="heron: backtest, paper and live trading on one engine.")
err = Console(stderr=True)


@app.callback()
def _root() -> None:
    """heron: backtest, paper and live trading on one engine."""


app.command("backtest")(backtest_command)
app.command("feed")(feed_command)
app.command("record")(record_command)
app.command("paper")(paper_command)
app.command("live")(live_command)
app.command("kill")(kill_command)
app.command("reconcile")(reconcile_command)
app.command("emulator")(emulator_command)
app.command("trades")(trades_command)
app.add_typer(journal_app, name="journal")
app.add_typer(audit_app, name="audit")
app.add_typer(data_app, name="data")
app.add_typer(order_app, name="order")
app.command("positions")(positions_command)
app.command("balances")(balances_command)
app.command("serve")(serve_command)
app.command("status")(status_command)
app.add_typer(token_app, name="token")
app.add_typer(strategies_app, name="strategies")
app.command("init")(init_command)
app.command("optimize")(optimize_command)
app.command("walkforward")(walkforward_command)
app.command("montecarlo")(montecarlo_command)


@app.command("version")
def version(short: Annotated[bool, typer.Option(help="print the number only")] = False) -> None:
    """Print heron's version."""
    from heron import __version__

    print(__version__ if short else f"heron {__version__}")


def main() -> None:
    """Entry point: heron errors become one line and an exit code, never a traceback.

    Usage errors (unknown option, missing value) are typer's own: usage and exit 2.
    Secrets (API keys in the environment or loaded from a key file) are masked in every
    log record and in the error line, which may quote a URL or a venue's reply.
    """
    install_redaction()
    try:
        app()
    except HeronError as exc:
        if os.environ.get("HERON_DEBUG"):
            raise
        # escaped: messages name TOML tables ("[limits] ..."), which are not markup
        err.print(f"[bold red]error:[/] {escape(scrub(str(exc)))}", highlight=False,
                  soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # a bug: say so in one line, keep the traceback for debugging
        if os.environ.get("HERON_DEBUG"):
            raise
        err.print(f"[bold red]internal error:[/] {type(exc).__name__}: {scrub(str(exc))} "
                  "(a bug in heron; rerun with HERON_DEBUG=1 and report the traceback)",
                  highlight=False, soft_wrap=True)
        sys.exit(EXIT_INTERNAL)
