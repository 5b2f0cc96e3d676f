"""Tests of heron.api: the HTTP API, its streams and its read models."""
