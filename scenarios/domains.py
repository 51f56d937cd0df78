"""Domain input transforms by name (minimal: rotations; the full module comes with issue 3).

Integration note: issue 3 owns this module; its version should keep dispatching ``rot<deg>``
names to :func:`scenarios.rotated_digits.rotation`.
"""

from __future__ import annotations


def domain_transform(name: str):
    """Return the batch transform of domain ``name``."""
    from scenarios.rotated_digits import PREFIX, rotation

    if name.startswith(PREFIX):
        return rotation(name)
    raise ValueError(f"unknown domain '{name}'")
