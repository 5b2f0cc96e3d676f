"""Test helpers shipped with heron: a loopback HTTP server that serves recorded venue
responses, so that venue clients can be exercised offline, end to end."""

from heron.testing.rest_server import Reply, Request, RestServer

__all__ = ["Reply", "Request", "RestServer"]
