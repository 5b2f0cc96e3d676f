"""Kernel: clock, event ordering, message bus, ids, journal, atomic files."""
