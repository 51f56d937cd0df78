"""Nearest-prototype classification on top of any fedsim model's ``embed``.

fedsim models expose ``embed(x) -> [B, d]`` and ``embedding_dim``; prototype methods classify
by the squared Euclidean distance to per-class mean embeddings (Snell et al. 2017, used by
Federated Reconnaissance and FedProto).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

ABSENT_LOGIT = -1.0e6  # logit of a class without a prototype (never predicted)


class PrototypeClassifier(nn.Module):
    """Logits ``-||f(x) - p_c||^2`` for classes with a prototype, a huge negative otherwise.

    Parameters
    ----------
    model : torch.nn.Module
        Embedding network with ``embed(x)``.
    means : numpy.ndarray
        Dense bank ``[C, d]``.
    counts : numpy.ndarray
        ``[C]``; classes with count 0 have no prototype and are never predicted.
    """

    def __init__(self, model: nn.Module, means: np.ndarray, counts: np.ndarray) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("means", torch.as_tensor(np.asarray(means), dtype=torch.float32))
        self.register_buffer("known", torch.as_tensor(np.asarray(counts) > 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return negative squared distances to every prototype (absent classes masked)."""
        z = self.model.embed(x)
        logits = -torch.cdist(z, self.means).pow(2)
        return torch.where(self.known[None, :], logits, torch.full_like(logits, ABSENT_LOGIT))


@torch.no_grad()
def class_means(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    transform=None,
    batch_size: int = 512,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(classes [k], means [k, d], counts [k])`` of the embeddings of ``(x, y)``.

    The model is put in eval mode; a prototype is the plain mean embedding of a class
    (``get_prototypes`` in fed-recon, ``agg_func`` in FedProto).
    """
    model.eval()
    labels = np.asarray(y, dtype=np.int64)
    classes = np.unique(labels)
    dim = int(model.embedding_dim)
    sums = np.zeros((len(classes), dim))
    pos = {int(c): i for i, c in enumerate(classes)}
    device = next(iter(model.parameters())).device
    xt = torch.from_numpy(np.asarray(x)).to(device)
    for start in range(0, len(labels), batch_size):
        inputs = xt[start : start + batch_size]
        if transform is not None:
            inputs = transform(inputs)
        z = model.embed(inputs).double().cpu().numpy()
        rows = np.array([pos[int(c)] for c in labels[start : start + batch_size]], dtype=np.int64)
        np.add.at(sums, rows, z)
    counts = np.array([np.count_nonzero(labels == c) for c in classes], dtype=np.float64)
    means = (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
    return classes, means, counts
