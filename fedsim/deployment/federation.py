"""A local multi-process Flower federation: one SuperLink and N SuperNodes on loopback.

The SuperLink runs through :mod:`fedsim.deployment.split_superlink`: its Control and
ServerAppIo APIs listen on ``127.0.0.1`` only (``address``, used by the ``flwr`` CLI and to
register node keys), the Fleet API alone also on ``fleet_address`` (what SuperNodes dial).
Each process has its own ``FLWR_HOME`` and session; TLS and SuperNode authentication are on
unless ``insecure=True``. Everything started is stopped by PID (process group) on exit from the
``with`` block, also on Ctrl-C or failure. Used by the tests and by ``fedsim deploy local``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fedsim import wire
from fedsim.deployment.certs import FederationCerts, make_certs, make_node_key
from fedsim.deployment.processes import (
    Started,
    executable,
    flower_env,
    free_port,
    port_open,
    run_flwr,
    start,
    stop,
    stop_strays,
)
from fedsim.errors import FedsimError

CONNECTION = "fedsim-local"
ISOLATIONS = ("process", "subprocess")
START_TIMEOUT_S = 60.0
IN_MEMORY = ":flwr-in-memory:"  # flower-superlink's own default: no database file


class DeploymentError(FedsimError):
    """A federation process failed to start or a deployment run failed."""


def node_config_string(items: Mapping[str, Any]) -> str:
    """Format a ``--node-config`` value (strings quoted, TOML style)."""
    parts = []
    for key, value in items.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = json.dumps(value)
        else:
            text = str(value)
        parts.append(f"{key}={text}")
    return " ".join(parts)


def write_cli_config(flwr_home: Path, address: str, ca_cert: Path | None) -> Path:
    """Write the ``flwr`` CLI's ``config.toml`` with one SuperLink connection, ``fedsim-local``."""
    flwr_home.mkdir(parents=True, exist_ok=True)
    lines = ["[superlink]", f'default = "{CONNECTION}"', "", f"[superlink.{CONNECTION}]"]
    lines.append(f"address = {json.dumps(address)}")
    if ca_cert is None:
        lines.append("insecure = true")
    else:
        lines.append(f"root-certificates = {json.dumps(str(Path(ca_cert).resolve()))}")
    path = flwr_home / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def supernode_command(isolation: str) -> list[str]:
    """How to start a SuperNode: with the long-lived executor, Flower's, short idle poll."""
    if isolation == "process":
        return [sys.executable, "-m", "fedsim.deployment.fast_supernode"]
    return [executable("flower-supernode")]


class LaunchDir:
    """The launcher's work directory: the caller's, or a private temporary one.

    A temporary directory (mode 0700, made here) holds the CA and node *private* keys; it is
    removed when the ``with`` block raises or when :meth:`failed` is called. A directory the
    caller gave is never removed.

    Parameters
    ----------
    given : Path, optional
        The caller's directory (kept); ``None`` makes a temporary one.
    """

    def __init__(self, given: Path | None = None) -> None:
        self.temporary = given is None
        self.path = Path(tempfile.mkdtemp(prefix="fedsim-deploy-")) if given is None else given

    def __enter__(self) -> LaunchDir:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is not None:
            self.failed()

    def failed(self) -> None:
        """Remove the directory (keys included) if it is the temporary one."""
        if self.temporary:
            shutil.rmtree(self.path, ignore_errors=True)


