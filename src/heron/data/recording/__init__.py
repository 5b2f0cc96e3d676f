"""Recording live market data: events into the catalog, frames into raw capture files.

:class:`~heron.data.recording.recorder.Recorder` takes the events of
:func:`heron.data.feeds.live.run_feeds` and writes them to the Parquet catalog every hour;
:class:`~heron.data.recording.raw.RawCapture` keeps every frame as received, in the
hftbacktest format ``heron data import`` reads back. ``heron record`` runs both.
"""

from heron.data.recording.raw import RawCapture
from heron.data.recording.recorder import Recorder

__all__ = ["RawCapture", "Recorder"]
