"""Venue protocols for :class:`heron.testing.venue_server.VenueServer`, one module each."""
