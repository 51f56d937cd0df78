"""The evolving server state: one explicit, checkpointable value (DESIGN.md rule 3).

A checkpoint file is a fixed header followed by the pickled snapshot::

    b"FEDSIMCK" | format version (u32) | round (u64) | payload length (u64) | sha256 (32 B)

It is written to a temp file, fsynced and renamed over the old one, and :func:`load_checkpoint`
rejects a file whose header, length or checksum do not match (a torn or truncated write).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flwr.app import Array, ArrayRecord

from fedsim.accuracy import AccuracyBook
from fedsim.client_store import ClientStore
from fedsim.errors import FedsimError

CHECKPOINT_VERSION = 1
MAGIC = b"FEDSIMCK"
_HEADER = struct.Struct("<8sIQQ32s")


class CheckpointError(FedsimError):
    """A checkpoint file is missing, torn, truncated or of another format."""


def encode_checkpoint(snap: dict) -> bytes:
    """Return header + pickled ``snap`` (the bytes of a checkpoint file)."""
    payload = pickle.dumps(snap, protocol=pickle.HIGHEST_PROTOCOL)
    digest = hashlib.sha256(payload).digest()
    header = _HEADER.pack(MAGIC, CHECKPOINT_VERSION, int(snap["round"]), len(payload), digest)
    return header + payload


def checkpoint_round(path: str | Path) -> int | None:
    """Return the round recorded in a checkpoint's header (None if absent or unreadable)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEADER.size)
    except OSError:
        return None
    if len(head) < _HEADER.size:
        return None
    magic, _, rnd, _, _ = _HEADER.unpack(head)
    return int(rnd) if magic == MAGIC else None


def load_checkpoint(path: str | Path) -> dict:
    """Read and verify a checkpoint; raise :class:`CheckpointError` naming the file otherwise."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"checkpoint '{path}' cannot be read: {exc.strerror}") from None
    if len(blob) < _HEADER.size:
        raise CheckpointError(f"checkpoint '{path}' is truncated ({len(blob)} bytes, no header)")
    magic, version, rnd, length, digest = _HEADER.unpack(blob[: _HEADER.size])
    if magic != MAGIC:
        raise CheckpointError(f"'{path}' is not a fedsim checkpoint (bad magic bytes)")
    if version != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint '{path}' has format version {version}, "
            f"this fedsim reads {CHECKPOINT_VERSION}"
        )
    payload = blob[_HEADER.size :]
    if len(payload) != length:
        raise CheckpointError(
            f"checkpoint '{path}' is truncated or torn: {len(payload)} of {length} payload bytes"
        )
    if hashlib.sha256(payload).digest() != digest:
        raise CheckpointError(f"checkpoint '{path}' is corrupt: checksum mismatch")
    snap = pickle.loads(payload)
    if int(snap.get("round", -1)) != rnd:
        raise CheckpointError(f"checkpoint '{path}' header and body disagree on the round")
    return snap


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
        blob = encode_checkpoint(self.to_dict())
        with open(tmp, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def load_into(self, snap: dict) -> None:
        """Restore a snapshot made by :meth:`to_dict` into this state."""
        if snap.get("version") != CHECKPOINT_VERSION:
            raise CheckpointError(f"checkpoint version {snap.get('version')} is not supported")
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
