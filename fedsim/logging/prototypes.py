"""TensorBoard output of a prototype bank: its size and a 2-D PCA projection image."""

from __future__ import annotations

import math

import numpy as np

from fedsim.logging.tags import tag


def pca_2d(points: np.ndarray) -> np.ndarray:
    """Project ``[k, d]`` points on their first two principal components (``[k, 2]``)."""
    x = np.asarray(points, dtype=np.float64)
    if x.shape[0] == 0:
        return np.zeros((0, 2))
    x = x - x.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    proj = x @ vt[:2].T
    if proj.shape[1] < 2:
        proj = np.pad(proj, ((0, 0), (0, 2 - proj.shape[1])))
    return proj


def projection_image(means: np.ndarray, counts: np.ndarray, title: str) -> np.ndarray:
    """Scatter the known prototypes (PCA to 2-D), labelled by class; HWC uint8 RGB."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    known = np.flatnonzero(np.asarray(counts) > 0)
    xy = pca_2d(np.asarray(means)[known])
    fig, ax = plt.subplots(figsize=(4.2, 4.0), dpi=80)
    size = 20 + 80 * np.sqrt(np.asarray(counts)[known] / max(float(np.max(counts)), 1.0))
    ax.scatter(xy[:, 0], xy[:, 1], s=size, c=known % 10, cmap="tab10", vmin=0, vmax=9)
    for (px, py), label in zip(xy, known, strict=True):
        ax.annotate(str(label), (px, py), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    fig.tight_layout()
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[:, :, :3].copy()
    plt.close(fig)
    return img


def log_bank(
    sink, server_round: int, means: np.ndarray, counts: np.ndarray, *, image: bool
) -> None:
    """Write the bank size (every call) and, when ``image``, the PCA projection."""
    if sink is None:
        return
    size = int(np.count_nonzero(np.asarray(counts) > 0))
    sink.scalars(server_round, {tag("proto_bank"): size})
    if image and size > 0:
        img = projection_image(means, counts, f"prototypes after round {server_round} (PCA)")
        sink.writer.add_image(tag("proto_projection"), img, server_round, dataformats="HWC")


def log_distance(sink, server_round: int, value: float) -> None:
    """Write FedProto's mean prototype-distance term of a round (skipped when undefined)."""
    if sink is not None and math.isfinite(value):
        sink.scalars(server_round, {tag("proto_distance"): value})
