"""Checkpoints as data: a JSON tree plus named numpy arrays in one ``.npz`` file.

Nothing in a checkpoint can execute when it is read: the file is a zip of ``.npy`` members
loaded with ``numpy.load(..., allow_pickle=False)`` (an object array, i.e. pickled Python
objects, is refused), and everything that is not an array is JSON. The member ``__fedsim__``
holds the UTF-8 JSON document::

    {"format": "fedsim-checkpoint", "version": 3, "round": 7, "config_sha256": "...",
     "arrays": {"a0": ["float32", [10, 64]], ...}, "state": <tree>}

``state`` is the encoded value of :func:`encode`: JSON scalars, lists and string-keyed
objects as themselves; everything else as a one-key object naming its kind —
``{"__array__": "a0"}`` (a reference to a member), ``{"__scalar__": "a1"}`` (a numpy scalar,
stored as a 0-d array so its dtype survives), ``{"__arrayrecord__": [[key, "a2"], ...]}``,
``{"__configrecord__": {...}}``, ``{"__bytes__": base64}``, ``{"__tuple__": [...]}``,
``{"__set__": [...]}``, ``{"__float__": "nan" | "inf" | "-inf"}`` and
``{"__dict__": [[key, value], ...]}`` (a dict whose keys are not all strings, e.g. client ids).
Any other type is refused at *save* time with the path of the value in the tree.

A file is written to a temp file, fsynced and renamed over the previous one, so a crash
mid-write leaves the previous checkpoint; a truncated or bit-flipped file fails the zip's
CRC-32 checks or its structure and is refused (a flip in a zip field that does not change
the stored data is harmless and may pass).
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord

from fedsim.errors import FedsimError

FORMAT = "fedsim-checkpoint"
#: 3: round records (``fedsim.server.round_record``) and a typed strategy state (2: plain rows).
VERSION = 3
META = "__fedsim__"
ZIP_MAGIC = b"PK\x03\x04"
MARKERS = frozenset(
    {
        "__array__",
        "__scalar__",
        "__arrayrecord__",
        "__configrecord__",
        "__bytes__",
        "__tuple__",
        "__set__",
        "__float__",
        "__dict__",
    }
)


class CheckpointError(FedsimError):
    """A checkpoint is missing, torn, corrupt, of another version or config, or not data."""


class _Encoder:
    """Turn a nested value into a JSON tree, collecting its arrays under generated names."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def _ref(self, value: np.ndarray, where: str) -> str:
        if value.dtype.hasobject:
            raise CheckpointError(
                f"cannot checkpoint {where}: a numpy array of dtype {value.dtype} holds Python "
                "objects (checkpoints hold only numeric/bool/string arrays)"
            )
        name = f"a{len(self.arrays)}"
        self.arrays[name] = np.array(value, copy=True)
        return name

    def encode(self, value: Any, where: str) -> Any:  # noqa: PLR0911 - one branch per kind
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, np.generic):  # before float: np.float64 subclasses float
            return {"__scalar__": self._ref(np.asarray(value), where)}
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if isinstance(value, np.ndarray):
            return {"__array__": self._ref(value, where)}
        if isinstance(value, ArrayRecord):
            return {
                "__arrayrecord__": [
                    [k, self._ref(value[k].numpy(), f"{where}[{k!r}]")] for k in value.keys()
                ]
            }
        if isinstance(value, ConfigRecord):
            return {"__configrecord__": self.encode(dict(value), where)}
        if isinstance(value, bytes):
            return {"__bytes__": base64.b64encode(value).decode("ascii")}
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, set | frozenset):
            items = sorted(value, key=repr)
            return {"__set__": [self.encode(v, f"{where}{{}}") for v in items]}
        if isinstance(value, dict):
            return self._dict(value, where)
        raise CheckpointError(
            f"cannot checkpoint {where}: values of type {type(value).__module__}."
            f"{type(value).__qualname__} are not data (a checkpoint holds JSON scalars, lists, "
            "dicts, tuples, bytes, numpy arrays/scalars and Flower Array/ConfigRecords); "
            "make the component's state_dict() return those"
        )

    def _dict(self, value: dict, where: str) -> Any:
        plain = all(isinstance(k, str) for k in value) and not (
            len(value) == 1 and next(iter(value)) in MARKERS
        )
        if plain:
            return {k: self.encode(v, f"{where}.{k}") for k, v in value.items()}
        pairs = []
        for k, v in value.items():
            if isinstance(k, dict | list | set | np.ndarray):
                raise CheckpointError(f"cannot checkpoint {where}: unhashable-like key {k!r}")
            pairs.append([self.encode(k, f"{where} key"), self.encode(v, f"{where}[{k!r}]")])
        return {"__dict__": pairs}


def encode(value: Any, root: str = "state") -> tuple[Any, dict[str, np.ndarray]]:
    """Return (JSON tree, arrays by name) of ``value``; :class:`CheckpointError` if not data."""
    enc = _Encoder()
    return enc.encode(value, root), enc.arrays


