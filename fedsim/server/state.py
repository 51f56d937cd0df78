"""The evolving server state: one explicit, checkpointable value (DESIGN.md rule 3).

Every component whose state evolves during a run has a typed field here, filled by
:meth:`ServerState.capture` before each checkpoint and restored by :meth:`ServerState.restore`
on resume: the strategy (Flower optimiser moments; prototype/adapter banks travel in
``arrays``), the LR controller, the client selection (e.g. the client curriculum's scores,
sweeps and pool), the fault model, the virtual grid's deadline bookkeeping, the client store
(task pointers, local prototypes, personal adapters, curricula state of each client) and the
accuracy book, plus the round records (``history``, :mod:`fedsim.server.round_record`). Random
streams need no field: every draw is a fresh generator of
(seed, purpose, round, client) (:mod:`fedsim.seeding`).

A checkpoint (``RUN_DIR/checkpoint.npz``) is data only — JSON plus ``.npy`` arrays, see
:mod:`fedsim.server.checkpoint_codec` — and is tied to its run's config: it records the SHA-256 of
the resolved config without the keys in :data:`UNFINGERPRINTED_KEYS`, and
:func:`load_checkpoint` refuses a config that differs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flwr.app import ArrayRecord
from flwr.serverapp.strategy import Strategy

from fedsim.metrics.accuracy_book import AccuracyBook
from fedsim.server.checkpoint_codec import (
    CheckpointError,
    read_checkpoint,
    read_meta,
    write_checkpoint,
)
from fedsim.server.round_record import RoundRecord
from fedsim.server.strategy_state import StrategyState, load_strategy_state, strategy_state
from fedsim.stateful import Stateful
from fedsim.transport.client_store import ClientStore

__all__ = [
    "CHECKPOINT_NAME",
    "CheckpointError",
    "Components",
    "ServerState",
    "checkpoint_round",
    "config_fingerprint",
    "load_checkpoint",
]

CHECKPOINT_NAME = "checkpoint.npz"
LEGACY_NAME = "checkpoint.pkl"
#: Top-level config keys that may differ between a run and its resume: where output goes and
#: how it is shown (``output``, ``log``), and how the run executes rather than what it computes
#: (``backend``: Ray resources, Flower nodes, message packing — results do not depend on them,
#: DESIGN.md rule 7).
UNFINGERPRINTED_KEYS = ("output", "log", "backend", "hydra")


def config_fingerprint(cfg: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Return (SHA-256, compared part) of a resolved config minus :data:`UNFINGERPRINTED_KEYS`."""
    part = {k: v for k, v in cfg.items() if k not in UNFINGERPRINTED_KEYS}
    privacy = part.get("privacy") or {}
    if privacy and not privacy.get("secagg", False) and "secagg_params" in privacy:
        # unused SecAgg+ knobs: checkpoints from before they existed still resume
        part["privacy"] = {k: v for k, v in privacy.items() if k != "secagg_params"}
    if (part.get("privacy") or {}).get("mode") == "none" and not privacy.get("secagg", False):
        del part["privacy"]  # checkpoints from before the group
    part = json.loads(json.dumps(part, sort_keys=True, default=str))
    canon = json.dumps(part, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode("utf-8")).hexdigest(), part


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            key = f"{prefix}.{k}" if prefix else str(k)
            if k not in a or k not in b:
                out.append(
                    f"{key} ({'absent' if k not in a else a[k]!r} in the checkpoint, "
                    f"{'absent' if k not in b else b[k]!r} in the config)"
                )
            else:
                out += _differences(a[k], b[k], key)
        return out
    return [] if a == b else [f"{prefix} ({a!r} in the checkpoint, {b!r} in the config)"]


def _legacy_refusal(path: Path) -> CheckpointError:
    return CheckpointError(
        f"checkpoint '{path}' is missing; the run has only an old '{LEGACY_NAME}', which "
        "fedsim no longer reads (loading a pickle can run code): start the run again"
    )


def load_checkpoint(path: str | Path, config: Mapping[str, Any] | None = None) -> dict:
    """Read a checkpoint (data only) and return its state; the one reader of checkpoints.

    Parameters
    ----------
    path : str or Path
        A ``checkpoint.npz`` file.
    config : Mapping, optional
        The resolved config of the run about to use it; a checkpoint written under another
        config (see :func:`config_fingerprint`) is refused.

    Raises
    ------
    CheckpointError
        Missing, truncated, corrupt, another format version, pickled objects, another config.
    """
    path = Path(path)
    if not path.exists() and (path.parent / LEGACY_NAME).exists():
        raise _legacy_refusal(path)
    doc, state = read_checkpoint(path)
    if not isinstance(state, dict) or state.get("round") != doc.get("round"):
        raise CheckpointError(f"checkpoint '{path}' is corrupt: header and state disagree")
    if config is not None:
        sha, part = config_fingerprint(config)
        if sha != doc.get("config_sha256"):
            diff = _differences(doc.get("config", {}), part) or ["(unknown keys)"]
            raise CheckpointError(
                f"checkpoint '{path}' was written under another config, refusing to resume: "
                + "; ".join(diff[:3])
                + (f"; and {len(diff) - 3} more" if len(diff) > 3 else "")
            )
    return state


