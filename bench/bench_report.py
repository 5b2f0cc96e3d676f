"""Table rendering for bench/bench_backtest.py: a rich (or plain) table and Markdown."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from bench_support import Row, agreement, baseline

HEADERS = (
    "engine",
    "version",
    "bars",
    "seconds",
    "bars/s",
    "peak MiB",
    "trades",
    "final equity",
    "agrees",
    "heron ×",
)


def _seconds(value: float) -> str:
    return f"{value:#.4g}" if value < 1000 else f"{value:,.0f}"


def _equity(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.000001')):,}"


def _speedup(row: Row, heron: Row | None) -> str:
    mine = row.bars_per_second
    if heron is None or mine is None or heron.bars_per_second is None:
        return ""
    return f"{heron.bars_per_second / mine:#.3g}×"


def cells(row: Row, base: Row | None, heron: Row | None) -> list[str]:
    """One table row as strings; a skipped or failed engine shows its note instead."""
    seconds, equity = row.seconds, row.final_equity
    if seconds is None or equity is None:
        return [row.engine.label, row.version, f"{row.bars:,}", *[""] * 7, row.note]
    bps = row.bars / seconds if seconds else 0.0
    return [
        row.engine.label,
        row.version,
        f"{row.bars:,}",
        _seconds(seconds),
        f"{bps:,.0f}",
        f"{row.peak_mib:,.0f}" if row.peak_mib is not None else "",
        f"{row.trades:,}" if row.trades is not None else "",
        _equity(equity),
        agreement(row, base),
        _speedup(row, heron),
        row.note,
    ]


def _table(rows: list[Row], base: Row | None) -> tuple[list[str], list[list[str]]]:
    heron = next((row for row in rows if row.engine.name == "heron" and row.ok), None)
    body = [cells(row, base, heron) for row in rows]
    headers = [*HEADERS, "note"]
    if not any(line[-1] for line in body):
        headers.pop()
        body = [line[:-1] for line in body]
    return headers, body


def _caption(base: Row | None) -> str:
    if base is None:
        return "no baseline ran: agreement not checked"
    return (
        f"agrees = same trades and final equity within 1e-6 relative of "
        f"{base.engine.label}; heron × = heron's bars/s over the engine's"
    )


def print_table(rows: list[Row], base: Row | None) -> None:
    """Print the table to stdout, with rich when it is installed."""
    headers, body = _table(rows, base)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(_plain(headers, body))
        print(_caption(base))
        return
    table = Table(title="SMA 10/50 cross backtest", caption=_caption(base))
    for index, header in enumerate(headers):
        table.add_column(header, justify="left" if index < 2 or index >= 8 else "right")
    for line in body:
        table.add_row(*line)
    console = Console()
    if not console.is_terminal:  # piped or redirected: do not squeeze into 80 columns
        console = Console(width=200)
    console.print(table)


def _plain(headers: list[str], body: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *body, strict=True)]
    lines = [headers, ["-" * width for width in widths], *body]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines
    )


def markdown_report(rows: list[Row], base: Row | None, command: str, facts: dict[str, str]) -> str:
    """The table as Markdown, preceded by the command line and machine facts."""
    headers, body = _table(rows, base)
    align = ["---" if i < 2 or i >= 8 else "---:" for i in range(len(headers))]
    lines = [
        f"Command: `{command}`",
        "",
        f"Machine: {facts['cores']} cores ({facts['cpu']}), {facts['memory']} RAM, "
        f"{facts['os']}, Python {facts['python']}; run {facts['date']}.",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "|".join(align) + "|",
        *("| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in body),
        "",
        _caption(base) + ".",
    ]
    return "\n".join(lines) + "\n"


def write_report(
    rows: list[Row], command: str, facts: dict[str, str], markdown_path: Path | None
) -> None:
    """Print the table (rich when available) and the Markdown report."""
    base = baseline(rows)
    print_table(rows, base)
    text = markdown_report(rows, base, command, facts)
    if markdown_path is None:
        print()
        print(text)
    else:
        markdown_path.write_text(text, encoding="utf-8")
        print(f"\nMarkdown report written to {markdown_path}")
