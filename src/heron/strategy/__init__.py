"""Strategies: the seam, parameters, indicator views, the built-in library."""
