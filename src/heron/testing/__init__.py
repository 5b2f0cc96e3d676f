"""Test helpers shipped with heron: a loopback HTTP server that serves recorded venue
responses, so that venue clients can be exercised offline, end to end.

Beside it: :mod:`heron.testing.venue_server` (a venue's WebSocket and REST protocol,
replaying recorded messages; profiles in ``heron.testing.venues``) and
:mod:`heron.testing.feed_run` (a live feed session run against it until what a test
expects has arrived). They load aiohttp and the feed engine, so they are not imported
here."""

from heron.testing.rest_server import Reply, Request, RestServer

__all__ = ["Reply", "Request", "RestServer"]