class LocalFederation:
    """SuperLink + SuperNodes on 127.0.0.1, each its own process and ``FLWR_HOME``.

    Parameters
    ----------
    workdir : Path
        Holds ``certs/``, ``superlink/``, ``node-K/``, ``cli/`` (the ``flwr`` CLI's home) and
        ``logs/``.
    num_nodes : int
        SuperNodes to start; node ``K`` gets ``--node-config 'partition-id=K num-partitions=N'``
        plus ``node_config`` items.
    insecure : bool
        Plain HTTP and no node authentication (only when asked for).
    node_config : Mapping, optional
        Extra node-config items for every node (e.g. ``{"data-root": "/data"}``).
    per_node : sequence of Mapping, optional
        Extra node-config items of node ``k`` (``per_node[k]``; e.g. its own ``data-path``).
    fleet_host : str
        Address of the public Fleet API listener (its own port); the certificate names it.
        The Control and ServerAppIo APIs stay on ``127.0.0.1``.
    isolation : str
        ``"process"`` (default): each SuperNode runs ``--isolation process`` beside one
        long-lived :mod:`fedsim.deployment.warm_clientapp` executor (torch and the experiment
        stay loaded between messages), with a 0.25 s idle poll
        (:mod:`fedsim.deployment.fast_supernode`); ``"subprocess"``: Flower's default, a fresh
        ``flwr-clientapp`` process per message and Flower's 3 s idle poll.
    database : str, optional
        A file name under ``superlink/`` for the SuperLink's state (runs, node keys, message
        objects; SQLite, mode 0600). ``None`` (default) keeps that state in memory, Flower's
        own default: this federation lives only as long as the ``with`` block, and a SQLite
        file on disk costs ~0.5 s per round on loopback (every message and array is a
        transaction).
    """

    def __init__(
        self,
        workdir: Path,
        num_nodes: int,
        *,
        insecure: bool = False,
        node_config: Mapping[str, Any] | None = None,
        fleet_host: str = "127.0.0.1",
        isolation: str = "process",
        per_node: Sequence[Mapping[str, Any]] | None = None,
        database: str | None = None,
    ) -> None:
        if num_nodes < 0:
            raise ValueError(f"num_nodes must be >= 0, got {num_nodes}")
        if isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of {ISOLATIONS}, got {isolation!r}")
        self.isolation = isolation
        self.database = database
        self.workdir = Path(workdir).resolve()
        self.num_nodes = num_nodes
        self.insecure = insecure
        self.node_config = dict(node_config or {})
        self.per_node = [dict(items) for items in (per_node or [])]
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"  # Control + ServerAppIo: loopback only
        self.fleet_host = fleet_host
        self.fleet_port = free_port()
        self.fleet_address = f"{fleet_host}:{self.fleet_port}"  # the only public API
        self.cli_home = self.workdir / "cli"
        self.certs: FederationCerts | None = None
        self.superlink: Started | None = None
        self.nodes: list[Started] = []
        self.executors: list[Started] = []
        self.others: list[Started] = []

    # -- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> LocalFederation:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Make certificates, start the SuperLink, register node keys, start the SuperNodes."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.insecure:
            self.certs = make_certs(
                self.workdir / "certs", num_nodes=self.num_nodes, hosts=[self.fleet_host]
            )
        write_cli_config(self.cli_home, self.address, None if self.insecure else self.certs.ca_cert)
        self.superlink = self._start_superlink()
        for k in range(self.num_nodes):
            if self.certs is not None:
                self.register(self.certs.node_public(k))
            extra = self.per_node[k] if k < len(self.per_node) else None
            self.nodes.append(self.start_node(k, extra=extra))

    def stop(self) -> None:
        """Stop every process started here (nodes first), by process group, then strays.

        A process whose parent died (the ServerApp and ``flower-superexec`` of a SuperLink
        that was killed) is no longer in any group or below any PID started here; it still
        carries this federation's ``FLWR_HOME`` and is stopped by PID
        (:func:`fedsim.deployment.processes.stop_strays`).
        """
        for proc in [*self.others, *reversed(self.executors), *reversed(self.nodes)]:
            stop(proc)
        if self.superlink is not None:
            stop(self.superlink)
        self.others, self.executors, self.nodes, self.superlink = [], [], [], None
        stop_strays(f"FLWR_HOME={self.workdir}/")

    def superlink_died(self) -> str | None:
        """Why the SuperLink is gone (its exit code and log), or ``None`` while it runs."""
        if self.superlink is None or self.superlink.alive():
            return None
        code = self.superlink.proc.returncode
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        return f"the SuperLink died during the run ({how}; log {self.superlink.log})"

    # -- pieces -------------------------------------------------------------------------
    def _start_superlink(self) -> Started:
        home = self.workdir / "superlink"
        argv = [sys.executable, "-m", "fedsim.deployment.split_superlink"]
        argv += ["--fleet-host", self.fleet_host, "--fleet-port", str(self.fleet_port)]
        argv += ["--host", "127.0.0.1", "--port", str(self.port)]
        database = IN_MEMORY if self.database is None else str(home / self.database)
        argv += ["--database", database, "--disable-runtime-dependency-installation"]
        if self.certs is None:
            argv.append("--insecure")
        else:
            argv += [
                "--ssl-ca-certfile",
                str(self.certs.ca_cert),
                "--ssl-certfile",
                str(self.certs.server_cert),
                "--ssl-keyfile",
                str(self.certs.server_key),
                "--enable-supernode-auth",
            ]
        proc = start(
            "superlink",
            argv,
            env=flower_env(home),
            cwd=home,
            log=self.workdir / "logs/superlink.log",
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (port_open(self.port) and port_open(self.fleet_port, self.fleet_host)):
            if not proc.alive() or time.monotonic() > deadline:
                stop(proc)
                raise DeploymentError(f"SuperLink did not start:\n{proc.log_tail()}")
            time.sleep(0.3)
        return proc

    def flwr(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
        """Run the ``flwr`` CLI against this federation's SuperLink."""
        return run_flwr(self.cli_home, *args, timeout=timeout)

    def register(self, public_key: Path) -> None:
        """Register a SuperNode public key over the loopback Control API (operator side)."""
        res = self.flwr("supernode", "register", str(public_key), CONNECTION)
        if res.returncode != 0:
            raise DeploymentError(f"registering {public_key.name} failed: {res.stdout}{res.stderr}")

    def start_node(
        self, k: int, *, private_key: Path | None = None, extra: Mapping[str, Any] | None = None
    ) -> Started:
        """Start SuperNode ``k`` (its key is ``certs/node-K`` unless ``private_key`` is given)."""
        home = self.workdir / f"node-{k}"
        items = {wire.NODE_PARTITION_ID: k, wire.NODE_NUM_PARTITIONS: self.num_nodes}
        items.update(self.node_config)
        items.update(extra or {})
        runtime_port = free_port()
        argv = [*supernode_command(self.isolation), "--superlink", self.fleet_address]
        argv += ["--port", str(runtime_port), "--node-config", node_config_string(items)]
        argv += ["--isolation", self.isolation]
        if self.certs is None:
            argv.append("--insecure")
        else:
            key = private_key or self.certs.node_keys[k]
            argv += ["--root-certificates", str(self.certs.ca_cert)]
            argv += ["--auth-supernode-private-key", str(key)]
        env = flower_env(home)
        node = start(f"node-{k}", argv, env=env, cwd=home, log=self.workdir / f"logs/node-{k}.log")
        if self.isolation == "process":
            self.executors.append(self._start_executor(k, runtime_port, node, env, home))
        return node

    def _start_executor(
        self, k: int, runtime_port: int, node: Started, env: dict[str, str], home: Path
    ) -> Started:
        """Start node ``k``'s long-lived ClientApp executor (it exits with the node)."""
        argv = [sys.executable, "-m", "fedsim.deployment.warm_clientapp"]
        argv += ["--runtime-api-address", f"127.0.0.1:{runtime_port}"]
        argv += ["--parent-pid", str(node.pid)]
        log = self.workdir / f"logs/clientapp-{k}.log"
        return start(f"clientapp-{k}", argv, env=env, cwd=home, log=log)

    def start_unregistered_node(self, k: int) -> Started:
        """Start a SuperNode whose key was never registered (it must be refused)."""
        if self.certs is None:
            raise DeploymentError("node authentication needs TLS (insecure=False)")
        key = make_node_key(self.workdir / "certs" / f"unregistered-{k}")
        proc = self.start_node(k, private_key=key)
        self.others.append(proc)
        return proc

    def nodes_online(self) -> list[dict]:
        """The SuperLink's node list (``flwr supernode list --format json``)."""
        res = self.flwr("supernode", "list", CONNECTION, "--format", "json")
        if res.returncode != 0:
            raise DeploymentError(f"flwr supernode list failed: {res.stdout}{res.stderr}")
        return json.loads(res.stdout).get("nodes", [])
