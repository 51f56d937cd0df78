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

from fedsim.logging.layout import write_layout
from fedsim.logging.tags import CENTRAL_HIGHLIGHTS, CL_METRICS, tag
from fedsim.logging.tensorboard import TensorBoardSink
from fedsim.metrics.central import central_highlights, final_task_boundary
from fedsim.server.client_metrics import peak_memory
from fedsim.server.fault_report import (
    fault_summary,
    rejected_ids,
    rejected_markdown,
    round_values,
)
from fedsim.server.round_record import RoundRecord
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
    """Turns round records into TensorBoard scalars and console progress."""

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

    def __call__(self, rnd: int, record: RoundRecord, state: ServerState) -> None:
        """Report one finished round (reads ``record``, never edits it)."""
        ev = record.client_eval
        train_s = None if record.result is None else record.result.client_train_s
        values = {
            tag("train_loss"): record.train_loss,
            tag("central_acc"): None if record.central is None else record.central.acc,
            tag("client_acc"): None if ev is None else ev.acc,
            tag("eval_loss"): None if ev is None else ev.loss,
            tag("bytes_down"): record.bytes_down,
            tag("bytes_up"): record.bytes_up,
            tag("bytes_cum"): state.bytes_total,
            tag("round_time"): record.round_time_s,
            tag("client_train_time"): train_s,
            tag("clients"): record.clients_trained,
            tag("failures"): record.failures,
            tag("lr_server"): record.lr.get("lr/server"),
            tag("lr_client"): record.lr.get("lr/client_mean"),
            tag("update_norm"): _mean(record.update_norms),
        }
        for k, acc in enumerate(record.central.task_acc if record.central is not None else []):
            values[tag("central_acc", k)] = acc
        for name in CL_METRICS:
            if name in record.cl_running:
                values[tag("cl", name)] = record.cl_running[name]
        for name, value in record.curriculum.items():
            values[tag("curriculum", name)] = value
        if record.selection_why:
            self.sink.text(tag("curriculum_why"), record.selection_why, rnd)
        baselines = record.result.baselines if record.result is not None else {}
        for name, value in baselines.items():
            values[tag("baseline", name)] = value
        privacy = record.result.privacy if record.result is not None else {}
        for name, value in privacy.items():
            values[tag("privacy", name)] = value
        values.update(round_values(record))
        self.sink.scalars(rnd, {k: v for k, v in values.items() if v is not None})
        table = rejected_markdown(record)
        if table is not None:
            self.sink.text(tag("rejected_clients"), table, rnd)
            self.sink.histogram(tag("rejected_hist"), rejected_ids(record), rnd)
        result = record.result
        self.sink.histogram(tag("client_lr_hist"), result.client_lrs if result else [], rnd)
        self.sink.histogram(tag("client_acc_hist"), ev.accs if ev is not None else [], rnd)
        self.sink.histogram(tag("update_norm_hist"), record.update_norms or [], rnd)
        self._matrices(rnd, record, state)
        difficulties = result.client_difficulties if result else []
        self.sink.histogram(tag("difficulty_hist"), difficulties, rnd)
        if self._progress is not None:
            acc = values[tag("central_acc")]
            desc = f"acc={acc:.3f}" if acc is not None else ""
            self._progress.update(self._task, completed=rnd, description=desc)

    def _matrices(self, rnd: int, record: RoundRecord, state: ServerState) -> None:
        """Per-round accuracy-matrix heatmaps (``log.matrix_every``, ``log.matrix_clients``)."""
        last = rnd == self.num_rounds
        boundary = record.client_eval.boundary_rows if record.client_eval is not None else 0
        due = self.matrix_every > 0 and rnd % self.matrix_every == 0 and boundary
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
    highlights = central_highlights(
        rounds,
        [float(np.mean(row)) for row in central] if central.size else [],
        final_task_boundary(book.plan.streams),
    )
    sink.hparams(
        hparams,
        {
            **{tag("final", k): v for k, v in final.items()},
            **{
                tag("final", f"central_acc_{k}"): highlights[f"{k}_central_acc"]
                for k in CENTRAL_HIGHLIGHTS
            },
        },
    )
    total_bytes = state.bytes_total
    return {
        "status": "completed",
        "rounds": state.round,
        "wall_time_s": wall_s,
        "final": final,
        "final_central_acc": float(np.mean(central[-1])) if central.size else None,
        **{k: v for k, v in highlights.items() if not k.startswith("last_")},
        "federation_matrix": fed,
        "central_rounds": rounds,
        "central_matrix": central,
        "client_matrices": {str(c): m for c, m in sorted(book.client.items())},
        "client_orders": {str(c): book.order_of(c) for c in sorted(book.client)},
        "bytes_total": total_bytes,
        "bytes_per_round": total_bytes / max(state.round, 1),
        "rejected_replies": sum(r.failures for r in state.history),
        "client_memory_bytes": peak_memory(state.history),
        **fault_summary(state.history),
        "history": [r.summary_dict() for r in state.history],
    }
