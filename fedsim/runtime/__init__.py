"""Runtimes: Flower's simulation engine on Ray (local or an existing cluster)."""
