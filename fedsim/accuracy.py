"""Accuracy bookkeeping: the central round x task matrix and per-client task matrices.

* Central view: ``central[r][k]`` is the global model's accuracy on global task ``k``'s test
  split after round ``r`` (round 0 = the initial model).
* Client view: ``A_c[i, j]`` is client ``c``'s accuracy on its ``j``-th task, measured by the
  client (the model it would use) right after the round its ``i``-th task ended. Rows come from
  boundary evaluations; unmeasured entries stay NaN. The federation matrix is the NaN-mean of
  the client matrices (all clients have the same number of tasks in a plan that pads none).
"""

from __future__ import annotations

import numpy as np

from fedsim import metrics as clm
from scenarios.types import ScenarioPlan


class AccuracyBook:
    """Collects accuracies as the run goes and derives CL metrics from them."""

    def __init__(self, plan: ScenarioPlan) -> None:
        self.plan = plan
        self.central: dict[int, np.ndarray] = {}
        self.client: dict[int, np.ndarray] = {}

    # -- recording ----------------------------------------------------------------------
    def record_central(self, server_round: int, per_task: np.ndarray) -> None:
        """Store the global model's per-task accuracies after ``server_round``."""
        self.central[int(server_round)] = np.asarray(per_task, dtype=float)

    def record_client(
        self, client_id: int, server_round: int, positions: list[int], accuracies: list[float]
    ) -> bool:
        """Store a client evaluation; return True when it filled a task-boundary row."""
        stream = self.plan.streams[client_id]
        row = stream.ending_at(server_round)
        if row is None:
            return False
        mat = self.client.setdefault(client_id, _nan_matrix(len(stream.slots)))
        for pos, acc in zip(positions, accuracies, strict=True):
            if 0 <= pos < mat.shape[1]:
                mat[row, pos] = acc
        return True

    # -- derived ------------------------------------------------------------------------
    def initial_for(self, client_id: int) -> np.ndarray:
        """Initial-model accuracies on a client's tasks, in its order (for FWT)."""
        base = self.central.get(0)
        stream = self.plan.streams[client_id]
        if base is None:
            return np.full(len(stream.slots), np.nan)
        return np.array([base[s.task_id] for s in stream.slots], dtype=float)

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
        """Picklable snapshot for checkpoints."""
        return {"central": dict(self.central), "client": dict(self.client)}

    def load_state_dict(self, state: dict) -> None:
        """Restore a snapshot made by :meth:`state_dict`."""
        self.central = {int(k): np.asarray(v) for k, v in state["central"].items()}
        self.client = {int(k): np.asarray(v) for k, v in state["client"].items()}


def _nan_matrix(n: int) -> np.ndarray:
    return np.full((n, n), np.nan)
