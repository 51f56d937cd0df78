"""Accuracy bookkeeping: the central round x task matrix and per-client task matrices.

* Central view: ``central[r][k]`` is the global model's accuracy on global task ``k``'s test
  split after round ``r`` (round 0 = the initial model).
* Client view: ``A_c[i, j]`` is client ``c``'s accuracy on its ``j``-th task, measured by the
  client (the model it would use) right after the round its ``i``-th task ended. Rows come from
  boundary evaluations; unmeasured entries stay NaN. The federation matrix is the NaN-mean of
  the client matrices (all clients have the same number of tasks in a plan that pads none).

Columns follow the order in which the client *really* met its tasks. Evaluations are stored
by (row, global task id) and placed in column ``j`` only once the task of position ``j`` is
known: under the run-time task curriculum a client chooses a position's task when it first
trains there, so the next-task cell ``A[i-1, i]`` (FWT) is measured on every candidate and
the one the client then takes is kept, and FWT's baseline ``b_j`` is the initial model's
accuracy on that same task.
"""

from __future__ import annotations

import numpy as np

from fedsim.metrics import continual as clm
from scenarios.types import ScenarioPlan


class AccuracyBook:
    """Collects accuracies as the run goes and derives CL metrics from them."""

    def __init__(self, plan: ScenarioPlan) -> None:
        self.plan = plan
        self.central: dict[int, np.ndarray] = {}
        self.client: dict[int, np.ndarray] = {}  # assembled per-client matrices (real order)
        self._cells: dict[int, dict[tuple[int, int], float]] = {}  # (row, task id) -> accuracy
        self._order: dict[int, list[int]] = {}  # task id of each position, -1 while unknown

    # -- recording ----------------------------------------------------------------------
    def record_central(self, server_round: int, per_task: np.ndarray) -> None:
        """Store the global model's per-task accuracies after ``server_round``."""
        self.central[int(server_round)] = np.asarray(per_task, dtype=float)

    def record_client(
        self,
        client_id: int,
        server_round: int,
        positions: list[int],
        accuracies: list[float],
        task_ids: list[int] | None = None,
        order: list[int] | None = None,
    ) -> bool:
        """Store a client evaluation; return True when it filled a task-boundary row.

        ``task_ids`` (the global task of each entry) and ``order`` (task ids of the positions
        whose task is fixed) come from the client; without them positions follow the plan.
        """
        stream = self.plan.streams[client_id]
        row = stream.ending_at(server_round)
        if row is None:
            return False
        n = len(stream.slots)
        if task_ids is None:
            task_ids = [stream.slots[p].task_id if 0 <= p < n else -1 for p in positions]
            order = [s.task_id for s in stream.slots]
        known = self._order.setdefault(client_id, [-1] * n)
        for pos, tid in enumerate(list(order or [])[:n]):
            known[pos] = int(tid)
        cells = self._cells.setdefault(client_id, {})
        for pos, tid, acc in zip(positions, task_ids, accuracies, strict=True):
            if 0 <= pos < n and int(tid) >= 0:
                cells[(row, int(tid))] = float(acc)
        self.client[client_id] = self._assemble(client_id)
        return True

    def _assemble(self, client_id: int) -> np.ndarray:
        order = self._order[client_id]
        mat = _nan_matrix(len(order))
        for (row, tid), acc in self._cells[client_id].items():
            for pos, known in enumerate(order):
                if known == tid:
                    mat[row, pos] = acc
        return mat

    # -- derived ------------------------------------------------------------------------
    def order_of(self, client_id: int) -> list[int]:
        """Task ids of the client's positions in the order it met them (-1: not known yet)."""
        known = self._order.get(client_id)
        if known is not None:
            return list(known)
        return [int(s.task_id) for s in self.plan.streams[client_id].slots]

    def initial_for(self, client_id: int) -> np.ndarray:
        """Initial-model accuracies on a client's tasks, in the order it met them (for FWT)."""
        base = self.central.get(0)
        order = self.order_of(client_id)
        if base is None:
            return np.full(len(order), np.nan)
        return np.array([base[t] if t >= 0 else np.nan for t in order], dtype=float)

    def completed_rows(self, client_id: int, server_round: int) -> int:
        """Number of the client's tasks that ended by ``server_round``."""
        return sum(1 for s in self.plan.streams[client_id].slots if s.end_round <= server_round)

    def client_metrics(self, server_round: int | None = None) -> dict[int, dict[str, float]]:
        """CL metrics per client over the tasks it completed (by ``server_round``, or all)."""
        out = {}
        for cid, mat in sorted(self.client.items()):
            k = mat.shape[0] if server_round is None else self.completed_rows(cid, server_round)
            if k == 0:
                continue
            sub = mat[:k, :k]
            if np.all(np.isnan(sub[-1])):
                continue
            out[cid] = clm.cl_metrics(sub, self.initial_for(cid)[:k])
        return out

    def federation_metrics(self, server_round: int | None = None) -> dict[str, float]:
        """Mean over clients of the per-client CL metrics."""
        per_client = list(self.client_metrics(server_round).values())
        return clm.mean_metrics(per_client) if per_client else {}

    def federation_matrix(self) -> np.ndarray | None:
        """NaN-mean of the client matrices of equal size (None before any boundary)."""
        mats = [m for m in self.client.values()]
        if not mats:
            return None
        size = max(m.shape[0] for m in mats)
        padded = []
        for m in mats:
            p = _nan_matrix(size)
            p[: m.shape[0], : m.shape[1]] = m
            padded.append(p)
        return clm.nanmean_matrices(padded)

    def central_matrix(self) -> tuple[list[int], np.ndarray]:
        """Rounds and the rounds x tasks central accuracy matrix."""
        rounds = sorted(self.central)
        if not rounds:
            return [], np.zeros((0, len(self.plan.tasks)))
        return rounds, np.stack([self.central[r] for r in rounds])

    def state_dict(self) -> dict:
        """Snapshot for checkpoints (plain numbers and arrays)."""
        return {
            "central": dict(self.central),
            "client": dict(self.client),
            "cells": [
                [cid, row, tid, acc]
                for cid, cells in sorted(self._cells.items())
                for (row, tid), acc in sorted(cells.items())
            ],
            "order": [[cid, list(order)] for cid, order in sorted(self._order.items())],
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a snapshot made by :meth:`state_dict`."""
        self.central = {int(k): np.asarray(v) for k, v in state["central"].items()}
        self.client = {int(k): np.asarray(v) for k, v in state["client"].items()}
        self._cells = {}
        for cid, row, tid, acc in state.get("cells", []):
            self._cells.setdefault(int(cid), {})[(int(row), int(tid))] = float(acc)
        self._order = {int(cid): [int(t) for t in order] for cid, order in state.get("order", [])}


def _nan_matrix(n: int) -> np.ndarray:
    return np.full((n, n), np.nan)
