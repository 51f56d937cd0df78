"""Curricula: the order (and pace) in which each client meets its tasks and its data."""
