"""Reports of a finished run for people: one self-contained interactive HTML file."""

from heron.report.html import (
    TRADE_COLUMNS,
    Fills,
    InstrumentSeries,
    ReportData,
    build_figure,
    metrics_for_report,
    render_report,
    write_report,
)

__all__ = [
    "TRADE_COLUMNS",
    "Fills",
    "InstrumentSeries",
    "ReportData",
    "build_figure",
    "metrics_for_report",
    "render_report",
    "write_report",
]
