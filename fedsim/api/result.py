"""What a run leaves behind, as one object: :class:`Result` and :func:`load_result`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fedsim.errors import FedsimError

#: the continual-learning metrics of ``summary.json``'s ``final`` (DESIGN.md rule 10)
CL_METRICS = ("acc", "forgetting", "bwt", "fwt", "aia")


def _matrix(value: Any) -> np.ndarray | None:
    """A JSON matrix (``None`` for NaN) as a float array with NaN; ``None`` if absent."""
    if value is None:
        return None
    rows = [[np.nan if v is None else float(v) for v in row] for row in value]
    return np.asarray(rows, dtype=float).reshape(len(rows), -1) if rows else np.zeros((0, 0))


@dataclass(frozen=True)
class Result:
    """One run: its status, metrics, accuracy matrices and per-round records.

    Attributes
    ----------
    run_dir : pathlib.Path
        The run directory (``config.yaml``, ``status.json``, ``summary.json``, ``tb/``,
        ``checkpoint.npz``).
    status : str
        ``completed`` | ``degraded`` | ``failed`` | ``running`` (``status.json``).
    reason : str or None
        Why the run is not ``completed`` (or the error of a failed run).
    config : dict
        The resolved config the run used.
    summary : dict
        ``summary.json`` as written (empty when the run never finished).
    """

    run_dir: Path
    status: str
    reason: str | None
    config: dict[str, Any] = field(repr=False)
    summary: dict[str, Any] = field(repr=False)

    @property
    def metrics(self) -> dict[str, float | None]:
        """Final ACC, forgetting, BWT, FWT, AIA of the federation, and ``central_acc``.

        ``central_acc`` is the global model's mean accuracy over all tasks at the last round.
        """
        final = self.summary.get("final", {})
        out = {k: final.get(k) for k in CL_METRICS}
        out["central_acc"] = self.summary.get("final_central_acc")
        return out

    @property
    def accuracy_matrix(self) -> np.ndarray | None:
        """The federation's accuracy matrix ``A[i, j]`` (mean over clients).

        Row i: after the client's task i; column j: its task j; NaN where not scored.
        """
        return _matrix(self.summary.get("federation_matrix"))

    @property
    def central_matrix(self) -> np.ndarray | None:
        """The global model's accuracy on each task (rows: :attr:`central_rounds`)."""
        return _matrix(self.summary.get("central_matrix"))

    @property
    def central_rounds(self) -> list[int]:
        """The rounds of :attr:`central_matrix`'s rows."""
        return [int(r) for r in self.summary.get("central_rounds", [])]

    @property
    def client_matrices(self) -> dict[int, np.ndarray]:
        """Each evaluated client's own accuracy matrix, by client id."""
        found = self.summary.get("client_matrices", {})
        return {int(c): m for c, v in found.items() if (m := _matrix(v)) is not None}

    @property
    def rounds(self) -> list[dict[str, Any]]:
        """Per-round records (``summary.json``'s ``history``: losses, accuracies, bytes...)."""
        return list(self.summary.get("history", []))

    def __str__(self) -> str:
        acc = self.metrics.get("acc")
        shown = "n/a" if acc is None else f"{acc:.4f}"
        return f"Result({self.status}, ACC={shown}, run_dir='{self.run_dir}')"


def read_json_object(path: Path, key: str = "run_dir") -> dict[str, Any]:
    """A run directory's JSON file as a dict; one-line :class:`FedsimError` naming ``key``."""
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FedsimError(f"{key}: '{path}' is not readable JSON ({exc})") from None
    if not isinstance(value, dict):
        raise FedsimError(f"{key}: '{path}' does not hold a JSON object")
    return value


def load_result(run_dir: str | Path) -> Result:
    """Read a finished (or failed, or still running) run directory.

    Raises
    ------
    FedsimError
        ``run_dir`` is not a fedsim run directory (no ``config.yaml``), or a file is corrupt.
    """
    from fedsim.api.resume import load_run_config

    path = Path(run_dir).expanduser().resolve()
    if not (path / "config.yaml").is_file():
        raise FedsimError(f"run_dir: '{path}' has no config.yaml (not a fedsim run directory)")
    status = read_json_object(path / "status.json") if (path / "status.json").is_file() else {}
    summary = read_json_object(path / "summary.json") if (path / "summary.json").is_file() else {}
    state = str(status.get("state") or summary.get("status") or "unknown")
    reason = status.get("reason") or status.get("error") or summary.get("status_reason")
    return Result(
        run_dir=path,
        status=state,
        reason=None if reason is None else str(reason),
        config=load_run_config(path / "config.yaml"),
        summary=summary,
    )
