"""Submit a run with ``flwr run`` and find out how it really ended.

``flwr run --stream`` exits 0 even when the run failed (flower-1.42 notes §5.8), so the outcome
comes from the SuperLink's run status (``flwr ls --run-id``) and, where the run directory is
visible from here, from its ``status.json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedsim.deployment.federation import DeploymentError
from fedsim.deployment.processes import executable, flower_env, run_flwr

FINISHED = "finished"
COMPLETED = "finished:completed"
LOG_TAIL_LINES = 40
RUN_DIR_MARK = "fedsim: run directory "


def toml_value(value: Any) -> str:
    """A TOML literal for a run-config value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


@dataclass
class RunOutcome:
    """How a submitted run ended."""

    run_id: int
    status: str
    details: str = ""
    log_tail: list[str] = field(default_factory=list)
    run_dir: Path | None = None

    @property
    def ok(self) -> bool:
        """Completed according to the SuperLink and, if readable, to ``status.json``."""
        if self.status != COMPLETED:
            return False
        state = self.run_dir_state()
        return state in (None, "completed")

    def run_dir_state(self) -> str | None:
        """``state`` from the run directory's ``status.json`` (None if not readable here)."""
        if self.run_dir is None or not (self.run_dir / "status.json").is_file():
            return None
        return json.loads((self.run_dir / "status.json").read_text()).get("state")

    def run_dir_error(self) -> str | None:
        """``error`` from the run directory's ``status.json``."""
        if self.run_dir is None or not (self.run_dir / "status.json").is_file():
            return None
        return json.loads((self.run_dir / "status.json").read_text()).get("error")


def flwr_error(res: subprocess.CompletedProcess) -> str:
    """One line saying why a ``flwr ... --format json`` call failed.

    ``flwr`` answers ``{"success": false, "error-message": "..."}`` (several lines: the
    connection, a blank line, the reason); the reason is its last non-empty line.
    """
    text = res.stdout or res.stderr or ""
    try:
        text = str(json.loads(text).get("error-message", text))
    except (json.JSONDecodeError, AttributeError):
        pass
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit code {res.returncode}"


def settle_run_dir(run_dir: Path | None, reason: str) -> bool:
    """Mark a run directory ``failed`` with ``reason`` if no one said why it ended.

    That is: ``status.json`` still says ``running`` (the ServerApp died with its SuperLink),
    or ``failed`` with ``stopped`` (the ServerApp was stopped by a signal, not by an error of
    its own). The launcher calls this when a run did not complete; returns whether it changed
    anything.
    """
    from fedsim.runtime.run_dir import mark

    if run_dir is None or not (run_dir / "status.json").is_file():
        return False
    try:
        status = json.loads((run_dir / "status.json").read_text())
    except json.JSONDecodeError:
        status = {}
    if status.get("state") != "running" and not status.get("stopped"):
        return False
    mark(run_dir, "failed", error=reason, engine="deployment",
         flwr_run_id=status.get("flwr_run_id"))  # fmt: skip
    return True


class FlwrCli:
    """The ``flwr`` CLI with its own ``FLWR_HOME`` and one SuperLink connection name."""

    def __init__(self, flwr_home: Path, connection: str) -> None:
        self.flwr_home = Path(flwr_home)
        self.connection = connection

    def _run(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess:
        try:
            return run_flwr(self.flwr_home, *args, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DeploymentError(f"flwr {args[0]} did not answer within {timeout:.0f} s") from None

    def submit(self, app_dir: Path, run_config: Mapping[str, Any]) -> int:
        """``flwr run APP CONNECTION --run-config FILE``; return the run id.

        ``APP`` is staged first (:func:`fedsim.deployment.app_stage.stage_app`): the same FAB,
        without Flower walking the checkout's ``.venv`` file by file.
        """
        from fedsim.deployment.app_stage import stage_app

        self.flwr_home.mkdir(parents=True, exist_ok=True)
        app_dir = stage_app(app_dir, self.flwr_home / "app")
        cfg_file = self.flwr_home / f"run-config-{time.time_ns()}.toml"
        cfg_file.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in run_config.items()))
        res = self._run(
            "run",
            str(Path(app_dir).resolve()),
            self.connection,
            "--run-config",
            str(cfg_file),
            "--format",
            "json",
        )
        try:
            payload = json.loads(res.stdout[res.stdout.index("{") :])
        except (ValueError, json.JSONDecodeError):
            payload = {}
        if res.returncode != 0 or not payload.get("run-id"):
            raise DeploymentError(
                f"flwr run failed (rc {res.returncode}): {res.stdout}{res.stderr}"
            )
        return int(payload["run-id"])

    def run_info(self, run_id: int) -> dict[str, Any]:
        """The SuperLink's record of a run (``flwr ls --run-id ID --format json``)."""
        res = self._run("ls", self.connection, "--run-id", str(run_id), "--format", "json")
        try:
            runs = json.loads(res.stdout).get("runs", [])
        except json.JSONDecodeError:
            runs = []
        if res.returncode != 0 or not runs:
            raise DeploymentError(f"flwr ls --run-id {run_id} failed: {flwr_error(res)}")
        return runs[0]

    def stop_run(self, run_id: int) -> None:
        """Ask the SuperLink to stop a run (``flwr stop``)."""
        self._run("stop", str(run_id), self.connection, timeout=60)

    def follow(self, run_id: int, *, echo: bool = True, poll_s: float = 5.0) -> RunOutcome:
        """Stream the run's log until it finishes; return the outcome from the SuperLink."""
        tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        run_dir = None
        proc = subprocess.Popen(
            [executable("flwr"), "log", str(run_id), self.connection, "--stream"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=flower_env(self.flwr_home),
            cwd=str(self.flwr_home),
        )
        try:
            for line in proc.stdout:
                tail.append(line.rstrip("\n"))
                if RUN_DIR_MARK in line:
                    run_dir = Path(line.split(RUN_DIR_MARK, 1)[1].strip())
                if echo:
                    sys.stdout.write(line)
                    sys.stdout.flush()
            proc.wait()
            info = self.run_info(run_id)
            while not str(info.get("status", "")).startswith(FINISHED):
                time.sleep(poll_s)
                info = self.run_info(run_id)
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
        return RunOutcome(
            run_id=run_id,
            status=str(info.get("status", "")),
            details=str(info.get("status-details", "")),
            log_tail=list(tail),
            run_dir=run_dir,
        )
