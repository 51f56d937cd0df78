"""FedAdapter-style averaging: only adapter parameters are trained, sent and averaged."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from fedsim import wire
from fedsim.adapters.bank import SHARED, split_groups
from fedsim.adapters.checks import check_adapter_reply
from fedsim.adapters.evaluation import task_accuracies
from fedsim.adapters.layout import AdapterLayout
from fedsim.adapters.stats import AdapterStats
from fedsim.device import driver_device
from fedsim.experiment import Experiment
from fedsim.interfaces import StrategyHooks


class AdapterAvg(FedAvg, StrategyHooks):
    """Average one shared adapter (and the head, if trained) over the round's clients.

    Cai et al., "FedAdapter: Efficient Federated Learning for Modern NLP" (MobiCom 2023) and
    Zhang et al., "FedPETuning" (ACL Findings 2023): clients fine-tune small adapters on a
    frozen pre-trained backbone and the server runs FedAvg (McMahan et al. 2017, Eq. 1:
    ``w = sum_k n_k / n * w_k``) over the adapter parameters only, so communication drops by
    the ratio of adapter size to model size. Adapters: Houlsby bottlenecks (ICML 2019) or
    LoRA (Hu et al., ICLR 2022) - see ``fedsim.adapters``. With ``adapter.kind: full`` it is
    full fine-tuning FedAvg from the same backbone (the baseline).

    Parameters
    ----------
    adapter : dict
        ``strategy.adapter`` (kind, rank, alpha, bottleneck_dim, targets, train_head).
    backbone : dict
        ``strategy.backbone`` (init: base_task | checkpoint | random, and its options).
    **kwargs
        Flower ``FedAvg`` arguments.
    """

    def __init__(
        self,
        *,
        adapter: Mapping[str, Any] | None = None,
        backbone: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.layout = AdapterLayout.from_config({"adapter": adapter, "backbone": backbone})
        self.stats = AdapterStats()
        self._reference: dict = {}
        self._num_tasks = 0

    def initial_arrays(self, exp: Experiment, arrays: ArrayRecord | None = None) -> ArrayRecord:
        """Return the initial global payload: the shared adapter only (never the backbone)."""
        from fedsim.adapters.bank import join_groups

        self._num_tasks = len(exp.plan.tasks)
        self.stats.model_bytes = ArrayRecord(exp.make_model().state_dict()).count_bytes()
        return join_groups(self.layout.initial_groups(exp))

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """FedAvg's messages (the global adapters), with the adapter layout in the config."""
        config[wire.ADAPTER_LAYOUT] = self.layout.to_json()
        return super().configure_train(server_round, arrays, config, grid)

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """FedAvg's evaluate messages, with the adapter layout in the config."""
        config[wire.ADAPTER_LAYOUT] = self.layout.to_json()
        return super().configure_evaluate(server_round, arrays, config, grid)

    def reference_arrays(self, global_arrays: ArrayRecord) -> None:
        """Remember the global adapters for :meth:`check_reply`; skip the generic check."""
        self._reference = split_groups(global_arrays)
        return None

    def check_reply(self, reply: Message) -> str | None:
        """Keys and shapes (LoRA ranks) must match the global adapters; names the client."""
        return check_adapter_reply(reply, self._reference, [SHARED])

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """FedAvg of the adapter payloads (weighted by ``num-examples``)."""
        replies = list(replies)
        self.stats.update(r for r in replies if not r.has_error())
        return super().aggregate_train(server_round, replies)

    def central_accuracies(self, exp: Experiment, arrays: ArrayRecord) -> np.ndarray:
        """Accuracy of backbone + global adapter on each global task's test split."""
        tasks = [t.task_id for t in exp.plan.tasks]
        scores = task_accuracies(exp, self.layout, split_groups(arrays), tasks,
                                 device=driver_device(exp.cfg))
        return np.asarray([a for a, _ in scores], dtype=float)

    def tensorboard(self, sink, server_round: int) -> None:
        """Log the trainable-parameter fraction, payload/model bytes and per-task usage."""
        sink.scalars(server_round, self.stats.scalars(self._num_tasks))
