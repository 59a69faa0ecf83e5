"""Connectors to external systems: one module per system behind one protocol."""
