"""The adapter settings of a strategy (``strategy.adapter`` in the YAML), checked up front."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fedsim.errors import ConfigError

KINDS = ("lora", "bottleneck", "full")


@dataclass(frozen=True)
class AdapterSpec:
    """What is inserted into the frozen backbone and trained.

    Parameters
    ----------
    kind : str
        ``"lora"`` (low-rank ``W + (alpha/r) B A`` on Linear/Conv2d layers, via ``peft``),
        ``"bottleneck"`` (Houlsby adapter after each target layer: down-project,
        ReLU, up-project, residual) or ``"full"`` (no adapter: every parameter is
        trained and sent - the full fine-tuning baseline from the same backbone).
    rank : int
        LoRA rank ``r``.
    alpha : float
        LoRA scaling numerator (``lora_alpha``; the update is scaled by ``alpha / rank``).
    bottleneck_dim : int
        Width of the bottleneck adapter's down-projection.
    targets : tuple[str, ...] | None
        Module names that get adapters; None (``auto``) means every Linear/Conv2d layer
        except the classification head.
    train_head : bool
        Whether the classification head is trained and sent with the adapters (needed
        when new classes arrive; small: ``embedding * classes`` parameters).
    """

    kind: str = "lora"
    rank: int = 4
    alpha: float = 8.0
    bottleneck_dim: int = 16
    targets: tuple[str, ...] | None = None
    train_head: bool = True

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> AdapterSpec:
        """Build and check a spec from ``strategy.adapter``; errors name the key."""
        cfg = dict(cfg or {})
        allowed = {"kind", "rank", "alpha", "bottleneck_dim", "targets", "train_head"}
        unknown = sorted(set(cfg) - allowed)
        if unknown:
            raise ConfigError(
                f"strategy.adapter.{unknown[0]}",
                f"unknown key, allowed: {', '.join(sorted(allowed))}",
            )
        kind = str(cfg.get("kind", "lora"))
        if kind not in KINDS:
            raise ConfigError(
                "strategy.adapter.kind", f"unknown '{kind}', allowed: {', '.join(KINDS)}"
            )
        for key in ("rank", "bottleneck_dim"):
            value = cfg.get(key, getattr(cls, key))
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(
                    f"strategy.adapter.{key}", f"must be an integer >= 1, got {value!r}"
                )
        alpha = cfg.get("alpha", cls.alpha)
        if not isinstance(alpha, int | float) or alpha <= 0:
            raise ConfigError("strategy.adapter.alpha", f"must be > 0, got {alpha!r}")
        targets = cfg.get("targets", "auto")
        if targets in (None, "auto"):
            targets = None
        elif (
            isinstance(targets, list | tuple)
            and targets
            and all(isinstance(t, str) for t in targets)
        ):
            targets = tuple(targets)
        else:
            raise ConfigError(
                "strategy.adapter.targets",
                f"must be 'auto' or a list of module names, got {targets!r}",
            )
        return cls(
            kind=kind,
            rank=int(cfg.get("rank", cls.rank)),
            alpha=float(alpha),
            bottleneck_dim=int(cfg.get("bottleneck_dim", cls.bottleneck_dim)),
            targets=targets,
            train_head=bool(cfg.get("train_head", cls.train_head)),
        )
