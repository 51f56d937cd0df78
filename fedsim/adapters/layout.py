"""What an adapter strategy trains and sends, read from ``strategy`` in the config.

One :class:`AdapterLayout` is built from the same YAML by the server strategy and by every
client learner, so both agree on slots, groups and keys without extra wire fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from torch import nn

from fedsim.adapters.backbone import backbone_settings
from fedsim.adapters.bank import SHARED, Groups, bank_entry, task_group
from fedsim.adapters.model import build_adapted, load_slot, slot_state
from fedsim.adapters.scoring import ROUTINGS
from fedsim.adapters.spec import AdapterSpec
from fedsim.errors import ConfigError
from fedsim.experiment import Experiment

TASK_SLOT = "task"
TASK_ADAPTERS = ("none", "federated", "personal")


@dataclass(frozen=True)
class AdapterLayout:
    """Adapter kind, backbone source and which groups exist.

    Parameters
    ----------
    spec : AdapterSpec
        Adapter kind and size (``strategy.adapter``).
    backbone : dict
        Backbone source (``strategy.backbone``).
    shared : bool
        A ``shared`` adapter averaged over every client.
    task_adapters : str
        ``"none"``, ``"federated"`` (a bank entry per task, averaged among the clients of
        that task) or ``"personal"`` (per-task adapters kept in the client's state, never sent).
    routing : str
        Bank entry used at test time: ``"task_id"`` (the task's own) or ``"entropy"``.
    """

    spec: AdapterSpec
    backbone: dict
    shared: bool = True
    task_adapters: str = "none"
    routing: str = "entropy"

    @classmethod
    def from_config(cls, strategy_cfg: Mapping[str, Any]) -> AdapterLayout:
        """Read and check the layout from a strategy config mapping."""
        spec = AdapterSpec.from_config(strategy_cfg.get("adapter"))
        shared = bool(strategy_cfg.get("shared", True))
        task_adapters = str(strategy_cfg.get("task_adapters", "none"))
        routing = str(strategy_cfg.get("routing", "entropy"))
        if task_adapters not in TASK_ADAPTERS:
            raise ConfigError(
                "strategy.task_adapters",
                f"unknown '{task_adapters}', allowed: {', '.join(TASK_ADAPTERS)}",
            )
        if routing not in ROUTINGS:
            raise ConfigError(
                "strategy.routing", f"unknown '{routing}', allowed: {', '.join(ROUTINGS)}"
            )
        if not shared and task_adapters == "none":
            raise ConfigError("strategy.shared", "no shared and no task adapters: nothing to train")
        if spec.kind == "full" and task_adapters != "none":
            raise ConfigError("strategy.adapter.kind", "'full' works only without task adapters")
        return cls(
            spec=spec,
            backbone=backbone_settings(strategy_cfg.get("backbone")),
            shared=shared,
            task_adapters=task_adapters,
            routing=routing,
        )

    def to_json(self) -> str:
        """Return the layout as the JSON the strategies put in every message's config."""
        spec = asdict(self.spec)
        spec["targets"] = list(spec["targets"]) if spec["targets"] else "auto"
        return json.dumps(
            {
                "adapter": spec,
                "backbone": self.backbone,
                "shared": self.shared,
                "task_adapters": self.task_adapters,
                "routing": self.routing,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> AdapterLayout:
        """Rebuild a layout from :meth:`to_json` (on the client)."""
        return cls.from_config(json.loads(text))

    # -- slots -----------------------------------------------------------------------------
    @property
    def slots(self) -> tuple[str, ...]:
        """Adapter slots of the client model."""
        return ((SHARED,) if self.shared else ()) + (
            (TASK_SLOT,) if self.task_adapters != "none" else ()
        )

    @property
    def head_slot(self) -> str:
        """The slot that owns the trained head (task-specific heads when there are task slots)."""
        return TASK_SLOT if self.task_adapters != "none" else SHARED

    def make_model(self, exp: Experiment, init_tag: int = 0) -> nn.Module:
        """Return the frozen backbone with this layout's adapter slots."""
        return build_adapted(exp, self.spec, self.backbone, self.slots, self.head_slot, init_tag)

    def export(self, model: nn.Module, task_id: int | None) -> Groups:
        """Return the model's adapter tensors as groups (task slot filed under ``task_id``)."""
        out: Groups = {}
        if self.shared:
            out[SHARED] = slot_state(model, self.spec, SHARED, self.head_slot)
        if self.task_adapters != "none" and task_id is not None:
            out[task_group(task_id)] = slot_state(model, self.spec, TASK_SLOT, self.head_slot)
        return out

    def load(self, model: nn.Module, groups: Mapping[str, Mapping[str, np.ndarray]], task_id=None):
        """Load the shared group and (if ``task_id`` is given) that task's entry into the model."""
        if self.shared:
            load_slot(model, self.spec, SHARED, self.head_slot, groups[SHARED])
        if self.task_adapters != "none" and task_id is not None:
            load_slot(model, self.spec, TASK_SLOT, self.head_slot, bank_entry(groups, task_id))
        return model

    def initial_groups(self, exp: Experiment) -> Groups:
        """Initial payload: the shared group and one bank entry per global task (if federated)."""
        groups: Groups = {}
        if self.shared:
            groups.update(self.export(self.make_model(exp), None))
        if self.task_adapters == "federated":
            for task in exp.plan.tasks:
                model = self.make_model(exp, init_tag=1 + task.task_id)
                groups[task_group(task.task_id)] = slot_state(
                    model, self.spec, TASK_SLOT, self.head_slot
                )
        return groups
