"""Venues: the simulated venue and (later) live adapters, behind one seam."""
