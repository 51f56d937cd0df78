"""Continual-learning metrics (pure functions) and the accuracy book that feeds them."""
