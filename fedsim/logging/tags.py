"""TensorBoard tag names - the one place that owns them (DESIGN.md rule 10)."""

from __future__ import annotations

CL_METRICS = ("acc", "forgetting", "bwt", "fwt", "aia")


def tag(kind: str, name: str | int | None = None) -> str:
    """Return the TensorBoard tag of a quantity.

    ``kind`` is one of: ``cl`` (CL metric ``name``), ``central_acc`` (mean over tasks, or task
    ``name``), ``client_acc``, ``train_loss``, ``eval_loss``, ``bytes_down``, ``bytes_up``,
    ``bytes_cum``, ``round_time``, ``clients``, ``failures``, ``lr_server``, ``lr_client``,
    ``matrix`` (image ``name``), ``plan`` (text), ``client_lr_hist``, ``trainable_fraction``,
    ``adapter_bytes_ratio``, ``adapter_usage`` (task ``name``).
    """
    table = {
        "cl": "cl/{}",
        "central_acc": "accuracy/central_mean" if name is None else "accuracy_task/task_{}",
        "client_acc": "accuracy/client_eval",
        "train_loss": "loss/train",
        "eval_loss": "loss/client_eval",
        "bytes_down": "comm/bytes_down",
        "bytes_up": "comm/bytes_up",
        "bytes_cum": "comm/bytes_cumulative",
        "round_time": "system/round_time_s",
        "clients": "system/clients_trained",
        "failures": "system/failed_replies",
        "lr_server": "lr/server",
        "lr_client": "lr/client_mean",
        "client_lr_hist": "lr/client_distribution",
        "matrix": "accuracy_matrix/{}",
        "plan": "scenario/plan",
        "trainable_fraction": "adapters/trainable_fraction",
        "adapter_bytes_ratio": "adapters/payload_to_model_bytes",
        "adapter_usage": "adapters/usage_task_{}",
    }
    if kind not in table:
        raise KeyError(f"unknown tag kind '{kind}'")
    pattern = table[kind]
    return pattern.format(name) if "{}" in pattern else pattern
