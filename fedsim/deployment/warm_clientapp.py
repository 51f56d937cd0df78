"""A long-lived ClientApp executor for a SuperNode started with ``--isolation process``.

Flower 1.42 runs every message of a SuperNode in a *fresh* ``flwr-clientapp`` process
(``flwr.supernode.runtime.run_clientapp`` handles one task and exits; ``flower-superexec``
starts one per task, also under ``--isolation process``, where the user starts the executor).
For fedsim that process re-imports torch and Flower and rebuilds the experiment (data, plan,
model template) per message: 6-16 s per round on an idle machine for a model that trains in
0.1 s. This executor plays ``flower-superexec``'s part for one SuperNode, but runs each task in
*its own* process: torch, Flower and fedsim are imported once, and the experiment cache
(:func:`fedsim.experiment.get_experiment`, immutable data only, DESIGN.md rule 7) survives from
one message to the next. The per-message state still comes from the SuperNode (Flower's
``Context``: ``context.state`` holds the client's state), exactly as for a fresh process.

Per task it uses Flower's own steps (``AcquireTask`` on the node's Runtime API, then
``pull_task_input`` / the app's ``__call__`` / ``push_message`` / ``push_task_output`` with the
task's token and a heartbeat), so the SuperNode sees an ordinary ClientApp process. The app is
loaded from the run's FAB like ``flwr-clientapp`` does (once per FAB hash). A ClientApp
exception becomes an error reply, as Flower's. These are Flower 1.42 internals
(``flwr.supernode.runtime.run_clientapp``); a Flower upgrade must re-check them.

Usage: ``python -m fedsim.deployment.warm_clientapp --runtime-api-address 127.0.0.1:9094
[--parent-pid PID]`` next to ``flower-supernode --isolation process --port 9094``
(``fedsim deploy clientapp`` is the same).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Callable, Sequence

from flwr.app import Error, Message
from flwr.cli.install import install_from_fab
from flwr.clientapp.client_app import ClientApp
from flwr.clientapp.utils import get_load_client_app_fn
from flwr.common.constant import ErrorCode, SubStatus
from flwr.common.serde import context_from_proto, fab_from_proto, run_from_proto
from flwr.proto.node_pb2 import Node  # pylint: disable=E0611
from flwr.proto.runtime_pb2 import (  # pylint: disable=E0611
    AcquireTaskRequest,
    PullAppMessagesRequest,
    PullTaskInputRequest,
)
from flwr.supercore.app_utils import start_parent_process_monitor
from flwr.supercore.constant import TaskType
from flwr.supercore.heartbeat import HeartbeatSender, make_task_heartbeat_fn_http
from flwr.supercore.inflatable.inflatable_protobuf_utils import (
    make_confirm_message_received_fn_protobuf,
    make_pull_object_fn_protobuf,
)
from flwr.supercore.inflatable.inflatable_utils import pull_and_inflate_object_from_tree
from flwr.supercore.interceptors import (
    RuntimeTokenHttpInterceptor,
    RuntimeVersionHttpInterceptor,
)
from flwr.supercore.retry import make_simple_http_retry_invoker
from flwr.supercore.runtime import RuntimeHttpClient
from flwr.supercore.task_identity import TaskIdentity
from flwr.supernode.runtime.run_clientapp import push_message, push_task_output

from fedsim.deployment.object_pull import PULL_BACKOFF_CAP_S, PULL_BACKOFF_S

log = logging.getLogger(__name__)
POLL_S = 0.05  # how often an idle executor asks the SuperNode for a task
# A task is handed out while the SuperNode may still be fetching the message's objects from the
# SuperLink; Flower's first retry waits 1 s (PULL_INITIAL_BACKOFF), which a cold process never
# notices but an executor that picks the task up within 50 ms always pays. Retry sooner
# (fedsim.deployment.object_pull: PULL_BACKOFF_S, PULL_BACKOFF_CAP_S).
PRELOAD = ("torch", "fedsim.deployment.apps")  # imported once, before the first task


def pull_task_input(client: RuntimeHttpClient):
    """The task's (message, context, run, fab) from the SuperNode's Runtime API.

    The same requests as ``flwr.supernode.runtime.run_clientapp.pull_task_input`` (1.42), with
    a short retry while the message's objects are still arriving (:data:`PULL_BACKOFF_S`).
    """
    res = client.PullTaskInput(PullTaskInputRequest())
    TaskIdentity.task_id = res.task_id
    TaskIdentity.run_id = res.run.run_id
    TaskIdentity.node_id = res.context.node_id
    context = context_from_proto(res.context)
    pulled = client.PullMessages(PullAppMessagesRequest())
    if not pulled.messages_list:
        raise RuntimeError("the SuperNode handed out a task without a message")
    node, run_id = Node(node_id=context.node_id), context.run_id
    tree = pulled.message_object_trees[0]
    message = pull_and_inflate_object_from_tree(
        tree,
        make_pull_object_fn_protobuf(client.PullObject, node, run_id),
        make_confirm_message_received_fn_protobuf(client.ConfirmMessageReceived, node, run_id),
        return_type=Message,
        initial_backoff=PULL_BACKOFF_S,
        backoff_cap=PULL_BACKOFF_CAP_S,
    )
    message.metadata.__dict__["_message_id"] = tree.object_id  # as Flower does: not inflated
    return message, context, run_from_proto(res.run), fab_from_proto(res.fab)


class WarmClientApp:
    """Run a SuperNode's ClientApp tasks one after another in this process.

    Parameters
    ----------
    runtime_api_address : str
        The SuperNode's Runtime API (``flower-supernode --port``; loopback, plain HTTP).
    poll_s : float
        Seconds between ``AcquireTask`` calls while idle.
    """

    def __init__(self, runtime_api_address: str, *, poll_s: float = POLL_S) -> None:
        if poll_s <= 0:
            raise ValueError(f"poll_s must be > 0, got {poll_s}")
        self.address = runtime_api_address
        self.poll_s = poll_s
        self.tasks_run = 0
        self._apps: dict[str, ClientApp] = {}
        self._control = self._client(component="SuperExec")

    def _client(self, *, component: str, token: str | None = None) -> RuntimeHttpClient:
        interceptors = [RuntimeVersionHttpInterceptor(component_name=component)]
        if token is not None:
            interceptors.append(RuntimeTokenHttpInterceptor(token))
        return RuntimeHttpClient.from_server_address(
            server_address=self.address,
            insecure=True,
            root_certificates=None,
            interceptors=interceptors,
            retry_invoker=make_simple_http_retry_invoker(),
        )

    def acquire(self) -> str | None:
        """Ask the SuperNode for a ClientApp task; return its token, or None when idle."""
        res = self._control.AcquireTask(
            AcquireTaskRequest(supported_task_types=[str(TaskType.CLIENT_APP)])
        )
        return res.token if res.HasField("task") and res.token else None

    def serve(self, stop: Callable[[], bool] = lambda: False) -> None:
        """Run tasks until ``stop()`` is true (checked between tasks)."""
        while not stop():
            token = self.acquire()
            if token is None:
                time.sleep(self.poll_s)
                continue
            self.run_task(token)

    def _app(self, run, fab) -> ClientApp:
        """The run's ClientApp, loaded from its FAB like ``flwr-clientapp`` (once per hash)."""
        app = self._apps.get(fab.hash_str)
        if app is None:
            install_from_fab(fab.content, skip_prompt=True)
            load = get_load_client_app_fn(default_app_ref="", app_path=None, multi_app=True)
            app = load(run.fab_id, run.fab_version, fab.hash_str)
            self._apps[fab.hash_str] = app
        return app

    def run_task(self, token: str) -> None:
        """Pull one task's message and context, run the ClientApp, push reply and context."""
        started = time.perf_counter()
        client = self._client(component="flwr-clientapp", token=token)
        heartbeat = HeartbeatSender(make_task_heartbeat_fn_http(client))
        heartbeat.start()
        message = context = reply = None
        status, details = SubStatus.FAILED, "ClientApp task failed due to unknown reason"
        try:
            message, context, run, fab = pull_task_input(client)
            pulled = time.perf_counter()
            reply = self._app(run, fab)(message=message, context=context)
            log.debug("pull %.2f s, app %.2f s", pulled - started, time.perf_counter() - pulled)
            status, details = SubStatus.COMPLETED, ""
        except Exception as exc:  # noqa: BLE001 - becomes the error reply, as in Flower
            details = f"{type(exc)}:<'{exc}'>"
            log.exception("ClientApp raised an exception")
            if message is not None:
                reply = Message(
                    Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=details),
                    reply_to=message,
                )
        finally:
            try:
                if reply is not None and context is not None:
                    push_message(client, reply, context)
            except Exception:  # noqa: BLE001 - the SuperNode then reports the task failed
                log.exception("pushing the reply failed")
            push_task_output(client, context, status, details)
            heartbeat.stop()
            client.close()
            self.tasks_run += 1
            log.info("task done in %.2f s (%s)", time.perf_counter() - started, status)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fedsim deploy clientapp", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--runtime-api-address", required=True, help="the SuperNode's HOST:PORT")
    p.add_argument("--parent-pid", type=int, default=None, help="exit when this process ends")
    p.add_argument("--poll", type=float, default=POLL_S, help="s between idle task polls")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: preload, then serve the SuperNode's ClientApp tasks until killed."""
    import importlib

    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll otherwise
    if os.environ.get("FEDSIM_EXECUTOR_DEBUG"):
        log.setLevel(logging.DEBUG)
    for name in PRELOAD:
        importlib.import_module(name)
    if args.parent_pid is not None:
        start_parent_process_monitor(args.parent_pid)
    executor = WarmClientApp(args.runtime_api_address, poll_s=args.poll)
    log.info("serving ClientApp tasks of the SuperNode at %s", args.runtime_api_address)
    try:
        executor.serve()
    except KeyboardInterrupt:
        log.info("stopped after %d tasks", executor.tasks_run)


if __name__ == "__main__":
    main()
