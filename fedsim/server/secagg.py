"""The server's side of SecAgg+ (``privacy.secagg``): Flower's workflow stages for the train step.

On the deployment engine, a round's train step with secure aggregation runs Flower's own
:class:`flwr.server.workflow.SecAggPlusWorkflow`, stage by stage (``setup_stage``,
``share_keys_stage``, ``collect_masked_vectors_stage``, ``unmask_stage``), on the real Grid:

* the workflow is a legacy-API workflow: it reads the round from a
  :class:`~flwr.server.compat.LegacyContext` and asks a legacy strategy for the cohort.
  :class:`CohortStrategy` is that strategy: ``configure_fit`` returns the round's cohort (the
  SuperNodes of the clients fedsim selected) and ``aggregate_fit`` keeps what the workflow
  unmasked;
* after ``setup_stage`` the fit instructions are replaced by what fedsim's strategy built for
  each client (:meth:`VirtualGrid.client_content`), so the ClientApp receives exactly its usual
  train message, plus the stage record;
* the clients send the *update* (``fedsim.client.secagg_mod``), so what the workflow unmasks is
  the weighted mean of the updates, ``sum_i w_i (x_i - g) / sum_i w_i`` (w: the strategy's weight
  key, quantised); the new global model is ``g`` plus that mean, exactly FedAvg's weighted mean
  up to the quantisation error (docs/privacy.md);
* every stage's messages are counted in bytes (:class:`StageGrid`): down, the fit instructions
  plus the stage records (keys, forwarded key shares, node lists); up, public keys, encrypted
  shares, the masked vectors, the unmasking shares.

The server never holds an individual update: a collect-stage reply that still carries array
data is a protocol violation and fails the run (:class:`~fedsim.errors.ProtocolError`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.server.client_manager import SimpleClientManager
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
from flwr.server.workflow.constant import Key as WorkflowKey
from flwr.server.workflow.secure_aggregation.secaggplus_workflow import WorkflowState
from flwr.serverapp.strategy import FedAvg
from flwr.serverapp.strategy.strategy_utils import aggregate_metricrecords

from fedsim import wire
from fedsim.errors import ProtocolError
from fedsim.server.reply_checks import check_protocol
from fedsim.server.round_record import Attempt
from fedsim.server.secagg_legacy import CohortStrategy, StageGrid
from fedsim.server.weighting import weight_key
from fedsim.transport.virtual_grid import VirtualGrid

STAGES = ("setup", "share_keys", "collect_masked_vectors", "unmask")
#: why the update-norm statistics are missing (summary ``privacy.secagg``, TensorBoard text)
NORMS_SKIPPED = "skipped: under secure aggregation the server never sees an update"
COLLECT = 2  # index of the stage whose replies carry fedsim's metrics


@dataclass(frozen=True)
class SecAggSettings:
    """``privacy.secagg_*`` knobs, Flower's :class:`SecAggPlusWorkflow` arguments."""

    num_shares: int | float = 3
    reconstruction_threshold: int | float = 2
    clipping_range: float = 8.0
    quantization_range: int = 4194304
    max_weight: float = 1000.0
    modulus_range: int = 4294967296

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> SecAggSettings | None:
        """The settings of ``cfg["privacy"]``; None when ``privacy.secagg`` is off."""
        spec = cfg.get("privacy") or {}
        if not spec.get("secagg", False):
            return None
        sa = dict(spec.get("secagg_params") or {})
        shares, thr = sa.get("num_shares", 3), sa.get("reconstruction_threshold", 2)
        return cls(
            num_shares=shares if isinstance(shares, float) else int(shares),
            reconstruction_threshold=thr if isinstance(thr, float) else int(thr),
            clipping_range=float(sa.get("clipping_range", 8.0)),
            quantization_range=int(sa.get("quantization_range", 4194304)),
            max_weight=float(sa.get("max_weight", 1000.0)),
        )

    def workflow(self, timeout: float | None) -> SecAggPlusWorkflow:
        """Flower's workflow with these settings (raises ValueError on a bad combination)."""
        return SecAggPlusWorkflow(
            self.num_shares,
            self.reconstruction_threshold,
            max_weight=self.max_weight,
            clipping_range=self.clipping_range,
            quantization_range=self.quantization_range,
            modulus_range=self.modulus_range,
            timeout=timeout,
        )


