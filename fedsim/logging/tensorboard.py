"""TensorBoard sink: scalars, accuracy-matrix images, hyper-parameters and the plan as text."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from fedsim.logging.tags import tag


def matrix_image(
    matrix: np.ndarray, title: str, xlabel: str, ylabel: str, row_labels=None
) -> np.ndarray:
    """Render a matrix as an annotated heatmap; return an HWC uint8 RGB array."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(matrix, dtype=float)
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * m.shape[1], 1.2 + 0.45 * m.shape[0]), dpi=90)
    im = ax.imshow(np.ma.masked_invalid(m), vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    if m.size <= 400:
        for (i, j), v in np.ndenumerate(m):
            if not math.isnan(v):
                ax.text(
                    j,
                    i,
                    f"{v:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if v < 0.6 else "black",
                )
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if row_labels is not None and len(row_labels) <= 40:
        ax.set_yticks(range(len(row_labels)), [str(r) for r in row_labels], fontsize=7)
    fig.colorbar(im, ax=ax, fraction=0.05)
    fig.tight_layout()
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[:, :, :3].copy()
    plt.close(fig)
    return img


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
