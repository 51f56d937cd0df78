"""Typed configuration: dataclass schemas (Hydra ConfigStore) and validation."""