def checkpoint_round(path: str | Path) -> int | None:
    """Return the round a checkpoint holds (None if absent or unreadable)."""
    try:
        return int(read_meta(path)["round"])
    except (CheckpointError, KeyError, TypeError, ValueError):
        return None


@dataclass
class Components:
    """The live server-side objects whose evolving state a :class:`ServerState` holds."""

    strategy: Strategy  # see fedsim.server.strategy_state
    lr_controller: Stateful
    selection: Stateful
    faults: Stateful
    deadlines: Stateful  # the VirtualGrid's deadline bookkeeping

    def __post_init__(self) -> None:
        for name in ("lr_controller", "selection", "faults", "deadlines"):
            part = getattr(self, name)
            if not isinstance(part, Stateful):
                raise TypeError(
                    f"{name} {type(part).__name__} must implement state_dict()/"
                    "load_state_dict() (fedsim.stateful.Stateful) so a run can be resumed"
                )


@dataclass
class ServerState:
    """Round, global arrays, every component's state, client store, accuracies, history.

    Attributes
    ----------
    round : int
        The last finished round (0 before the first).
    arrays : ArrayRecord
        The global arrays (model, or adapter / prototype banks).
    book : AccuracyBook
        Central and per-client accuracy matrices.
    store : ClientStore
        Client state by client id (task pointers, local prototypes, personal adapters, ...).
    strategy_state : StrategyState
        The strategy's evolving state (see :mod:`fedsim.server.strategy_state`).
    lr_state, selection_state, faults_state, deadline_state : dict
        The ``state_dict()`` of the LR controller, the client selection, the fault model and
        the virtual grid's deadline bookkeeping (each component defines its own).
    history : list of RoundRecord
        One record per finished round.
    bytes_total : int
        Array bytes sent and received so far.
    """

    round: int
    arrays: ArrayRecord
    book: AccuracyBook
    store: ClientStore = field(default_factory=ClientStore)
    strategy_state: StrategyState = field(default_factory=StrategyState)
    lr_state: dict[str, Any] = field(default_factory=dict)
    selection_state: dict[str, Any] = field(default_factory=dict)
    faults_state: dict[str, Any] = field(default_factory=dict)
    deadline_state: dict[str, Any] = field(default_factory=dict)
    history: list[RoundRecord] = field(default_factory=list)
    bytes_total: int = 0

    def capture(self, parts: Components) -> None:
        """Copy each component's current state into its field (before a checkpoint)."""
        self.strategy_state = strategy_state(parts.strategy)
        self.lr_state = parts.lr_controller.state_dict()
        self.selection_state = parts.selection.state_dict()
        self.faults_state = parts.faults.state_dict()
        self.deadline_state = parts.deadlines.state_dict()

    def restore(self, parts: Components) -> None:
        """Load each field into the freshly built components (on resume)."""
        load_strategy_state(parts.strategy, self.strategy_state)
        parts.lr_controller.load_state_dict(self.lr_state)
        parts.selection.load_state_dict(self.selection_state)
        parts.faults.load_state_dict(self.faults_state)
        parts.deadlines.load_state_dict(self.deadline_state)

    def to_dict(self) -> dict[str, Any]:
        """Return the snapshot written to a checkpoint (data only)."""
        return {
            "round": self.round,
            "arrays": self.arrays,
            "book": self.book.state_dict(),
            "store": self.store.state_dict(),
            "lr_state": self.lr_state,
            "strategy_state": self.strategy_state.to_dict(),
            "selection_state": self.selection_state,
            "faults_state": self.faults_state,
            "deadline_state": self.deadline_state,
            "history": [record.to_dict() for record in self.history],
            "bytes_total": self.bytes_total,
        }

    def save(self, path: str | Path, config: Mapping[str, Any] | None = None) -> None:
        """Write the snapshot atomically, tied to ``config`` (its fingerprint) when given."""
        sha, part = config_fingerprint(config) if config is not None else (None, None)
        meta = {"round": int(self.round), "config_sha256": sha, "config": part}
        write_checkpoint(path, meta, self.to_dict())

    def load_into(self, snap: dict[str, Any]) -> None:
        """Restore a snapshot returned by :func:`load_checkpoint` into this state."""
        try:
            self.round = int(snap["round"])
            self.arrays = snap["arrays"]
            self.book.load_state_dict(snap["book"])
            self.store.load_state_dict(snap["store"])
            self.lr_state = snap["lr_state"]
            self.strategy_state = StrategyState.from_dict(snap["strategy_state"])
            self.selection_state = snap["selection_state"]
            self.faults_state = snap["faults_state"]
            self.deadline_state = snap["deadline_state"]
            self.history = [RoundRecord.from_dict(row) for row in snap["history"]]
            self.bytes_total = int(snap["bytes_total"])
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"checkpoint state is incomplete: {type(exc).__name__} {exc}"
            ) from None
