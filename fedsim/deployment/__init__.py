"""Flower deployment engine: certificates, a local multi-process federation, run submission."""
