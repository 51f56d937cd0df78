"""The ``curriculum`` config group's object: task order before the run, data pacing inside it.

One object holds both levels of Vahidian et al., "When Do Curricula Work in Federated
Learning?" (ICCV 2023), transposed to task streams:

* ``tasks``: a :class:`~scenarios.curricula.task_order.TaskOrder` applied to the plan before
  the run (``apply``);
* ``data``: the data-level curriculum run by every client inside its local training
  (``fedsim/client/plugins/data_curriculum.py``), described here as flat config items
  (``client_config``) that travel in every train ConfigRecord.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scenarios.curricula.pacing import check_cycle, check_pacing
from scenarios.curricula.task_order import TaskOrder
from scenarios.types import ScenarioPlan

DATA_ORDERINGS = ("none", "curriculum", "anti", "random")
DATA_SCORINGS = ("global", "local", "expert")
CYCLICAL = "cyclical"

# Flat ConfigRecord keys (mirrored by fedsim.wire.CURRICULUM_*; scenarios/ stays free of fedsim).
_KEYS = {
    "ordering": "curriculum.order",
    "scoring": "curriculum.scoring",
    "pacing": "curriculum.pacing",
    "a": "curriculum.pacing-a",
    "b": "curriculum.pacing-b",
    "min_pool": "curriculum.min-pool",
    "cycle": "curriculum.cycle",
    "expert_epochs": "curriculum.expert-epochs",
    "task_order": "curriculum.task-order",
}


def _data_spec(data: Mapping[str, Any] | None) -> dict[str, Any]:
    spec = {
        "ordering": "none",
        "scoring": "global",
        "pacing": "linear",
        "a": 0.8,
        "b": 0.2,
        "min_pool": 32,
        "cycle_start": 0.25,
        "cycle_end": 1.0,
        "cycle_multiplier": 0.5,
        "expert_epochs": 5,
    }
    unknown = set(data or {}) - set(spec)
    if unknown:
        raise ValueError(f"data.{sorted(unknown)[0]}: unknown key; allowed: {', '.join(spec)}")
    spec.update(data or {})
    if spec["ordering"] not in DATA_ORDERINGS:
        raise ValueError(
            f"data.ordering '{spec['ordering']}' unknown; allowed: {', '.join(DATA_ORDERINGS)}"
        )
    if spec["scoring"] not in DATA_SCORINGS:
        raise ValueError(
            f"data.scoring '{spec['scoring']}' unknown; allowed: {', '.join(DATA_SCORINGS)}"
        )
    try:
        if spec["pacing"] == CYCLICAL:
            check_cycle(
                float(spec["cycle_start"]),
                float(spec["cycle_end"]),
                float(spec["cycle_multiplier"]),
            )
        else:
            check_pacing(str(spec["pacing"]), spec["a"], spec["b"])
    except ValueError as exc:
        raise ValueError(f"data.{exc}") from None
    if int(spec["min_pool"]) < 1:
        raise ValueError(f"data.min_pool must be >= 1, got {spec['min_pool']}")
    if int(spec["expert_epochs"]) < 1:
        raise ValueError(f"data.expert_epochs must be >= 1, got {spec['expert_epochs']}")
    return spec


class Curriculum:
    """Task ordering (static scores) plus the clients' data-level curriculum.

    Parameters
    ----------
    tasks : mapping, optional
        ``ordering`` (scenario | curriculum | anti | random) and ``score``
        (label_entropy | class_count | size, static; global_loss: scored at run time by each
        client with the current global model) of :class:`TaskOrder`.
    data : mapping, optional
        ``ordering`` (none | curriculum | anti | random), ``scoring`` (global = the received
        global model, "G-Loss"; local = the client's previous local model; expert = a model
        trained from scratch on the client's task data for ``expert_epochs``), ``pacing``
        (linear | quad | sqrt | step | exp | log | cyclical), ``a``, ``b`` (official pacing
        parameters), ``min_pool`` (the official hard minimum of 32 samples), and
        ``cycle_start``, ``cycle_end``, ``cycle_multiplier`` for ``pacing: cyclical``.
    """

    def __init__(
        self,
        tasks: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        tasks = dict(tasks or {})
        unknown = set(tasks) - {"ordering", "score"}
        if unknown:
            raise ValueError(f"tasks.{sorted(unknown)[0]}: unknown key; allowed: ordering, score")
        self.tasks = TaskOrder(**tasks)
        self.data = _data_spec(data)

    def apply(self, plan: ScenarioPlan, *, seed: int, data=None) -> ScenarioPlan:
        """Reorder every client's tasks (see :class:`TaskOrder`)."""
        return self.tasks.apply(plan, seed=seed, data=data)

    def client_config(self) -> dict[str, Any]:
        """Flat, typed items for every train ConfigRecord (empty when data ordering is none)."""
        d = self.data
        items = {_KEYS["task_order"]: self.tasks.ordering} if self.tasks.runtime else {}
        if d["ordering"] == "none":
            return items
        return {
            **items,
            _KEYS["ordering"]: str(d["ordering"]),
            _KEYS["scoring"]: str(d["scoring"]),
            _KEYS["pacing"]: str(d["pacing"]),
            _KEYS["a"]: float(d["a"]),
            _KEYS["b"]: float(d["b"]),
            _KEYS["min_pool"]: int(d["min_pool"]),
            _KEYS["cycle"]: [
                float(d["cycle_start"]),
                float(d["cycle_end"]),
                float(d["cycle_multiplier"]),
            ],
            _KEYS["expert_epochs"]: int(d["expert_epochs"]),
        }
