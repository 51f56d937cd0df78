"""Server-side store of per-client state, keyed by client id (DESIGN.md rule 4)."""

from __future__ import annotations

from flwr.app import ArrayRecord, ConfigRecord


class ClientStore:
    """Client state that travels with messages in simulation.

    Each entry is a ConfigRecord (scalars) and an optional ArrayRecord (tensors). The store
    is part of the checkpointable server state.
    """

    def __init__(self) -> None:
        self._config: dict[int, ConfigRecord] = {}
        self._arrays: dict[int, ArrayRecord] = {}

    def get(self, client_id: int) -> tuple[ConfigRecord | None, ArrayRecord | None]:
        """Return the state records of a client (None when it has none yet)."""
        return self._config.get(client_id), self._arrays.get(client_id)

    def put(self, client_id: int, config: ConfigRecord | None, arrays: ArrayRecord | None) -> None:
        """Replace a client's state with the records of its latest reply."""
        if config is not None:
            self._config[client_id] = config
        if arrays is not None and len(arrays) > 0:
            self._arrays[client_id] = arrays

    def __len__(self) -> int:
        return len(set(self._config) | set(self._arrays))

    def state_dict(self) -> dict:
        """Return a picklable snapshot (plain dicts and numpy arrays)."""
        return {
            "config": {cid: dict(rec) for cid, rec in self._config.items()},
            "arrays": {cid: rec.to_numpy_ndarrays() for cid, rec in self._arrays.items()},
            "array_keys": {cid: list(rec.keys()) for cid, rec in self._arrays.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a snapshot made by :meth:`state_dict`."""
        self._config = {int(c): ConfigRecord(v) for c, v in state["config"].items()}
        self._arrays = {}
        for cid, arrays in state["arrays"].items():
            keys = state["array_keys"][cid]
            self._arrays[int(cid)] = ArrayRecord(
                {k: _array(a) for k, a in zip(keys, arrays, strict=True)}
            )


def _array(a):
    from flwr.app import Array

    return Array(a)
