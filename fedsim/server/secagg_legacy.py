"""The plumbing fedsim's SecAgg+ driver hands Flower's legacy-API workflow.

:class:`CohortStrategy` is the legacy ``flwr.server.strategy.Strategy`` that
:class:`~flwr.server.workflow.SecAggPlusWorkflow` drives (``configure_fit``: the round's cohort;
``aggregate_fit``: keep the unmasked mean), :class:`NodeProxy` the client proxy it names nodes
by, and :class:`StageGrid` the Grid the stages talk through, counting every stage's bytes
(:func:`content_bytes`) and keeping its replies. Used by :mod:`fedsim.server.secagg`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from flwr.app import ConfigRecord, Message, RecordDict
from flwr.common import FitIns, Parameters, parameters_to_ndarrays
from flwr.server.client_proxy import ClientProxy
from flwr.server.strategy import Strategy as LegacyStrategy
from flwr.serverapp import Grid

from fedsim.transport.delegating_grid import DelegatingGrid


def content_bytes(content: RecordDict) -> int:
    """Bytes of every record of a message's content (arrays, metrics and configs).

    Config values count like Flower's ``ConfigRecord.count_bytes`` (8 per number, 1 per bool,
    the length of a str or bytes, plus the key), which raises on an empty str or list instead.
    """
    total = 0
    for _, rec in content.items():
        if isinstance(rec, ConfigRecord):
            total += sum(len(k) + _value_bytes(v) for k, v in rec.items())
        else:
            total += rec.count_bytes()
    return total


def _value_bytes(value: Any) -> int:
    if isinstance(value, list):
        return sum(_value_bytes(v) for v in value)
    if isinstance(value, (str, bytes)):
        return len(value)
    return 1 if isinstance(value, bool) else 8


class StageGrid(DelegatingGrid):
    """The real Grid, counting each send's bytes and keeping each stage's replies."""

    def __init__(self, inner: Grid) -> None:
        super().__init__(inner)
        self.bytes_down = 0
        self.bytes_up = 0
        self.sends: list[tuple[set[int], list[Message]]] = []  # (asked nodes, replies)

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> list[Message]:
        """Send one stage's messages; count their bytes and their replies' bytes."""
        messages = list(messages)
        self.bytes_down += sum(content_bytes(m.content) for m in messages)
        replies = list(self.inner.send_and_receive(messages, timeout=timeout))
        self.bytes_up += sum(content_bytes(r.content) for r in replies if not r.has_error())
        self.sends.append(({int(m.metadata.dst_node_id) for m in messages}, replies))
        return replies


class NodeProxy(ClientProxy):
    """A cohort member as the legacy strategy API names it (a node id; never called)."""

    def __init__(self, node_id: int) -> None:
        super().__init__(str(node_id))
        self.node_id = node_id

    def get_properties(self, ins, timeout, group_id):  # noqa: D102
        raise NotImplementedError

    def get_parameters(self, ins, timeout, group_id):  # noqa: D102
        raise NotImplementedError

    def fit(self, ins, timeout, group_id):  # noqa: D102
        raise NotImplementedError

    def evaluate(self, ins, timeout, group_id):  # noqa: D102
        raise NotImplementedError

    def reconnect(self, ins, timeout, group_id):  # noqa: D102
        raise NotImplementedError


class CohortStrategy(LegacyStrategy):
    """The legacy strategy the workflow drives: the round's cohort in, the unmasked mean out."""

    def __init__(self, nodes: list[int]) -> None:
        self.nodes = list(nodes)
        self.aggregate: list[np.ndarray] | None = None

    def initialize_parameters(self, client_manager):  # noqa: D102
        return None

    def configure_fit(self, server_round, parameters, client_manager):
        """The cohort's nodes, each with an empty FitIns (fedsim's content replaces it)."""
        return [
            (NodeProxy(n), FitIns(Parameters(tensors=[], tensor_type=""), {})) for n in self.nodes
        ]

    def aggregate_fit(self, server_round, results, failures):
        """Keep the securely aggregated weighted mean of the updates (the same for every result)."""
        if results:
            self.aggregate = parameters_to_ndarrays(results[0][1].parameters)
        return None, {}

    def configure_evaluate(self, server_round, parameters, client_manager):  # noqa: D102
        return []

    def aggregate_evaluate(self, server_round, results, failures):  # noqa: D102
        return None, {}

    def evaluate(self, server_round, parameters):  # noqa: D102
        return None