@dataclass
class SecAggRound:
    """What one securely aggregated train step produced."""

    attempt: Attempt
    good: list[tuple[int, Message]]  # collect-stage replies (metrics only), sorted by client
    arrays: ArrayRecord | None  # the new global arrays; None when the protocol halted
    bytes_down: int = 0
    bytes_up: int = 0
    halted: str | None = None
    seconds: float = 0.0

    def scalars(self) -> dict[str, float]:
        """The round's ``privacy/secagg*`` scalars (TensorBoard, the round row)."""
        clipped = [
            float(r.content[wire.METRICS].get(wire.SECAGG_CLIPPED, 0.0)) for _, r in self.good
        ]
        return {
            "secagg": 1.0,
            "secagg_seconds": self.seconds,
            "secagg_clipped_fraction": float(np.mean(clipped)) if clipped else 0.0,
        }


def secure_metrics(strategy: Any, replies: list[Message]) -> MetricRecord | None:
    """The strategy's aggregate of the replies' metrics (weighted like its arrays)."""
    if not replies:
        return None
    records = [RecordDict({wire.METRICS: r.content[wire.METRICS]}) for r in replies]
    key = weight_key(strategy)
    if isinstance(strategy, FedAvg):
        return strategy.train_metrics_aggr_fn(records, key)
    return aggregate_metricrecords(records, key)


def apply_update(arrays: ArrayRecord, update: list[np.ndarray]) -> ArrayRecord:
    """``arrays + update`` key by key, in each array's dtype (integers rounded)."""
    if len(update) != len(arrays):
        raise ProtocolError(
            f"secure aggregation returned {len(update)} arrays for {len(arrays)} model arrays"
        )
    out = {}
    for (key, arr), delta in zip(arrays.items(), update, strict=True):
        old = arr.numpy()
        new = old.astype(np.float64) + delta.reshape(old.shape)
        if np.issubdtype(old.dtype, np.integer):
            new = np.rint(new)
        out[key] = Array(np.ascontiguousarray(new.astype(old.dtype)))
    return ArrayRecord(out)


