"""TensorBoard sink: scalars, accuracy-matrix images, hyper-parameters and the plan as text."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from fedsim.logging.heatmap import matrix_image
from fedsim.logging.tags import tag


class TensorBoardSink:
    """Writes one run's TensorBoard events under ``log_dir``."""

    def __init__(self, log_dir: str | Path, purge_step: int | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = Path(log_dir)
        # purge_step (resume): TensorBoard drops earlier events with step >= purge_step.
        self.writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=purge_step)

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        """Write finite scalars under their tags."""
        for name, value in values.items():
            if value is not None and math.isfinite(float(value)):
                self.writer.add_scalar(name, float(value), step)

    def histogram(self, name: str, values, step: int) -> None:
        """Write a histogram (skipped when empty)."""
        arr = np.asarray(values, dtype=float)
        arr = arr[np.isfinite(arr)]
        if arr.size:
            self.writer.add_histogram(name, arr, step)

    def matrix(self, name: str, matrix: np.ndarray, step: int, **labels) -> None:
        """Write an accuracy matrix as an image under ``accuracy_matrix/<name>``."""
        img = matrix_image(matrix, **labels)
        self.writer.add_image(tag("matrix", name), img, step, dataformats="HWC")

    def text(self, name: str, body: str, step: int = 0) -> None:
        """Write markdown text."""
        self.writer.add_text(name, body, step)

    def hparams(self, hparams: Mapping[str, object], final: Mapping[str, float]) -> None:
        """Fill the HParams dashboard in this run's own event file.

        Only the session start/end summaries are written, no experiment summary: TensorBoard
        then computes the experiment from all sessions under its logdir (the union of hparam
        names, their value domains, which ones differ), so a multirun compares in one table.
        """
        from torch.utils.tensorboard.summary import hparams as hp_summary

        clean_h = {
            k: (v if isinstance(v, int | float | str | bool) else str(v))
            for k, v in hparams.items()
        }
        clean_m = {
            k: float(v) for k, v in final.items() if v is not None and math.isfinite(float(v))
        }
        _, ssi, sei = hp_summary(clean_h, clean_m)
        fw = self.writer._get_file_writer()
        for s in (ssi, sei):
            fw.add_summary(s)
        for k, v in clean_m.items():
            self.writer.add_scalar(k, v, 0)

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.flush()
        self.writer.close()
