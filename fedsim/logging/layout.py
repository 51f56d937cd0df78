"""TensorBoard custom-scalars layout: the dashboard a run opens with.

The layout is written once per run (``SummaryWriter.add_custom_scalars``); TensorBoard's
"Custom Scalars" tab then shows the run's curves grouped by what a researcher looks at:
continual-learning metrics, accuracy per task, learning rates, communication and system time.
Every chart is a ``Multiline`` chart of tag regular expressions built from
:mod:`fedsim.logging.tags`, so a renamed tag cannot leave the layout behind.
"""

from __future__ import annotations

from fedsim.logging.tags import family_regex, tag_regex

Layout = dict[str, dict[str, list]]


def _multiline(*regexes: str) -> list:
    return ["Multiline", list(regexes)]


def custom_scalars_layout() -> Layout:
    """The fedsim layout: ``{category: {chart title: ["Multiline", [tag regexes]]}}``."""
    return {
        "CL metrics (client view, running)": {
            "average accuracy ACC and AIA": _multiline(
                tag_regex("cl", "acc"), tag_regex("cl", "aia")
            ),
            "forgetting F": _multiline(tag_regex("cl", "forgetting")),
            "backward / forward transfer (BWT, FWT)": _multiline(
                tag_regex("cl", "bwt"), tag_regex("cl", "fwt")
            ),
        },
        "Accuracy": {
            "global model: accuracy per task": _multiline(family_regex("central_acc")),
            "global model (all tasks) vs clients' own evaluation": _multiline(
                tag_regex("central_acc"), tag_regex("client_acc")
            ),
            "losses": _multiline(tag_regex("train_loss"), tag_regex("eval_loss")),
        },
        "Learning rate": {
            "server and mean client LR": _multiline(
                tag_regex("lr_server"), tag_regex("lr_client")
            ),
        },
        "Communication": {
            "bytes per round (down / up)": _multiline(
                tag_regex("bytes_down"), tag_regex("bytes_up")
            ),
            "cumulative bytes": _multiline(tag_regex("bytes_cum")),
            "mean update norm ||w_k - theta||": _multiline(tag_regex("update_norm")),
        },
        "FCL baselines": {
            "client memory bytes and each mechanism's term": _multiline(
                family_regex("baseline")
            ),
        },
        "FOT": {
            "basis width / input dimension, per layer": _multiline(
                family_regex("fot_basis_share")
            ),
            "bases kept by the server (bytes)": _multiline(tag_regex("fot_basis_bytes")),
        },
        "Privacy": {
            "epsilon (largest over clients, client mean)": _multiline(
                tag_regex("privacy", "epsilon"), tag_regex("privacy", "epsilon_mean")
            ),
            "clip norm, noise multiplier, clipped fraction": _multiline(
                tag_regex("privacy", "clip_norm"),
                tag_regex("privacy", "noise_multiplier"),
                tag_regex("privacy", "clipped_fraction"),
            ),
        },
        "System": {
            "round wall time (s)": _multiline(tag_regex("round_time")),
            "clients trained / failed replies": _multiline(
                tag_regex("clients"), tag_regex("failures")
            ),
        },
    }


def write_layout(writer) -> None:
    """Write the layout into ``writer`` (a ``torch.utils.tensorboard.SummaryWriter``)."""
    writer.add_custom_scalars(custom_scalars_layout())