def decode(tree: Any, arrays: dict[str, np.ndarray]) -> Any:  # noqa: PLR0911
    """Inverse of :func:`encode`."""
    if isinstance(tree, list):
        return [decode(v, arrays) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if len(tree) == 1 and next(iter(tree)) in MARKERS:
        kind, body = next(iter(tree.items()))
        if kind == "__array__":
            return np.array(arrays[body], copy=True)
        if kind == "__scalar__":
            return arrays[body][()]
        if kind == "__arrayrecord__":
            return ArrayRecord({k: Array(np.array(arrays[ref], copy=True)) for k, ref in body})
        if kind == "__configrecord__":
            return ConfigRecord(decode(body, arrays))
        if kind == "__bytes__":
            return base64.b64decode(body.encode("ascii"), validate=True)
        if kind == "__tuple__":
            return tuple(decode(v, arrays) for v in body)
        if kind == "__set__":
            return {decode(v, arrays) for v in body}
        if kind == "__float__":
            return float(body)
        return {decode(k, arrays): decode(v, arrays) for k, v in body}
    return {k: decode(v, arrays) for k, v in tree.items()}


def write_checkpoint(path: str | Path, meta: dict[str, Any], state: Any) -> None:
    """Encode ``state`` and write ``meta`` + state atomically to ``path`` (temp, fsync, rename)."""
    path = Path(path)
    tree, arrays = encode(state)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        **meta,
        "arrays": {k: [str(a.dtype.str), list(a.shape)] for k, a in arrays.items()},
        "state": tree,
    }
    blob = json.dumps(doc, allow_nan=False, separators=(",", ":")).encode("utf-8")
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **{META: np.frombuffer(blob, dtype=np.uint8)}, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _open(path: Path) -> bytes:
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint '{path}' does not exist") from None
    except OSError as exc:
        raise CheckpointError(f"checkpoint '{path}' cannot be read: {exc.strerror}") from None
    if not blob.startswith(ZIP_MAGIC):
        raise CheckpointError(
            f"'{path}' is not a fedsim checkpoint (not an .npz archive; "
            f"{'truncated' if len(blob) < len(ZIP_MAGIC) else 'wrong magic bytes'})"
        )
    return blob


def _members(path: Path, blob: bytes, meta_only: bool) -> tuple[dict, dict[str, np.ndarray]]:
    """Load the JSON document and (unless ``meta_only``) every array member, as data only."""
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            if META not in npz.files:
                raise CheckpointError(f"'{path}' is not a fedsim checkpoint (no {META} member)")
            doc = json.loads(npz[META].tobytes().decode("utf-8"))
            arrays = {} if meta_only else {n: npz[n] for n in npz.files if n != META}
            if any(not isinstance(a, np.ndarray) for a in arrays.values()):
                raise CheckpointError(f"checkpoint '{path}' is corrupt: a member is not .npy")
    except CheckpointError:
        raise
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "pickled" in str(exc):
            raise CheckpointError(
                f"checkpoint '{path}' holds pickled Python objects; refusing to load it "
                "(a fedsim checkpoint is data only, and unpickling can run code)"
            ) from None
        raise CheckpointError(f"checkpoint '{path}' is corrupt: {exc}") from None
    except (zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointError(f"checkpoint '{path}' is truncated, torn or corrupt: {exc}") from None
    except Exception as exc:  # any malformed byte sequence: never a traceback
        raise CheckpointError(
            f"checkpoint '{path}' is corrupt: {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(f"'{path}' is not a fedsim checkpoint (format field)")
    if doc.get("version") != VERSION:
        older = isinstance(doc.get("version"), int) and doc["version"] < VERSION
        raise CheckpointError(
            f"checkpoint '{path}' has format version {doc.get('version')}, "
            f"this fedsim reads version {VERSION}"
            + ("; it was written by an older fedsim: start the run again" if older else "")
        )
    return doc, arrays


def read_meta(path: str | Path) -> dict:
    """Return a checkpoint's JSON document (version-checked) without its arrays."""
    path = Path(path)
    doc, _ = _members(path, _open(path), meta_only=True)
    return doc


def read_checkpoint(path: str | Path) -> tuple[dict, Any]:
    """Return (JSON document without ``state``, decoded state) of a checkpoint file."""
    path = Path(path)
    doc, arrays = _members(path, _open(path), meta_only=False)
    declared = doc.get("arrays", {})
    if set(declared) != set(arrays):
        raise CheckpointError(
            f"checkpoint '{path}' is corrupt: its arrays ({len(arrays)}) do not match the "
            f"{len(declared)} it declares"
        )
    for name, (dtype, shape) in declared.items():
        a = arrays[name]
        if a.dtype.str != dtype or list(a.shape) != list(shape):
            raise CheckpointError(
                f"checkpoint '{path}' is corrupt: array {name} is {a.dtype.str}{list(a.shape)}, "
                f"declared {dtype}{list(shape)}"
            )
    try:
        state = decode(doc.pop("state"), arrays)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint '{path}' is corrupt: {type(exc).__name__}: {exc}"
        ) from None
    return doc, state
