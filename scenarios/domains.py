"""Named, deterministic input transforms for domain-incremental tasks (``Task.domain``).

A domain name is one or more ``kind:args`` parts joined by ``+`` (applied left to right):

* ``identity`` - no change;
* ``rot:DEG`` - rotate images ``(N, C, H, W)`` by ``DEG`` degrees counter-clockwise
  (exact ``torch.rot90`` for multiples of 90, bilinear ``grid_sample`` otherwise; Rotated
  MNIST, Lopez-Paz & Ranzato, "Gradient Episodic Memory", NeurIPS 2017);
* ``perm:SEED`` - a fixed permutation of the flattened input, drawn from ``SEED`` (Permuted
  MNIST, Goodfellow et al., 2013; the same permutation wherever it is applied);
* ``noise:STD`` - additive Gaussian noise of standard deviation ``STD``; the noise is a pure
  function of the name and the batch contents (a generator seeded from a CRC32 of both), so
  evaluations repeat exactly;
* ``shift:SCALE[:SEED]`` - add a fixed offset pattern ``SCALE * N(0, 1)`` drawn from ``SEED``
  (covariate shift for vector data, e.g. the synthetic Gaussian source);
* ``scale:F`` - multiply inputs by ``F`` (contrast change).

Example: ``"rot:90+noise:0.2"``.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch

Transform = Callable[[torch.Tensor], torch.Tensor]
KINDS = ("identity", "rot", "perm", "noise", "shift", "scale")


def _number(name: str, text: str, cast=float):
    try:
        value = cast(text)
    except ValueError:
        raise ValueError(f"domain '{name}': '{text}' is not a {cast.__name__}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"domain '{name}': '{text}' is not finite")
    return value


def parse_domain(name: str) -> list[tuple[str, tuple]]:
    """Split a domain name into ``(kind, args)`` parts; raise ValueError when malformed."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"domain name must be a non-empty string, got {name!r}")
    parts = []
    for part in name.split("+"):
        kind, _, rest = part.strip().partition(":")
        args = tuple(a for a in rest.split(":") if a) if rest else ()
        if kind not in KINDS:
            allowed = ", ".join(KINDS)
            raise ValueError(f"domain '{name}': unknown kind '{kind}', allowed: {allowed}")
        if kind == "identity":
            if args:
                raise ValueError(f"domain '{name}': identity takes no argument")
        elif kind == "perm":
            if len(args) != 1:
                raise ValueError(f"domain '{name}': write perm:SEED, e.g. perm:3")
            args = (_number(name, args[0], int),)
        elif kind == "shift":
            if len(args) not in (1, 2):
                raise ValueError(f"domain '{name}': write shift:SCALE or shift:SCALE:SEED")
            args = (_number(name, args[0]), _number(name, args[1], int) if len(args) > 1 else 0)
        else:
            if len(args) != 1:
                raise ValueError(f"domain '{name}': write {kind}:VALUE, e.g. {kind}:0.5")
            args = (_number(name, args[0]),)
            if kind == "noise" and args[0] < 0:
                raise ValueError(f"domain '{name}': noise std must be >= 0")
        parts.append((kind, args))
    return parts


def _rotate(x: torch.Tensor, degrees: float, name: str) -> torch.Tensor:
    if x.dim() != 4:
        raise ValueError(
            f"domain '{name}': rotation needs image batches (N, C, H, W), "
            f"got shape {tuple(x.shape)}"
        )
    if degrees % 90 == 0:
        return torch.rot90(x, k=int(degrees // 90) % 4, dims=(2, 3))
    theta = -math.radians(degrees)  # same direction as torch.rot90(k=1, dims=(2, 3))
    cos, sin = math.cos(theta), math.sin(theta)
    mat = torch.tensor([[cos, sin, 0.0], [-sin, cos, 0.0]], dtype=x.dtype, device=x.device)
    grid = torch.nn.functional.affine_grid(mat.expand(len(x), 2, 3), list(x.shape),
                                           align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


@lru_cache(maxsize=64)
def _permutation(seed: int, size: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng([int(seed), size]).permutation(size))


@lru_cache(maxsize=64)
def _offset(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.from_numpy(
        np.random.default_rng([int(seed), 7]).standard_normal(shape).astype(np.float32)
    )


def _noise(x: torch.Tensor, std: float, name: str) -> torch.Tensor:
    data = x.detach().contiguous().cpu().numpy().tobytes()
    gen = torch.Generator().manual_seed(zlib.crc32(data, zlib.crc32(name.encode())))
    return x + std * torch.randn(x.shape, generator=gen, dtype=x.dtype).to(x.device)


def _apply(x: torch.Tensor, kind: str, args: tuple, name: str) -> torch.Tensor:
    if kind == "rot":
        return _rotate(x, args[0], name)
    if kind == "perm":
        flat = x.reshape(len(x), -1)
        return flat[:, _permutation(args[0], flat.shape[1]).to(x.device)].reshape(x.shape)
    if kind == "noise":
        return _noise(x, args[0], name)
    if kind == "shift":
        return x + args[0] * _offset(args[1], tuple(x.shape[1:])).to(x.device, x.dtype)
    if kind == "scale":
        return x * args[0]
    return x


def domain_transform(name: str) -> Transform | None:
    """Return the transform of a domain name (None for ``identity``).

    Parameters
    ----------
    name : str
        A domain name such as ``"rot:90"``, ``"perm:3"``, ``"noise:0.3"`` or
        ``"rot:45+noise:0.1"``.

    Returns
    -------
    callable or None
        A function mapping a float batch tensor to a transformed one of the same shape.
    """
    parts = [p for p in parse_domain(name) if p[0] != "identity"]
    if not parts:
        return None

    def transform(x: torch.Tensor) -> torch.Tensor:
        for kind, args in parts:
            x = _apply(x, kind, args, name)
        return x

    transform.__name__ = f"domain[{name}]"
    return transform
