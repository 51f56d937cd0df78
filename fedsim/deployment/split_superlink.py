"""A Flower 1.42 SuperLink whose Control and ServerAppIo APIs stay on loopback.

``flower-superlink`` 1.42 serves the Fleet, Control and Runtime (ServerAppIo) APIs on *one*
HTTP port (its ``--control-api-address`` and ``--fleet-api-address`` are deprecated no-ops),
and the Control API has no user authentication in the open-source build. Bound to a public
address, anyone holding the public CA certificate could register node keys and submit runs.

This entry point runs Flower's own SuperLink application (same arguments, same state, same
node authentication) on two listeners:

* ``--host``/``--port`` (must be a loopback address): every API, for the operator on this
  host (``flwr`` CLI, ``fedsim deploy``, the ServerApp's Runtime API);
* ``--fleet-host``/``--fleet-port`` (public): only ``/v1/fleet/*`` and ``/health``; every other
  path gets ``404`` before it reaches Flower.

Usage: ``python -m fedsim.deployment.split_superlink --fleet-host H --fleet-port P
[flower-superlink arguments]``. The process creates files with umask ``077`` (``state.db``
holds node tokens).

It reuses Flower 1.42's own argument parser and app factory
(``flwr.superlink.cli.flower_superlink._parse_superlink_lifespan_config``, ``SuperLinkLifespan``,
``flwr.superlink.main.create_app``); a Flower upgrade must re-check them.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import ipaddress
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import uvicorn

FLEET_PREFIX = "/v1/fleet/"
HEALTH_PATH = "/health"
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class FleetOnly:
    """ASGI wrapper that passes only Fleet API (and health) requests to ``app``."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Forward ``/v1/fleet/*`` and ``/health``; answer 404 to everything else."""
        path = str(scope.get("path", ""))
        if scope["type"] == "http" and (path.startswith(FLEET_PREFIX) or path == HEALTH_PATH):
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # websockets: none on the Fleet API
            return
        body = b'{"detail": "not served on the public Fleet address"}'
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


def split_argv(argv: list[str]) -> tuple[str, int, list[str]]:
    """Take ``--fleet-host H --fleet-port P`` out of ``argv``; the rest is for Flower.

    Raises
    ------
    ValueError
        If either option is missing or ``--host`` is not a loopback address.
    """
    rest: list[str] = []
    found: dict[str, str] = {}
    items = iter(argv)
    for arg in items:
        key, sep, value = arg.partition("=")
        if key in ("--fleet-host", "--fleet-port"):
            found[key] = value if sep else next(items, "")
        else:
            rest.append(arg)
    if not found.get("--fleet-host") or not found.get("--fleet-port", "").isdigit():
        raise ValueError("give --fleet-host HOST and --fleet-port PORT (the public Fleet API)")
    host = "127.0.0.1"
    for i, arg in enumerate(rest):
        if arg == "--host" and i + 1 < len(rest):
            host = rest[i + 1]
        elif arg.startswith("--host="):
            host = arg.split("=", 1)[1]
    if not _is_loopback(host):
        raise ValueError(f"--host {host} is not loopback: the Control API must not be public")
    return found["--fleet-host"], int(found["--fleet-port"]), rest


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to :func:`main` (two share a loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_both(servers: list[Any]) -> None:
    loop = asyncio.get_running_loop()

    def stop_all() -> None:
        for server in servers:
            server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_all)
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    stop_all()  # one listener ended (shutdown or bind failure): end the other too
    await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if task.exception() is not None:
            raise task.exception()


def serve(argv: list[str]) -> None:
    """Run Flower's SuperLink app on a loopback listener plus a Fleet-only public listener.

    Raises
    ------
    ValueError
        ``argv`` lacks ``--fleet-host``/``--fleet-port`` or names them badly.
    """
    fleet_host, fleet_port, flower_args = split_argv(list(argv))
    os.umask(0o077)  # state.db (node tokens) and everything else: owner only
    from flwr.supercore.http_logging import get_uvicorn_log_config
    from flwr.supercore.logger import console_handler
    from flwr.superlink.main import create_app

    fs = importlib.import_module("flwr.superlink.cli.flower_superlink")  # module, not the function
    sys.argv = ["flower-superlink", *flower_args]
    config = fs._parse_superlink_lifespan_config()  # noqa: SLF001 - Flower 1.42's parser
    app = create_app(config, fs.SuperLinkLifespan)
    common = {
        "ssl_keyfile": config.ssl_keyfile,
        "ssl_certfile": config.ssl_certfile,
        "log_config": get_uvicorn_log_config(console_handler.level),
        "access_log": True,
        "workers": 1,
    }
    private = uvicorn.Config(app=app, host=config.host, port=config.port, **common)
    public = uvicorn.Config(
        app=FleetOnly(app), host=fleet_host, port=fleet_port, lifespan="off", **common
    )
    print(
        f"split_superlink: Control + ServerAppIo + Fleet on {config.host}:{config.port}; "
        f"Fleet only on {fleet_host}:{fleet_port}",
        flush=True,
    )
    asyncio.run(_serve_both([_Server(private), _Server(public)]))


if __name__ == "__main__":  # the process fedsim.deployment.federation starts
    try:
        serve(sys.argv[1:])
    except ValueError as exc:
        print(f"fedsim deploy superlink: error: {exc}", file=sys.stderr)
        sys.exit(2)
