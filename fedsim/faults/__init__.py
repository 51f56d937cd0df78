"""Injected faults: the server's fault models, their client-side effects and their report."""
