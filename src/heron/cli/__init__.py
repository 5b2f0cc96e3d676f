"""The heron command line."""
