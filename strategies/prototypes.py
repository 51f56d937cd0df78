"""Prototype maths shared by the prototype strategies, as free functions (DESIGN.md rule 1).

Two wire layouts are used (key names in :mod:`fedsim.wire`):

* the **global bank** is dense and of fixed shape, so that the checkpoint, the LR controllers
  and the byte counts see stable arrays: ``proto.means`` ``[C, d]`` (float32) and
  ``proto.counts`` ``[C]`` (float64, 0 for a class nobody has contributed yet);
* a **client contribution** is sparse, only the classes the client holds:
  ``proto.classes`` ``[k]`` (int64), ``proto.means`` ``[k, d]`` and ``proto.counts`` ``[k]``.

Merges are pure numpy and never mutate their inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from flwr.app import Array, ArrayRecord
from torch import nn

from fedsim import wire
from fedsim.device import model_device
from fedsim.models.prototype_head import PrototypeClassifier

PROTO_KEYS = (wire.PROTO_CLASSES, wire.PROTO_MEANS, wire.PROTO_COUNTS)


@dataclass(frozen=True)
class Contribution:
    """One client's per-class mean embeddings and example counts (sparse)."""

    classes: np.ndarray  # [k] int64
    means: np.ndarray  # [k, d] float
    counts: np.ndarray  # [k] float (> 0)


