"""Orthogonal-subspace maths of FOT: which layers, the energy-threshold basis, the projection.

Free functions shared by the server half (:mod:`strategies.fot`) and the client half
(:mod:`fedsim.client.plugins.orthogonal`). Notation of GPM (Saha et al., "Gradient Projection
Memory for Continual Learning", ICLR 2021, Sec. 4) as FOT uses it (Bakman et al., "Federated
Orthogonal Training", ICLR 2024, Sec. 4): for a layer with weight ``W`` (``out x d`` once a
conv kernel is flattened to ``out x (in * kh * kw)``) the **representation matrix**
``A = [a_1 ... a_n]`` (``d x n``) holds the layer's inputs (conv: the unfolded patches); the
basis ``U`` (``d x k``, orthonormal columns) spans the inputs of the old tasks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import nn

#: Module types whose weights are projected, and how their input space is formed.
LINEAR, CONV = "linear", "conv"


def projected_layers(model: nn.Module, *, head: bool) -> dict[str, tuple[str, int]]:
    """The layers FOT projects: ``{module name: (kind, input dimension d)}``, model order.

    Every ``nn.Linear`` (``d = in_features``) and ``nn.Conv2d`` (``d = in_channels/groups *
    kh * kw``, the unfolded patch) of ``model``; the module named ``head`` only when
    ``head`` is true. Grouped convolutions are refused (their input space is per group).

    Raises
    ------
    ValueError
        A grouped ``nn.Conv2d`` (``groups > 1``), naming the module.
    """
    out: dict[str, tuple[str, int]] = {}
    for name, module in model.named_modules():
        if not head and (name == "head" or name.startswith("head.")):
            continue
        if isinstance(module, nn.Linear):
            out[name] = (LINEAR, int(module.in_features))
        elif isinstance(module, nn.Conv2d):
            if module.groups != 1:
                raise ValueError(
                    f"strategy=fot: conv layer '{name}' has groups={module.groups}; only "
                    "ungrouped convolutions have one unfolded input space to project"
                )
            kh, kw = module.kernel_size
            out[name] = (CONV, int(module.in_channels) * int(kh) * int(kw))
    return out


def energy_rank(singular: np.ndarray, covered: float, total: float, threshold: float) -> int:
    """Smallest ``k >= 0`` with ``covered + sum_{j<k} sigma_j^2 >= threshold * total``.

    GPM's criterion (Saha et al. 2021, Sec. 4; FOT's GPSE keeps it): ``covered`` is the
    energy ``||U U^T A||_F^2`` the existing basis already explains, ``sigma`` the singular
    values of the residual ``R = A - U U^T A`` (descending), ``total = ||A||_F^2``. Returns
    ``len(singular)`` when even all of them fall short (numerically only).
    """
    if total <= 0.0 or covered >= threshold * total:
        return 0
    acc = covered + np.cumsum(np.asarray(singular, dtype=np.float64) ** 2)
    hits = np.flatnonzero(acc >= threshold * total * (1.0 - 1e-12))
    return int(hits[0]) + 1 if hits.size else len(singular)


def extend_basis(
    basis: np.ndarray | None,
    factors: Sequence[np.ndarray],
    threshold: float,
    tail_energy: float = 0.0,
) -> np.ndarray | None:
    """GPSE's basis update: the old basis plus the residual's top directions, orthonormal.

    ``factors`` are the clients' factors ``B_i`` (``d x r_i``, ``B_i B_i^T = A_i A_i^T``); their
    concatenation ``B`` has ``B B^T = A A^T`` for the aggregated representation matrix
    ``A = [A_1 ... A_N]``, so its left singular vectors and energies are those of ``A``.
    With ``R = B - U U^T B`` (``U``: the old basis), ``R = Û Ŝ V̂^T``, the ``k`` of
    :func:`energy_rank` (``covered = ||B||^2 - ||R||^2``) gives ``U <- orth([U, Û_k])``
    (the new columns are re-orthogonalised against ``U``, then QR; at most ``d`` columns).
    ``tail_energy`` is the energy clients left out of capped factors (``strategy.max_rank``):
    it counts in ``total = ||A||_F^2`` and is never covered, so the criterion still asks for
    ``threshold`` of the task's whole energy (when the received directions cannot reach it,
    all of them are added).

    Returns
    -------
    numpy.ndarray or None
        The new basis (float64, ``d x k'``, ``k' >= k``), or ``basis`` when nothing is added.
    """
    mats = [np.asarray(f, dtype=np.float64) for f in factors if f.size]
    if not mats:
        return basis
    b = np.concatenate(mats, axis=1)
    sent = float(np.sum(b * b))
    total = sent + float(tail_energy)
    residual = b if basis is None else b - basis @ (basis.T @ b)
    u, s, _ = np.linalg.svd(residual, full_matrices=False)
    covered = sent - float(np.sum(residual * residual))
    k = energy_rank(s, covered, total, threshold)
    width = 0 if basis is None else basis.shape[1]
    k = min(k, b.shape[0] - width)
    if k <= 0:
        return basis
    new = u[:, :k]
    if basis is None:
        return np.linalg.qr(new)[0]
    new = new - basis @ (basis.T @ new)  # second Gram-Schmidt pass against round-off
    return np.linalg.qr(np.concatenate([basis, new], axis=1))[0]


def project_update(delta: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """FedProject: ``Delta <- Delta - Delta U U^T`` on the layer's input space.

    ``delta`` is a weight update shaped like the weight (``out x d``, or a conv kernel
    ``out x in x kh x kw``, flattened to ``out x d`` in ``nn.Unfold``'s order); ``basis`` is
    ``U`` (``d x k``). The result, reshaped back, satisfies ``Delta' U = 0``: the layer's
    output on any input in ``span(U)`` does not change (FOT Sec. 4, as GPM's gradient
    projection ``g - g U U^T``).
    """
    flat = np.asarray(delta, dtype=np.float64).reshape(delta.shape[0], -1)
    if flat.shape[1] != basis.shape[0]:
        raise ValueError(
            f"update has input dimension {flat.shape[1]}, basis has {basis.shape[0]}"
        )
    projected = flat - (flat @ basis) @ basis.T
    return projected.reshape(delta.shape).astype(delta.dtype, copy=False)
