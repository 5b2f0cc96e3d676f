"""Strategies that ship with heron."""
