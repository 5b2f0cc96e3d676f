"""Runs: the composition of clock, venue, portfolio and strategies for each mode."""
