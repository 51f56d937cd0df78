"""TARGET: FedAvg whose server synthesises data from the old global model for client KD."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, Message
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from fedsim import wire
from fedsim.errors import ConfigError
from fedsim.interfaces import StrategyHooks
from fedsim.seeding import torch_seed_for
from strategies.baseline_options import checked_number
from strategies.target_synthesis import SynthesisSettings, batchnorm_layers, synthesize

if TYPE_CHECKING:
    from fedsim.experiment import Experiment
    from scenarios.types import ScenarioPlan


def boundary_rounds(plan: ScenarioPlan, min_gap: int = 1) -> list[int]:
    """Synthesis rounds: rounds in which some client's task changes, ``>= min_gap`` apart.

    A client's task changes when a slot other than its stream's first starts. With
    per-client orders, arrivals and absences such rounds come almost every round; a boundary
    closer than ``min_gap`` rounds to the previous synthesis round is skipped (the synthetic
    set of that synthesis stays in use). The server synthesises at each returned round from
    the global model it holds then (the model at the end of the previous round).
    """
    starts = sorted(
        {
            int(slot.start_round)
            for stream in plan.streams
            for slot in stream.slots[1:]
            if slot.start_round > 1
        }
    )
    kept: list[int] = []
    for r in starts:
        if not kept or r - kept[-1] >= min_gap:
            kept.append(r)
    return kept


def old_classes(plan: ScenarioPlan, server_round: int) -> list[int]:
    """Classes of every slot that started training before ``server_round`` (the old model's)."""
    seen = {
        int(c)
        for stream in plan.streams
        for slot in stream.slots
        if slot.start_round < server_round
        for c in plan.tasks[slot.task_id].classes
    }
    return sorted(seen)


class Target(FedAvg, StrategyHooks):
    """FedAvg + TARGET's exemplar-free distillation.

    Zhang et al., "TARGET: Federated Class-Continual Learning via Exemplar-Free
    Distillation", ICCV 2023. At each task boundary (:func:`boundary_rounds`) the server
    inverts the current global model (the *old* model) into a synthetic set with a generator
    (:mod:`strategies.target_synthesis`: ``L_CE + lambda_bn L_BN + lambda_adv L_adv``) and
    from then on sends the old model and the synthetic inputs with every train message; each
    client adds ``lambda_kd * KD(S(x_syn), T(x_syn); tau)`` over the old classes to its CE
    (:mod:`fedsim.client.plugins.target_kd`). Aggregation is FedAvg (McMahan et al. 2017).

    Parameters
    ----------
    kd_weight : float
        Client KD weight ``lambda_kd >= 0`` (official ``--kd 25``).
    temperature : float
        Client KD temperature ``tau > 0`` (official 2).
    bn_weight : float or None
        ``lambda_bn``; None: 10 (official CIFAR-100) if the model has BatchNorm layers, else
        0. A positive value with a model without BatchNorm is refused.
    oh_weight, adv_weight : float
        ``lambda_oh`` (official 0.5) and ``lambda_adv`` (official 1.0).
    min_gap : int
        Fewest rounds between two syntheses (:func:`boundary_rounds`), ``>= 1``.
    syn_rounds, syn_batch, g_steps, warmup, student_steps, nz, gen_width : int
        Synthesis size and cost (:class:`~strategies.target_synthesis.SynthesisSettings`).
    lr_g, lr_z, student_temperature : float
        Generator / noise learning rates and the server student's KD temperature.
    **kwargs
        Flower ``FedAvg`` arguments.
    """

    def __init__(
        self,
        *,
        kd_weight: float = 25.0,
        temperature: float = 2.0,
        bn_weight: float | None = None,
        oh_weight: float = 0.5,
        adv_weight: float = 1.0,
        min_gap: int = 2,
        syn_rounds: int = 4,
        syn_batch: int = 64,
        g_steps: int = 10,
        warmup: int = 1,
        student_steps: int = 10,
        nz: int = 64,
        gen_width: int = 16,
        lr_g: float = 0.002,
        lr_z: float = 0.01,
        student_temperature: float = 20.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kd_weight = checked_number("kd_weight", kd_weight)
        self.temperature = checked_number("temperature", temperature, strict=True)
        self.bn_weight = None if bn_weight is None else checked_number("bn_weight", bn_weight)
        ints = {
            "syn_rounds": (syn_rounds, 1), "syn_batch": (syn_batch, 2), "g_steps": (g_steps, 1),
            "warmup": (warmup, 0), "student_steps": (student_steps, 0), "nz": (nz, 1),
            "gen_width": (gen_width, 1), "min_gap": (min_gap, 1),
        }  # fmt: skip
        n = {k: int(checked_number(k, v, low=lo, integer=True)) for k, (v, lo) in ints.items()}
        self.settings = SynthesisSettings(
            rounds=n["syn_rounds"], batch=n["syn_batch"], steps=n["g_steps"],
            warmup=n["warmup"], student_steps=n["student_steps"], nz=n["nz"],
            width=n["gen_width"], lr_g=checked_number("lr_g", lr_g, strict=True),
            lr_z=checked_number("lr_z", lr_z, strict=True), bn=0.0,
            oh=checked_number("oh_weight", oh_weight), adv=checked_number("adv_weight", adv_weight),
            student_temperature=checked_number(
                "student_temperature", student_temperature, strict=True
            ),
        )  # fmt: skip
        self.min_gap = n["min_gap"]
        self._exp: Experiment | None = None
        self._boundaries: list[int] = []
        self.made_at = 0  # round of the last synthesis (0: none yet)
        self.classes: list[int] = []
        self.synthetic: np.ndarray | None = None
        self.teacher: dict[str, np.ndarray] = {}
        self._records: tuple[ArrayRecord, ArrayRecord] | None = None

    # -- fedsim hooks -------------------------------------------------------------------
    def check_experiment(self, exp: Experiment) -> None:
        """Refuse what TARGET cannot honour: multi-head plans, ``bn_weight`` without BN."""
        if exp.plan.task_incremental:
            raise ConfigError(
                "scenario",
                "strategy=target distils a class-incremental model over the old classes; "
                "task-incremental (multi-head) scenarios are not supported",
            )
        has_bn = bool(batchnorm_layers(exp.make_model()))
        if self.bn_weight is not None and self.bn_weight > 0 and not has_bn:
            raise ConfigError(
                "strategy.bn_weight",
                f"{self.bn_weight:g} needs BatchNorm layers (TARGET's L_BN), and the model "
                f"'{exp.cfg['model'].get('name', '?')}' has none; set strategy.bn_weight=0 "
                "or null (null: 10 with BatchNorm, 0 without)",
            )

    def initial_arrays(self, exp: Experiment, arrays: ArrayRecord) -> ArrayRecord:
        """Keep the experiment (plan, model factory, seed); the arrays are the model's."""
        self.check_experiment(exp)
        self._exp = exp
        self._boundaries = boundary_rounds(exp.plan, self.min_gap)
        bn = self.bn_weight
        if bn is None:
            bn = 10.0 if batchnorm_layers(exp.make_model()) else 0.0
        self.settings = dataclasses.replace(self.settings, bn=bn)
        return arrays

    # -- Flower hooks -------------------------------------------------------------------
    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """FedAvg's messages with the KD items and, once synthesised, teacher + synthetic set."""
        if self._exp is None:
            raise RuntimeError("Target.initial_arrays was not called before the first round")
        due = [r for r in self._boundaries if self.made_at < r <= server_round]
        if due:
            self._synthesise(server_round, arrays)
        config[wire.TARGET_KD] = self.kd_weight
        config[wire.TARGET_TEMPERATURE] = self.temperature
        if self.synthetic is not None:
            config[wire.TARGET_CLASSES] = list(self.classes)
        messages = list(super().configure_train(server_round, arrays, config, grid))
        if self.synthetic is not None:
            synthetic, teacher = self._shared_records()
            for msg in messages:  # the same records: a pack carries them once
                msg.content[wire.TARGET_SYNTHETIC] = synthetic
                msg.content[wire.TARGET_TEACHER] = teacher
        return messages

    def _shared_records(self) -> tuple[ArrayRecord, ArrayRecord]:
        if self._records is None:
            synthetic = ArrayRecord({"x": Array(self.synthetic)})
            teacher = ArrayRecord({k: Array(v) for k, v in self.teacher.items()})
            self._records = (synthetic, teacher)
        return self._records

    def _synthesise(self, server_round: int, arrays: ArrayRecord) -> None:
        """Invert the global model held at ``server_round`` (the end of the previous round)."""
        exp = self._exp
        classes = old_classes(exp.plan, server_round)
        state = arrays.to_torch_state_dict()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # like each ClientApp: tiny models, shared cores
        try:
            x = self._invert(server_round, state, classes)
        finally:
            torch.set_num_threads(threads)
        self.synthetic = x.numpy().astype(np.float32)
        self.teacher = {k: v.detach().cpu().numpy().copy() for k, v in state.items()}
        self.classes, self.made_at, self._records = classes, int(server_round), None

    def _invert(self, server_round: int, state: dict, classes: list[int]) -> torch.Tensor:
        exp = self._exp
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(torch_seed_for(exp.seed, "target-student", server_round))
            teacher, student = exp.make_model(), exp.make_model()
            teacher.load_state_dict(state)
            rng = torch.Generator().manual_seed(
                torch_seed_for(exp.seed, "target-synthesis", server_round)
            )
            return synthesize(teacher, student, classes, exp.data.input_shape, self.settings, rng)

    # -- checkpointing (fedsim.stateful.Stateful) ---------------------------------------
    def state_dict(self) -> dict:
        """The last synthesis: its round, old classes, synthetic inputs and old model."""
        if self.synthetic is None:
            return {"made_at": int(self.made_at)}
        return {
            "made_at": int(self.made_at),
            "classes": [int(c) for c in self.classes],
            "synthetic": self.synthetic.copy(),
            "teacher": {k: v.copy() for k, v in self.teacher.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.made_at = int(state.get("made_at", 0))
        self._records = None
        if "synthetic" in state:
            self.classes = [int(c) for c in state["classes"]]
            self.synthetic = np.asarray(state["synthetic"], dtype=np.float32)
            self.teacher = {k: np.asarray(v) for k, v in state["teacher"].items()}
