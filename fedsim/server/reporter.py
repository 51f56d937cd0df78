"""Per-round and final reporting: TensorBoard, console progress and ``summary.json``."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fedsim.faults.report import fault_summary, rejected_ids, rejected_markdown, round_values
from fedsim.logging.layout import write_layout
from fedsim.logging.tags import CL_METRICS, tag
from fedsim.logging.tensorboard import TensorBoardSink
from fedsim.server.client_metrics import peak_memory
from fedsim.server.state import ServerState


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write JSON via a temp file and rename, so a reader never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_clean(payload), indent=2, allow_nan=False))
    os.replace(tmp, path)


class Reporter:
    """Turns round rows into TensorBoard scalars and console progress."""

    def __init__(
        self,
        sink: TensorBoardSink,
        num_rounds: int,
        progress: bool = True,
        *,
        matrix_clients: Sequence[int] = (),
        matrix_every: int = 1,
    ) -> None:
        self.sink = sink
        self.num_rounds = num_rounds
        self.matrix_clients = [int(c) for c in matrix_clients]
        self.matrix_every = int(matrix_every)
        write_layout(sink.writer)
        self.started = time.perf_counter()
        self._progress = None
        self._task = None
        if progress:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]round"),
                MofNCompleteColumn(),
                BarColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
            )
            self._progress.start()
            self._task = self._progress.add_task("starting", total=num_rounds)

    def __call__(self, rnd: int, row: dict[str, Any], state: ServerState) -> None:
        """Report one finished round."""
        values = {
            tag("train_loss"): row.get("train_loss"),
            tag("central_acc"): row.get("central_acc"),
            tag("client_acc"): row.get("client_acc"),
            tag("eval_loss"): row.get("client_eval_loss"),
            tag("bytes_down"): row.get("bytes_down"),
            tag("bytes_up"): row.get("bytes_up"),
            tag("bytes_cum"): state.bytes_total,
            tag("round_time"): row.get("round_time_s"),
            tag("clients"): row.get("clients_trained"),
            tag("failures"): row.get("failures"),
            tag("lr_server"): row.get("lr/server"),
            tag("lr_client"): row.get("lr/client_mean"),
            tag("update_norm"): _mean(row.get("update_norms")),
        }
        for k, acc in enumerate(row.get("central_task_acc", [])):
            values[tag("central_acc", k)] = acc
        running = state.book.federation_metrics(rnd)
        for name in CL_METRICS:
            if name in running:
                values[tag("cl", name)] = running[name]
        row["cl_running"] = running
        for name, value in row.get("curriculum", {}).items():
            values[tag("curriculum", name)] = value
        if row.get("selection_why"):
            self.sink.text(tag("curriculum_why"), row["selection_why"], rnd)
        for name, value in row.get("baselines", {}).items():
            values[tag("baseline", name)] = value
        values.update(round_values(row))
        self.sink.scalars(rnd, {k: v for k, v in values.items() if v is not None})
        table = rejected_markdown(row)
        if table is not None:
            self.sink.text(tag("rejected_clients"), table, rnd)
            self.sink.histogram(tag("rejected_hist"), rejected_ids(row), rnd)
        self.sink.histogram(tag("client_lr_hist"), row.get("client_lrs", []), rnd)
        self.sink.histogram(tag("client_acc_hist"), row.get("client_accs", []), rnd)
        self.sink.histogram(tag("update_norm_hist"), row.get("update_norms", []), rnd)
        self._matrices(rnd, row, state)
        self.sink.histogram(tag("difficulty_hist"), row.get("client_difficulties", []), rnd)
        if self._progress is not None:
            acc = row.get("central_acc")
            desc = f"acc={acc:.3f}" if acc is not None else ""
            self._progress.update(self._task, completed=rnd, description=desc)

    def _matrices(self, rnd: int, row: dict[str, Any], state: ServerState) -> None:
        """Per-round accuracy-matrix heatmaps (``log.matrix_every``, ``log.matrix_clients``)."""
        last = rnd == self.num_rounds
        due = self.matrix_every > 0 and rnd % self.matrix_every == 0 and row.get("boundary_rows")
        book = state.book
        if due and not last:  # the final federation matrix is written by final_outputs
            fed = book.federation_matrix()
            if fed is not None:
                self.sink.matrix("federation", fed, rnd, **_matrix_labels("mean client"))
        for cid in self.matrix_clients:
            if cid not in book.client:
                continue
            ended = book.plan.streams[cid].ending_at(rnd) is not None
            if (due and ended) or last:
                self.sink.matrix(
                    f"client_{cid}", book.client[cid], rnd, **_matrix_labels(f"client {cid}")
                )

    def close(self) -> None:
        """Stop the progress display."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


_NOT_IN_SUMMARY = ("cohort", "client_accs", "client_lrs", "update_norms")


def _mean(values) -> float | None:
    return float(np.mean(values)) if values else None


def _matrix_labels(who: str) -> dict[str, str]:
    return {
        "title": f"{who} accuracy matrix",
        "xlabel": "task position j (client's own order)",
        "ylabel": "after task i",
    }


def final_outputs(
    state: ServerState, sink: TensorBoardSink, hparams: dict[str, Any], wall_s: float
) -> dict[str, Any]:
    """Write final images, HParams and return the summary payload."""
    book = state.book
    final = book.federation_metrics()
    fed = book.federation_matrix()
    rounds, central = book.central_matrix()
    if fed is not None:
        sink.matrix(
            "federation",
            fed,
            state.round,
            title="mean client accuracy matrix",
            xlabel="task position j (client's own order)",
            ylabel="after task i",
        )
    if central.size:
        sink.matrix(
            "central_rounds",
            central,
            state.round,
            title="global model accuracy per task",
            xlabel="global task id",
            ylabel="round",
            row_labels=rounds,
        )
    sink.hparams(hparams, {f"final/{k}": v for k, v in final.items()})
    total_bytes = state.bytes_total
    return {
        "status": "completed",
        "rounds": state.round,
        "wall_time_s": wall_s,
        "final": final,
        "final_central_acc": float(np.mean(central[-1])) if central.size else None,
        "federation_matrix": fed,
        "central_rounds": rounds,
        "central_matrix": central,
        "client_matrices": {str(c): m for c, m in sorted(book.client.items())},
        "client_orders": {str(c): book.order_of(c) for c in sorted(book.client)},
        "bytes_total": total_bytes,
        "bytes_per_round": total_bytes / max(state.round, 1),
        "rejected_replies": sum(r.get("failures", 0) for r in state.history),
        "client_memory_bytes": peak_memory(state.history),
        **fault_summary(state.history),
        "history": [
            {k: v for k, v in r.items() if k not in _NOT_IN_SUMMARY}
            for r in state.history
        ],
    }
