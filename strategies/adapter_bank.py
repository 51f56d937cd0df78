"""A per-task adapter bank, optionally with a shared adapter (MTLoRA-style split)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from fedsim import wire
from fedsim.adapters.bank import (
    SHARED,
    join_groups,
    select_groups,
    split_groups,
    task_group,
    task_of,
    weighted_group_means,
)
from fedsim.adapters.checks import check_adapter_reply
from fedsim.adapters.evaluation import initial_entry, task_accuracies
from fedsim.adapters.layout import AdapterLayout
from fedsim.adapters.routing import task_routed_messages
from fedsim.adapters.stats import AdapterStats
from fedsim.device import driver_device
from fedsim.errors import ConfigError
from fedsim.experiment import Experiment
from fedsim.interfaces import StrategyHooks


class AdapterBank(FedAvg, StrategyHooks):
    """One adapter per task, averaged only among the clients that trained that task.

    The continual-learning use of adapters (methods.md, "Adapters"): a bank of task adapters
    on a frozen backbone, each entry ``A_t = sum_{k in S_t} n_k A_t^k / sum_{k in S_t} n_k``
    over the set ``S_t`` of this round's clients training task ``t`` (FedAvg, McMahan et al.
    2017, Eq. 1, restricted to ``S_t``); entries of tasks nobody trained are unchanged, so
    a task's adapter is never overwritten by another task's data. With ``shared: true`` a
    task-agnostic adapter averaged over all clients is added to every task adapter - the
    shared + task-specific split of MTLoRA (Agiza et al., CVPR 2024, Sec. 3: task-agnostic
    and task-specific low-rank modules). ``task_adapters: personal`` keeps task adapters on
    the clients (never sent). At test time the entry is chosen by the task id
    (``routing: task_id``) or, without a task id, per example by the lowest predictive
    entropy across the trained entries (``routing: entropy``).

    Parameters
    ----------
    adapter, backbone : dict
        As in :class:`strategies.adapter_avg.AdapterAvg`.
    shared : bool
        Add a shared adapter (default False: a pure per-task bank).
    task_adapters : str
        ``"federated"`` (bank on the server) or ``"personal"`` (kept on each client).
    routing : str
        ``"entropy"`` or ``"task_id"``.
    **kwargs
        Flower ``FedAvg`` arguments.
    """

    def __init__(
        self,
        *,
        adapter: Mapping[str, Any] | None = None,
        backbone: Mapping[str, Any] | None = None,
        shared: bool = False,
        task_adapters: str = "federated",
        routing: str = "entropy",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if task_adapters == "none":
            raise ConfigError(
                "strategy.task_adapters", "the adapter bank needs federated or personal"
            )
        self.layout = AdapterLayout.from_config(
            {
                "adapter": adapter,
                "backbone": backbone,
                "shared": shared,
                "task_adapters": task_adapters,
                "routing": routing,
            }
        )
        self.stats = AdapterStats()
        self.exp: Experiment | None = None
        self._reference: dict = {}

    # -- setup --------------------------------------------------------------------------
    def initial_arrays(self, exp: Experiment, arrays: ArrayRecord | None = None) -> ArrayRecord:
        """Shared adapter (if any) and one entry per global task (federated bank)."""
        self.exp = exp
        self.stats.model_bytes = ArrayRecord(exp.make_model().state_dict()).count_bytes()
        return join_groups(self.layout.initial_groups(exp))

    def _groups_for(self, task_id: int) -> list[str]:
        names = [SHARED] if self.layout.shared else []
        if self.layout.task_adapters == "federated":
            names.append(task_group(task_id))
        return names

    # -- train --------------------------------------------------------------------------
    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """Send every client only the shared adapter and the entry of its active task."""
        config[wire.SERVER_ROUND] = server_round
        config[wire.ADAPTER_LAYOUT] = self.layout.to_json()
        groups = split_groups(arrays)
        return task_routed_messages(
            self.exp, grid, server_round, config,
            lambda t: join_groups(select_groups(groups, self._groups_for(t))), "AdapterBank",
        )

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """FedAvg's evaluate messages (the whole bank), with the adapter layout in the config."""
        config[wire.ADAPTER_LAYOUT] = self.layout.to_json()
        return super().configure_evaluate(server_round, arrays, config, grid)

    def reference_arrays(self, global_arrays: ArrayRecord) -> None:
        """Remember the bank for :meth:`check_reply`; clients return only their task's entry."""
        self._reference = split_groups(global_arrays)
        return None

    def check_reply(self, reply: Message) -> str | None:
        """The reply must hold exactly the shared group and its task's entry, same shapes."""
        metrics = reply.content[wire.METRICS]
        task_id = int(metrics.get(wire.TASK_ID, -1))
        expected = self._groups_for(task_id)
        if self.layout.task_adapters == "federated" and task_group(task_id) not in self._reference:
            known = sorted(t for t in map(task_of, self._reference) if t is not None)
            return (
                f"client {metrics.get(wire.REPLY_CLIENT_ID, '?')}: task id {task_id} has no entry "
                f"in the adapter bank (known task ids: {', '.join(map(str, known))})"
            )
        return check_adapter_reply(reply, self._reference, expected)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Average each group over the replies that carry it; keep the other entries."""
        valid, _ = self._check_and_log_replies(list(replies), is_train=True, validate=False)
        if not valid:
            return None, None
        if not self._reference:
            raise RuntimeError("AdapterBank.reference_arrays(global) must run before aggregation")
        self.stats.update(valid)
        payloads = [
            (
                split_groups(r.content[wire.ARRAYS]),
                float(r.content[wire.METRICS][wire.NUM_EXAMPLES]),
            )
            for r in valid
        ]
        means, _ = weighted_group_means(payloads)
        merged = {**self._reference, **means}
        metrics = self.train_metrics_aggr_fn([r.content for r in valid], self.weighted_by_key)
        return join_groups(merged), metrics

    # -- evaluation ---------------------------------------------------------------------
    def central_accuracies(self, exp: Experiment, arrays: ArrayRecord) -> np.ndarray:
        """Accuracy per global task with the bank (entry chosen by ``routing``).

        With personal task adapters the server holds none: it scores the shared adapter with
        untrained task adapters (the clients' own view is their evaluation replies).
        """
        groups = split_groups(arrays)
        tasks = [t.task_id for t in exp.plan.tasks]
        if self.layout.task_adapters == "personal":
            for t in tasks:
                groups.setdefault(task_group(t), initial_entry(exp, self.layout, t))
        scores = task_accuracies(exp, self.layout, groups, tasks, device=driver_device(exp.cfg))
        return np.asarray([a for a, _ in scores], dtype=float)

    def tensorboard(self, sink, server_round: int) -> None:
        """Log the trainable-parameter fraction, payload/model bytes and per-task usage."""
        n = len(self.exp.plan.tasks) if self.exp is not None else 0
        sink.scalars(server_round, self.stats.scalars(n))
