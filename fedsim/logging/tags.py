"""TensorBoard tag names - the one place that owns them (DESIGN.md rule 10)."""

from __future__ import annotations

CL_METRICS = ("acc", "forgetting", "bwt", "fwt", "aia")
#: the global model's accuracy on all tasks: last round, best round, final task boundary
#: (``fedsim.metrics.central``); TensorBoard ``final/central_acc_<name>`` at step 0
CENTRAL_HIGHLIGHTS = ("last", "best", "boundary")


def tag(kind: str, name: str | int | None = None) -> str:
    """Return the TensorBoard tag of a quantity.

    ``kind`` is one of: ``cl`` (CL metric ``name``), ``final`` (end-of-run value ``name``:
    a CL metric or ``central_acc_<h>``, ``h`` in :data:`CENTRAL_HIGHLIGHTS`), ``central_acc``
    (mean over tasks, or task ``name``), ``client_acc``, ``train_loss``, ``eval_loss``,
    ``bytes_down``, ``bytes_up``,
    ``bytes_cum``, ``round_time``, ``clients``, ``failures``, ``lr_server``, ``lr_client``,
    ``matrix`` (image ``name``), ``plan`` (text), ``client_lr_hist``, ``client_acc_hist``,
    ``update_norm`` (mean ||w_k - theta|| of a round's replies), ``update_norm_hist``,
    ``proto_bank`` (classes with a prototype), ``proto_projection`` (image), ``proto_distance``,
    ``curriculum`` (curriculum
    scalar ``name``: pacing fraction, difficulty, client pool), ``curriculum_why`` (text: which
    clients were selected and why), ``difficulty_hist``;
    reliability:
    ``rejected`` (invalid replies), ``missed_deadline``, ``unavailable``, ``round_skipped``,
    ``late_dropped``, ``injected`` (fault kind ``name``), ``rejected_clients`` (text table
    per round), ``rejected_hist`` (histogram of rejected client ids);
    adapters: ``trainable_fraction``,
    ``adapter_bytes_ratio``, ``adapter_usage`` (task ``name``);
    FCL baselines: ``baseline`` (``name`` = ``<reply metric>/mean`` or ``/max`` over a round's
    clients: memory bytes of the old model / Fisher / replay buffer, each mechanism's term);
    FOT: ``fot_basis_share`` (layer ``name``: basis width / input dimension),
    ``fot_basis_bytes`` (the server's bases, float32).
    privacy: ``privacy`` (``name`` = ``epsilon`` (largest over clients, or the central
    client-level ε), ``epsilon_mean``, ``clip_norm``, ``noise_multiplier``,
    ``clipped_fraction``).
    """
    table = {
        "cl": "cl/{}",
        "final": "final/{}",
        "central_acc": "accuracy/central_mean" if name is None else "accuracy_task/task_{}",
        "client_acc": "accuracy/client_eval",
        "train_loss": "loss/train",
        "eval_loss": "loss/client_eval",
        "bytes_down": "comm/bytes_down",
        "bytes_up": "comm/bytes_up",
        "bytes_cum": "comm/bytes_cumulative",
        "round_time": "system/round_time_s",
        "client_train_time": "system/client_train_s",
        "clients": "system/clients_trained",
        "failures": "system/failed_replies",
        "lr_server": "lr/server",
        "lr_client": "lr/client_mean",
        "client_lr_hist": "lr/client_distribution",
        "matrix": "accuracy_matrix/{}",
        "plan": "scenario/plan",
        "client_acc_hist": "accuracy/client_eval_distribution",
        "update_norm": "updates/norm_mean",
        "update_norm_hist": "updates/norm_distribution",
        "proto_bank": "prototypes/bank_size",
        "proto_projection": "prototypes/projection_pca",
        "proto_distance": "prototypes/distance_term",
        "curriculum": "curriculum/{}",
        "curriculum_why": "curriculum/selection",
        "difficulty_hist": "curriculum/client_difficulty_distribution",
        "rejected": "faults/rejected_replies",
        "missed_deadline": "faults/missed_deadline",
        "unavailable": "faults/unavailable_clients",
        "round_skipped": "faults/round_skipped",
        "late_dropped": "faults/late_replies_dropped",
        "injected": "faults/injected_{}",
        "rejected_clients": "faults/rejected_clients",
        "rejected_hist": "faults/rejected_client_ids",
        "trainable_fraction": "adapters/trainable_fraction",
        "adapter_bytes_ratio": "adapters/payload_to_model_bytes",
        "adapter_usage": "adapters/usage_task_{}",
        "baseline": "fcl/{}",
        "fot_basis_share": "fot/basis_share/{}",
        "fot_basis_bytes": "fot/basis_bytes",
        "privacy": "privacy/{}",
    }
    if kind not in table:
        raise KeyError(f"unknown tag kind '{kind}'")
    pattern = table[kind]
    return pattern.format(name) if "{}" in pattern else pattern


def tag_regex(kind: str, name: str | int | None = None) -> str:
    """A regular expression matching exactly the tag ``tag(kind, name)``."""
    import re

    return "^" + re.escape(tag(kind, name)) + "$"


def family_regex(kind: str) -> str:
    """A regular expression matching every named tag of ``kind``.

    For ``cl``, ``central_acc`` (per task) and ``matrix``, e.g. ``^accuracy_task/task_.+$``.
    """
    import re

    marker = "\x00"
    return "^" + re.escape(tag(kind, marker)).replace(re.escape(marker), ".+") + "$"
