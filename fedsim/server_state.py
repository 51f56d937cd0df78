"""The evolving server state: one explicit, checkpointable value (DESIGN.md rule 3)."""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flwr.app import Array, ArrayRecord

from fedsim.accuracy import AccuracyBook
from fedsim.client_store import ClientStore

CHECKPOINT_VERSION = 1


@dataclass
class ServerState:
    """Round, global arrays, controller/strategy state, client store, accuracies, history."""

    round: int
    arrays: ArrayRecord
    book: AccuracyBook
    store: ClientStore = field(default_factory=ClientStore)
    lr_state: dict = field(default_factory=dict)
    strategy_state: dict = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    bytes_total: int = 0

    def to_dict(self) -> dict:
        """Return a picklable snapshot."""
        return {
            "version": CHECKPOINT_VERSION,
            "round": self.round,
            "array_keys": list(self.arrays.keys()),
            "arrays": self.arrays.to_numpy_ndarrays(),
            "book": self.book.state_dict(),
            "store": self.store.state_dict(),
            "lr_state": self.lr_state,
            "strategy_state": self.strategy_state,
            "history": self.history,
            "bytes_total": self.bytes_total,
        }

    def save(self, path: str | Path) -> None:
        """Write the snapshot atomically (temp file, fsync, rename)."""
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(self.to_dict(), fh, protocol=pickle.HIGHEST_PROTOCOL)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def load_into(self, snap: dict) -> None:
        """Restore a snapshot made by :meth:`to_dict` into this state."""
        if snap.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"checkpoint version {snap.get('version')} is not supported")
        self.round = int(snap["round"])
        self.arrays = ArrayRecord(
            {k: Array(a) for k, a in zip(snap["array_keys"], snap["arrays"], strict=True)}
        )
        self.book.load_state_dict(snap["book"])
        self.store.load_state_dict(snap["store"])
        self.lr_state = snap["lr_state"]
        self.strategy_state = snap["strategy_state"]
        self.history = list(snap["history"])
        self.bytes_total = int(snap["bytes_total"])