class SecAggDriver:
    """Runs one round's train step through Flower's SecAgg+ workflow over the real nodes."""

    def __init__(
        self,
        settings: SecAggSettings,
        grid: VirtualGrid,
        timeout: float | None,
        strict_protocol: bool = False,
    ) -> None:
        self.settings = settings
        self.grid = grid
        self.timeout = timeout
        self.strict_protocol = strict_protocol  # deployment: a reply lacking a key fails the run

    def train(
        self, rnd: int, arrays: ArrayRecord, messages: list[Message], cohort: list[int]
    ) -> SecAggRound:
        """Run the four stages for ``messages`` (fedsim's train messages, one per client)."""
        started = time.perf_counter()
        ordered = sorted(messages, key=lambda m: int(m.metadata.dst_node_id))
        node_of = {
            int(m.metadata.dst_node_id): self.grid.node_for(int(m.metadata.dst_node_id), i)
            for i, m in enumerate(ordered)
        }
        client_of = {node: cid for cid, node in node_of.items()}
        contents = {
            node_of[int(m.metadata.dst_node_id)]: self.grid.client_content(m) for m in ordered
        }
        grid = StageGrid(self.grid.inner)
        shim = CohortStrategy(sorted(contents))
        context = LegacyContext(
            Context(run_id=0, node_id=0, node_config={}, state=RecordDict(), run_config={}),
            strategy=shim,
            client_manager=SimpleClientManager(),
        )
        context.state[MAIN_CONFIGS_RECORD] = ConfigRecord({WorkflowKey.CURRENT_ROUND: rnd})
        context.state[MAIN_PARAMS_RECORD] = ArrayRecord()
        halted = self._run_stages(grid, context, contents)
        good, rejected = self._collected(grid, client_of)
        if self.strict_protocol:
            check_protocol("secure train", good, self.grid.node_of_client)
        attempt = Attempt(
            cohort=list(cohort),
            rejected=rejected,
            missing=sorted(c for c, why in rejected.items() if why == _NO_REPLY),
            asked=len(cohort),
            unexpected=sorted(rejected),
        )
        new = None
        if halted is None and shim.aggregate is not None:
            new = apply_update(arrays, shim.aggregate)
        elif halted is None:
            halted = "secure aggregation produced no aggregate"
        return SecAggRound(
            attempt=attempt,
            good=good,
            arrays=new,
            bytes_down=grid.bytes_down,  # the fit contents travel in the third stage
            bytes_up=grid.bytes_up,
            halted=halted,
            seconds=time.perf_counter() - started,
        )

    def _run_stages(
        self, grid: StageGrid, context: LegacyContext, contents: dict[int, RecordDict]
    ) -> str | None:
        """Flower's four stages in order; why the protocol halted (None: it completed)."""
        workflow = self.settings.workflow(self.timeout)
        state = WorkflowState()
        stages = (
            workflow.setup_stage,
            workflow.share_keys_stage,
            workflow.collect_masked_vectors_stage,
            workflow.unmask_stage,
        )
        for name, stage in zip(STAGES, stages, strict=True):
            if not stage(grid, context, state):
                return f"secure aggregation halted at stage '{name}': {_why(grid, state)}"
            if name == "setup":  # the ClientApp gets fedsim's own train content in stage 2
                state.nid_to_fitins = {n: contents[n] for n in state.nid_to_fitins}
        return None

    def _collected(
        self, grid: StageGrid, client_of: dict[int, int]
    ) -> tuple[list[tuple[int, Message]], dict[int, str]]:
        """Valid collect-stage replies by client, and why every other cohort client failed."""
        rejected: dict[int, str] = {}
        good: list[tuple[int, Message]] = []
        for k, (asked, replies) in enumerate(grid.sends):
            answered = set()
            for reply in replies:
                node = int(reply.metadata.src_node_id)
                answered.add(node)
                if reply.has_error():
                    rejected.setdefault(
                        client_of[node], f"stage '{STAGES[k]}': {reply.error.reason}"
                    )
                elif k == COLLECT:
                    _check_no_arrays(reply, client_of[node], node)
                    good.append((client_of[node], reply))
            for node in asked - answered:
                rejected.setdefault(client_of[node], _NO_REPLY)
        for node, cid in client_of.items():
            if not grid.sends or node not in grid.sends[0][0]:
                rejected.setdefault(cid, "not asked: secure aggregation halted")
        good = [(c, r) for c, r in good if c not in rejected]
        return sorted(good, key=lambda p: p[0]), rejected


_NO_REPLY = "no reply before the round deadline (secure aggregation)"


def _check_no_arrays(reply: Message, cid: int, node: int) -> None:
    """The server must never hold an individual update: a reply with array data fails the run."""
    carried = sum(rec.count_bytes() for rec in reply.content.array_records.values())
    if carried:
        raise ProtocolError(
            f"SuperNode {node} (client {cid}): a secure-aggregation reply carries {carried} "
            "bytes of arrays; the server must only see the masked vector"
        )
    if wire.METRICS not in reply.content.metric_records:
        raise ProtocolError(
            f"SuperNode {node} (client {cid}): the secure-aggregation reply has no "
            f"'{wire.METRICS}' record"
        )


def _why(grid: StageGrid, state: WorkflowState) -> str:
    asked = len(grid.sends[-1][0]) if grid.sends else 0
    return (
        f"{len(state.active_node_ids)} of {asked} clients answered, the reconstruction "
        f"threshold is {state.threshold} (privacy.secagg_params.reconstruction_threshold)"
    )