def empty_bank(num_classes: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Return an empty dense bank ``(means [C, d], counts [C])``."""
    if int(num_classes) < 1 or int(dim) < 1:
        raise ValueError(f"bank needs num_classes >= 1 and dim >= 1, got {num_classes}, {dim}")
    return np.zeros((int(num_classes), int(dim)), np.float32), np.zeros(int(num_classes))


def bank_to_arrays(means: np.ndarray, counts: np.ndarray) -> ArrayRecord:
    """Pack a dense bank into an ArrayRecord (``proto.means``, ``proto.counts``)."""
    return ArrayRecord(
        {
            wire.PROTO_MEANS: Array(np.ascontiguousarray(means, dtype=np.float32)),
            wire.PROTO_COUNTS: Array(np.ascontiguousarray(counts, dtype=np.float64)),
        }
    )


def bank_from_arrays(arrays: ArrayRecord) -> tuple[np.ndarray, np.ndarray]:
    """Unpack a dense bank; raise ValueError when the record carries none."""
    if wire.PROTO_MEANS not in arrays or wire.PROTO_COUNTS not in arrays:
        raise ValueError(f"arrays carry no prototype bank ('{wire.PROTO_MEANS}' missing)")
    means = arrays[wire.PROTO_MEANS].numpy().astype(np.float32)
    counts = np.maximum(arrays[wire.PROTO_COUNTS].numpy().astype(np.float64), 0.0)
    return means, counts


def without_bank(arrays: ArrayRecord) -> ArrayRecord:
    """Return the record minus the prototype keys (the model weights, if any)."""
    return ArrayRecord({k: arrays[k] for k in arrays.keys() if k not in PROTO_KEYS})


def with_bank(weights: ArrayRecord, means: np.ndarray, counts: np.ndarray) -> ArrayRecord:
    """Return ``weights`` plus a dense bank in one ArrayRecord."""
    out = {k: weights[k] for k in weights.keys()}
    bank = bank_to_arrays(means, counts)
    out.update({k: bank[k] for k in bank.keys()})
    return ArrayRecord(out)


def contribution_to_arrays(c: Contribution) -> dict[str, Array]:
    """Wire form of a client contribution (merge into the reply's ArrayRecord)."""
    return {
        wire.PROTO_CLASSES: Array(np.ascontiguousarray(c.classes, dtype=np.int64)),
        wire.PROTO_MEANS: Array(np.ascontiguousarray(c.means, dtype=np.float32)),
        wire.PROTO_COUNTS: Array(np.ascontiguousarray(c.counts, dtype=np.float64)),
    }


def contribution_from_arrays(arrays: ArrayRecord) -> Contribution:
    """Read a client contribution from a reply's ArrayRecord (checked beforehand)."""
    return Contribution(
        classes=arrays[wire.PROTO_CLASSES].numpy().astype(np.int64).reshape(-1),
        means=arrays[wire.PROTO_MEANS].numpy().astype(np.float64),
        counts=arrays[wire.PROTO_COUNTS].numpy().astype(np.float64).reshape(-1),
    )


def check_contribution(arrays: ArrayRecord, num_classes: int, dim: int) -> str | None:
    """Return why a contribution is malformed (naming the key), or None when it is fine."""
    for key in PROTO_KEYS:
        if key not in arrays:
            return f"reply lacks key '{wire.ARRAYS}.{key}'"
    classes = arrays[wire.PROTO_CLASSES].numpy()
    means = arrays[wire.PROTO_MEANS].numpy()
    counts = arrays[wire.PROTO_COUNTS].numpy()
    k = classes.reshape(-1).shape[0]
    if means.ndim != 2:
        key = f"{wire.ARRAYS}.{wire.PROTO_MEANS}"
        return f"reply key '{key}': shape {means.shape}, expected (k, {dim})"
    if means.shape[1] != dim:
        return (
            f"reply key '{wire.ARRAYS}.{wire.PROTO_MEANS}': embedding dim {means.shape[1]}, "
            f"expected {dim}"
        )
    if means.shape[0] != k or counts.reshape(-1).shape[0] != k:
        return (
            f"reply keys '{wire.ARRAYS}.proto.*' disagree: {k} classes, {means.shape[0]} means, "
            f"{counts.reshape(-1).shape[0]} counts"
        )
    if k and (classes.min() < 0 or classes.max() >= num_classes):
        return f"reply key '{wire.ARRAYS}.{wire.PROTO_CLASSES}': label outside 0..{num_classes - 1}"
    if len(np.unique(classes)) != k:
        return f"reply key '{wire.ARRAYS}.{wire.PROTO_CLASSES}': repeated class"
    if k and not np.all(counts > 0):
        return f"reply key '{wire.ARRAYS}.{wire.PROTO_COUNTS}': counts must be > 0"
    return None


def merge_online(
    means: np.ndarray, counts: np.ndarray, contributions: Sequence[Contribution]
) -> tuple[np.ndarray, np.ndarray]:
    """Count-weighted online averaging (Federated Reconnaissance, the paper's rule).

    ``p_c <- (N_c p_c + sum_k n_k m_{c,k}) / (N_c + sum_k n_k)`` and ``N_c <- N_c + sum_k n_k``
    for every class any client contributed; the bank covers the union of classes. No
    hyper-parameter, no gradient step; independent of the order of the contributions.
    """
    total = means.astype(np.float64) * counts[:, None]
    new_counts = counts.astype(np.float64).copy()
    for c in contributions:
        total[c.classes] += c.means * c.counts[:, None]
        new_counts[c.classes] += c.counts
    out = means.astype(np.float64).copy()
    seen = new_counts > 0
    out[seen] = total[seen] / new_counts[seen, None]
    return out.astype(np.float32), new_counts


def merge_code_faithful(
    means: np.ndarray, counts: np.ndarray, contributions: Sequence[Contribution]
) -> tuple[np.ndarray, np.ndarray]:
    """The official fed-recon code's merge (``FederatedProtoNet.merge_models``), bias included.

    Each client first updates its copy of the *old* bank, ``p^k = (N p + n m) / (N + n)``; the
    server then folds the clients in order with ``p <- p + n/(N_cur + n) (p^k - p)``. Exact for a
    class new to the server, biased (weight ``(n/(N+n))^2``) for a class it already had.
    """
    old_p, old_n = means.astype(np.float64), counts.astype(np.float64)
    p, n_cur = old_p.copy(), old_n.copy()
    for c in contributions:
        for cls, m, n in zip(c.classes, c.means, c.counts, strict=True):
            client_p = (old_n[cls] * old_p[cls] + n * m) / (old_n[cls] + n)
            p[cls] = p[cls] + (n / (n_cur[cls] + n)) * (client_p - p[cls])
            n_cur[cls] += n
    return p.astype(np.float32), n_cur


def mean_over_clients(
    num_classes: int, dim: int, contributions: Sequence[Contribution], weighted: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """FedProto's global prototypes from this round's contributions alone.

    ``weighted=True``: the paper's count-weighted mean ``sum_i |D_ij| C_i^j / sum_i |D_ij|``;
    ``weighted=False``: the official code's plain mean over the clients holding class ``j``
    (``proto_aggregation``). Counts of the returned bank are the summed example counts.
    """
    total = np.zeros((num_classes, dim))
    weight = np.zeros(num_classes)
    counts = np.zeros(num_classes)
    for c in contributions:
        w = c.counts if weighted else np.ones_like(c.counts)
        total[c.classes] += c.means * w[:, None]
        weight[c.classes] += w
        counts[c.classes] += c.counts
    out = np.zeros((num_classes, dim), np.float32)
    seen = weight > 0
    out[seen] = total[seen] / weight[seen, None]
    return out, counts


def bank_size(counts: np.ndarray) -> int:
    """Number of classes that have a prototype."""
    return int(np.count_nonzero(np.asarray(counts) > 0))


def check_prototype_reply(
    reply, num_classes: int, dim: int, weights_ref: ArrayRecord | None
) -> str | None:
    """Validate a prototype strategy's train reply; the reason names the client and the key.

    ``weights_ref``: the global weights the reply must carry (same keys and shapes), or None
    when the reply must carry *only* the prototype keys (e.g. FedProto: never weights).
    """
    cid = reply.content[wire.METRICS].get(wire.REPLY_CLIENT_ID, "?")
    arrays = reply.content[wire.ARRAYS]
    reason = check_contribution(arrays, num_classes, dim)
    others = [k for k in arrays.keys() if k not in PROTO_KEYS]
    if reason is None and weights_ref is None and others:
        reason = f"reply key '{wire.ARRAYS}.{sorted(others)[0]}' is not allowed (prototypes only)"
    if reason is None and weights_ref is not None:
        for key in weights_ref.keys():
            if key not in arrays:
                reason = f"reply lacks key '{wire.ARRAYS}.{key}'"
                break
            if tuple(arrays[key].shape) != tuple(weights_ref[key].shape):
                reason = (
                    f"reply key '{wire.ARRAYS}.{key}': shape {tuple(arrays[key].shape)}, "
                    f"expected {tuple(weights_ref[key].shape)}"
                )
                break
        extra = sorted(set(others) - set(weights_ref.keys()))
        if reason is None and extra:
            reason = f"reply key '{wire.ARRAYS}.{extra[0]}' is unexpected"
    return None if reason is None else f"client {cid}: {reason}"


def weighted_train_loss(replies) -> float:
    """Mean ``train-loss`` over replies weighted by ``num-examples`` (NaN losses skipped)."""
    num, den = 0.0, 0.0
    for r in replies:
        m = r.content[wire.METRICS]
        loss, n = float(m.get(wire.TRAIN_LOSS, float("nan"))), float(m[wire.NUM_EXAMPLES])
        if np.isfinite(loss):
            num, den = num + n * loss, den + n
    return num / den if den > 0 else float("nan")


def classifier_for(model: nn.Module, arrays: ArrayRecord, config: Mapping) -> nn.Module:
    """The model a client predicts with: nearest global prototype, or its own head.

    With ``proto.inference = "prototype"`` and an empty bank (no class has a prototype yet)
    the head is used, so round-0 style evaluations stay defined.
    """
    if str(config.get(wire.PROTO_INFERENCE, "prototype")) == "head":
        return model
    means, counts = bank_from_arrays(arrays)
    if not np.any(counts > 0):
        return model
    return PrototypeClassifier(model, means, counts).to(model_device(model))  # bank: to the model


def reweight_weights(
    prototypes: np.ndarray, features: np.ndarray, temperature: float = 0.2
) -> np.ndarray:
    """PILoRA's prototype re-weighting of one class over the clients that sent it.

    Guo et al., "PILoRA" (ECCV 2024), the prototype re-weight module, as in the official
    ``compute_weight``: client ``k``'s prototype ``P_k`` gets the heuristic score
    ``r_k = 1 / sum_i ||P_k - F_i||_2`` over the class-mean features ``F_i`` of every client
    ``i`` that holds the class (a prototype close to everyone's features is trusted more);
    the scores are min-max normalised, ``r~_k = (r_k - min r) / (max r - min r)``, and
    ``w = softmax(r~ / tau)``. With one client, or equal scores, the weights are uniform
    (the code divides 0 by 0 there).

    Parameters
    ----------
    prototypes, features : numpy.ndarray
        ``[K, d]``: each client's prototype and class-mean feature, same client order.
    temperature : float
        ``tau > 0`` (0.2 in the official code).

    Returns
    -------
    numpy.ndarray
        ``[K]`` weights summing to 1.
    """
    p = np.asarray(prototypes, dtype=np.float64)
    f = np.asarray(features, dtype=np.float64)
    dist = np.sqrt(((p[:, None, :] - f[None, :, :]) ** 2).sum(-1)).sum(axis=1)
    score = 1.0 / np.maximum(dist, 1e-12)
    span = score.max() - score.min()
    if len(score) == 1 or span <= 0:
        return np.full(len(score), 1.0 / len(score))
    logits = (score - score.min()) / span / float(temperature)
    w = np.exp(logits - logits.max())
    return w / w.sum()


def reweighted_prototypes(
    num_classes: int,
    dim: int,
    contributions: Sequence[Contribution],
    features: Sequence[np.ndarray],
    temperature: float = 0.2,
) -> tuple[np.ndarray, np.ndarray]:
    """Per class, ``P_c = sum_k w_k P_c^k`` with :func:`reweight_weights` (PILoRA's server).

    ``features[k]`` holds client ``k``'s class-mean features, row for row with
    ``contributions[k].classes``. Returns the dense bank of this round (classes nobody sent:
    zero rows) and the summed example counts.
    """
    protos: dict[int, list[np.ndarray]] = {}
    feats: dict[int, list[np.ndarray]] = {}
    counts = np.zeros(num_classes)
    for c, f in zip(contributions, features, strict=True):
        for row, cls in enumerate(c.classes):
            protos.setdefault(int(cls), []).append(c.means[row])
            feats.setdefault(int(cls), []).append(np.asarray(f)[row])
            counts[int(cls)] += c.counts[row]
    out = np.zeros((num_classes, dim), np.float32)
    for cls in sorted(protos):
        w = reweight_weights(np.stack(protos[cls]), np.stack(feats[cls]), temperature)
        out[cls] = (w[:, None] * np.stack(protos[cls]).astype(np.float64)).sum(0)
    return out, counts
