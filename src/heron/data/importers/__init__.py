"""Importers of market-data files into the catalog."""
