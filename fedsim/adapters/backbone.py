"""Where the frozen backbone starts: trained centrally on a base task, a checkpoint, or random.

Every client and the server build the backbone from the same config, so it is never sent.
The result is cached per process (``base_task`` trains once per process, single-threaded,
so every process gets bit-identical weights).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedsim.client.training_loop import train_local
from fedsim.errors import ConfigError
from fedsim.experiment import Experiment
from fedsim.seeding import rng_for, seed_torch, torch_seed_for

INITS = ("base_task", "checkpoint", "random")
DEFAULTS: dict[str, Any] = {
    "init": "base_task",
    "base_task": 0,
    "epochs": 20,
    "lr": 0.1,
    "batch_size": 32,
    "path": None,
}
_CACHE: dict[str, dict[str, torch.Tensor]] = {}


def backbone_settings(cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``strategy.backbone`` with defaults filled in; errors name the key."""
    out = {**DEFAULTS, **dict(cfg or {})}
    unknown = sorted(set(out) - set(DEFAULTS))
    if unknown:
        raise ConfigError(
            f"strategy.backbone.{unknown[0]}", f"unknown key, allowed: {', '.join(DEFAULTS)}"
        )
    if out["init"] not in INITS:
        raise ConfigError(
            "strategy.backbone.init", f"unknown '{out['init']}', allowed: {', '.join(INITS)}"
        )
    if out["init"] == "checkpoint":
        if not out["path"]:
            raise ConfigError("strategy.backbone.path", "init=checkpoint needs a file path")
        if not Path(str(out["path"])).expanduser().is_file():
            raise ConfigError(
                "strategy.backbone.path", f"checkpoint file '{out['path']}' does not exist"
            )
    for key in ("epochs", "batch_size"):
        if int(out[key]) < 1:
            raise ConfigError(f"strategy.backbone.{key}", f"must be >= 1, got {out[key]}")
    if float(out["lr"]) <= 0:
        raise ConfigError("strategy.backbone.lr", f"must be > 0, got {out['lr']}")
    return out


def backbone_state(exp: Experiment, cfg: Mapping[str, Any] | None) -> dict[str, torch.Tensor]:
    """Return the backbone's state dict for ``exp`` (cached per process)."""
    settings = backbone_settings(cfg)
    key = json.dumps(
        [exp.seed, exp.cfg.get("data"), exp.cfg.get("scenario"), exp.cfg.get("model"), settings],
        sort_keys=True,
        default=str,
    )
    if key not in _CACHE:
        _CACHE[key] = _make(exp, settings)
    return {k: v.clone() for k, v in _CACHE[key].items()}


def _make(exp: Experiment, s: dict[str, Any]) -> dict[str, torch.Tensor]:
    model = exp.make_model()
    if s["init"] == "checkpoint":
        path = Path(str(s["path"])).expanduser()
        if not path.is_file():
            raise ConfigError("strategy.backbone.path", f"checkpoint file '{path}' does not exist")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        try:
            model.load_state_dict(state)
        except (RuntimeError, TypeError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise ConfigError(
                "strategy.backbone.path", f"'{path}' does not fit the model: {first}"
            ) from None
    elif s["init"] == "base_task":
        tasks = exp.plan.tasks
        k = int(s["base_task"])
        if not 0 <= k < len(tasks):
            raise ConfigError(
                "strategy.backbone.base_task",
                f"task {k} does not exist (tasks 0..{len(tasks) - 1})",
            )
        task = tasks[k]
        idx = np.flatnonzero(np.isin(exp.data.y_train, task.classes))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            seed_torch(torch_seed_for(exp.seed, "backbone-train"))
            train_local(
                model,
                exp.data.x_train[idx],
                exp.data.y_train[idx],
                epochs=int(s["epochs"]),
                batch_size=int(s["batch_size"]),
                lr=float(s["lr"]),
                rng=rng_for(exp.seed, "backbone-order"),
                transform=exp.transform_for(task.task_id),
            )
        finally:
            torch.set_num_threads(threads)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
