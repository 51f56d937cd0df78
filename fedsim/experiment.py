"""An experiment's immutable pieces - data, task plan, model factory - built from a config dict.

Both the ServerApp and the ClientApp build the same :class:`Experiment` from the same resolved
config; it is cached per process (immutable data only, DESIGN.md rule 7).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from fedsim.data.base import ArrayDataset
from fedsim.errors import ConfigError
from fedsim.resolver import build
from fedsim.seeding import seed_torch, torch_seed_for
from scenarios.types import ScenarioPlan


@dataclass(frozen=True)
class Experiment:
    """Data, plan and model factory of one configuration."""

    cfg: Mapping[str, Any]
    data: ArrayDataset
    plan: ScenarioPlan
    _models: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def seed(self) -> int:
        """Run seed."""
        return int(self.cfg["seed"])

    @property
    def num_rounds(self) -> int:
        """Rounds to run: ``num_rounds`` from config, else the plan's length."""
        n = self.cfg.get("num_rounds")
        return int(n) if n else self.plan.num_rounds

    def make_model(self, model_spec: Mapping[str, Any] | None = None) -> nn.Module:
        """Return a freshly initialised model (seeded by the run seed).

        The first call per model spec builds it (seed torch + resolver build, ~1.6 ms
        for the digits MLP); later calls return a deep copy of that pristine template (~0.2 ms)
        and restore torch's global RNG to the state a fresh build leaves, so every call behaves
        exactly like a fresh build.
        """
        spec = model_spec or self.cfg["model"]
        key = json.dumps(spec, sort_keys=True, default=str)
        cached = self._models.get(key)
        if cached is None:
            seed_torch(torch_seed_for(self.seed, "model-init"))
            model = build(
                spec,
                "model",
                input_shape=list(self.data.input_shape),
                num_classes=self.data.num_classes,
            )
            cached = (copy.deepcopy(model), torch.get_rng_state())
            self._models[key] = cached
            return model
        template, rng_state = cached
        torch.set_rng_state(rng_state)
        return copy.deepcopy(template)

    def task_accuracies(self, model: nn.Module) -> np.ndarray:
        """Accuracy of ``model`` (any classifier module) on each global task's test split.

        Scored on the driver's device (:func:`fedsim.device.driver_device`: a visible GPU
        unless ``train.device=cpu``); the model is moved back to where it was afterwards.
        """
        from fedsim.client.training_loop import evaluate
        from fedsim.device import driver_device, model_device

        home, device = model_device(model), driver_device(self.cfg)
        model.to(device)
        accs = []
        for task in self.plan.tasks:
            _, acc, _ = evaluate(
                model,
                self.data.x_test[task.test_idx],
                self.data.y_test[task.test_idx],
                class_mask=task.classes if self.plan.task_incremental else None,
                transform=self.transform_for(task.task_id),
            )
            accs.append(acc)
        model.to(home)
        return np.asarray(accs, dtype=float)

    def transform_for(self, task_id: int) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """Return the input transform of a task's domain (None for the identity)."""
        domain = self.plan.tasks[task_id].domain
        if domain == "identity":
            return None
        from scenarios.domains import domain_transform

        return domain_transform(domain)


#: data and plan per (seed, data, scenario, model, curriculum): what building them reads
_BUILT: dict[str, tuple[ArrayDataset, ScenarioPlan]] = {}
#: experiments per whole resolved config (``exp.cfg`` is the caller's, never another run's),
#: newest last; bounded because a warm process serves many runs (a multirun, notebook calls)
_CACHE: dict[str, Experiment] = {}
_CACHE_SIZE = 8


def _check_domains(plan: ScenarioPlan, data: ArrayDataset) -> None:
    """Apply every task's input transform to one test example: fail before the run, not in it."""
    names = list(dict.fromkeys(t.domain for t in plan.tasks if t.domain != "identity"))
    if not names:
        return
    from scenarios.domains import domain_transform

    probe = torch.from_numpy(data.x_test[:1])
    for name in names:
        try:
            domain_transform(name)(probe)
        except ValueError as exc:
            raise ConfigError("scenario", str(exc)) from None


def _key(cfg: Mapping[str, Any]) -> str:
    parts = {k: cfg.get(k) for k in ("seed", "data", "scenario", "model", "curriculum")}
    return json.dumps(parts, sort_keys=True, default=str)


def get_experiment(cfg: Mapping[str, Any]) -> Experiment:
    """Build (or fetch from the per-process cache) the experiment of a resolved config.

    Data and plan are shared by every config with the same seed, data, scenario, model and
    curriculum; the :class:`Experiment` itself is keyed by the whole config, so ``exp.cfg`` is
    always the config asked for (two runs in one process - a warm multirun, two API calls -
    that differ only in ``train.lr`` or the strategy never see each other's settings).
    """
    full = json.dumps(cfg, sort_keys=True, default=str)
    exp = _CACHE.pop(full, None)
    if exp is None:
        key = _key(cfg)
        if key not in _BUILT:
            _BUILT[key] = _build(cfg)
        data, plan = _BUILT[key]
        exp = Experiment(cfg=cfg, data=data, plan=plan)
    _CACHE[full] = exp  # newest last
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    return exp


def _build(cfg: Mapping[str, Any]) -> tuple[ArrayDataset, ScenarioPlan]:
    data = build(cfg["data"], "data").load()
    plan = build(
        cfg["scenario"],
        "scenario",
        train_labels=data.y_train,
        test_labels=data.y_test,
        seed=int(cfg["seed"]),
    )
    curriculum = build(cfg["curriculum"], "curriculum") if cfg.get("curriculum") else None
    if curriculum is not None:
        plan = curriculum.apply(plan, seed=int(cfg["seed"]), data=data)
    _check_domains(plan, data)
    return data, plan
