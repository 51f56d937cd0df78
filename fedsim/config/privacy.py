"""Checks of the ``privacy`` group (docs/privacy.md): values, dependencies, combinations.

Every refusal is one line naming the key (and, for a combination, both options). What each
mode can run with:

* ``central`` (server-side clipping + noise) and ``local`` (clip + noise on the client's
  update) need replies that are an update of the received arrays: weights strategies;
* ``dp_sgd`` needs the weights learner without the FCL baselines' data-dependent loss terms
  (distillation on the batch, replayed examples, a Fisher estimated from the data), a model
  without BatchNorm (checked when the model is built) and Opacus for the accountant;
* ``prototypes`` (noise on class-mean sums) needs a prototype strategy;
* ``secagg`` (SecAgg+) runs on the deployment engine only: :mod:`fedsim.config.secagg`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fedsim.config.compatibility import strategy_traits
from fedsim.config.secagg import check_secagg
from fedsim.config.values import boolean, number, one_of
from fedsim.errors import ConfigError

MODES = ("none", "central", "local", "dp_sgd", "prototypes")
#: FCL baselines whose client loss has data-dependent terms beside the cross-entropy
DATA_TERMS = ("strategies.fedlwf.FedLwF", "strategies.fedewc.FedEWC", "strategies.replay.FedReplay")
#: (key, low, strict, high, optional) per mode
NUMBERS: dict[str, tuple[tuple[str, float | None, bool, float | None, bool], ...]] = {
    "central": (
        ("noise_multiplier", 0, False, None, False),
        ("clip_norm", 0, True, None, False),
        ("delta", 0, True, 1, False),
        ("target_quantile", 0, False, 1, True),
        ("clip_lr", 0, True, None, True),
        ("count_std", 0, True, None, True),
    ),
    "local": (
        ("clip_norm", 0, True, None, False),
        ("sensitivity", 0, True, None, False),
        ("epsilon", 0, True, None, False),
        ("delta", 0, True, 1, False),
    ),
    "dp_sgd": (
        ("noise_multiplier", 0, True, None, False),
        ("clip_norm", 0, True, None, False),
        ("delta", 0, True, 1, False),
    ),
    "prototypes": (
        ("noise_multiplier", 0, False, None, False),
        ("clip_norm", 0, True, None, False),
        ("delta", 0, True, 1, False),
    ),
}


def privacy_of(cfg: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``privacy`` group (absent: mode none)."""
    return cfg.get("privacy") or {"name": "none", "mode": "none"}


def check_privacy(
    cfg: Mapping[str, Any], *, opacus: bool | None = None, engine: str = "simulation"
) -> None:
    """Refuse a bad ``privacy`` group in one line naming the key.

    ``engine`` (``simulation`` or ``deployment``) decides whether ``privacy.secagg`` can run.
    """
    spec = privacy_of(cfg)
    mode = spec.get("mode", "none")
    one_of(mode, "privacy.mode", MODES)
    if "secagg" in spec:
        check_secagg(cfg, spec, engine)
    for key, low, strict, high, optional in NUMBERS.get(mode, ()):
        number({"privacy": spec}, f"privacy.{key}", low=low, strict=strict, high=high,
               optional=optional)  # fmt: skip
    if mode == "local" and float(spec["epsilon"]) >= 1:
        raise ConfigError(
            "privacy.epsilon",
            f"must be < 1 (the classic Gaussian mechanism's bound), got {spec['epsilon']}",
        )
    for key in ("uniform_weights", "amplification"):
        if mode == "central" and key in spec:
            boolean({"privacy": spec}, f"privacy.{key}")
    _check_combination(cfg, spec, mode)
    if mode == "dp_sgd":
        if opacus is None:
            from fedsim.privacy.accountant import opacus_installed

            opacus = opacus_installed()
        if not opacus:
            raise ConfigError(
                "privacy",
                "privacy=dp_sgd needs Opacus for its accountant: pip install 'fedsim[privacy]'",
            )


def _check_combination(cfg: Mapping[str, Any], spec: Mapping[str, Any], mode: str) -> None:
    strategy = cfg["strategy"]
    traits = strategy_traits(strategy)
    both = f"privacy={spec.get('name', mode)} cannot run with strategy={strategy.get('name', '?')}"
    if mode in ("central", "local", "dp_sgd") and (
        traits.learner != "weights" or traits.reply != "update"
    ):
        raise ConfigError(
            "privacy",
            f"{both}: it privatises an update of the received model weights, and this "
            f"strategy's clients send {traits.reply} ({traits.learner} learner)",
        )
    if mode == "dp_sgd" and str(strategy.get("_target_", "")) in DATA_TERMS:
        raise ConfigError(
            "privacy",
            f"{both}: its client loss has data-dependent terms beside the cross-entropy "
            "(distillation, replay, Fisher), whose gradients DP-SGD would not clip",
        )
    if mode == "prototypes" and traits.learner != "prototypes":
        raise ConfigError(
            "privacy", f"{both}: prototype noise needs a prototype strategy (fedproto, fedrecon)"
        )
