"""Differential privacy: the Gaussian mechanism's maths and the RDP accountant (core layer)."""
