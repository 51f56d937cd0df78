"""A Flower ``Grid`` that hands every call to the Grid it wraps.

fedsim wraps the Grid Flower gives the ServerApp in three places, each changing one or two
calls and delegating the rest: :class:`~fedsim.transport.virtual_grid.VirtualGrid` (virtual
clients over fewer nodes), :class:`~fedsim.deployment.polling_grid.PollingGrid` (a short reply
poll on the deployment engine) and :class:`~fedsim.server.secagg_legacy.StageGrid` (counting
the bytes of SecAgg+'s stages). The delegation lives here once.
"""

from __future__ import annotations

from collections.abc import Iterable

from flwr.app import Message
from flwr.serverapp import Grid


class DelegatingGrid(Grid):
    """Every ``Grid`` call goes to ``inner``; subclasses override what they change.

    Parameters
    ----------
    inner : flwr.serverapp.Grid
        The Grid being wrapped.
    """

    def __init__(self, inner: Grid) -> None:
        self.inner = inner

    def set_run(self, run) -> None:  # noqa: D102
        self.inner.set_run(run)

    @property
    def run(self):  # noqa: D102
        return self.inner.run

    def create_message(self, *args, **kwargs) -> Message:  # noqa: D102
        return self.inner.create_message(*args, **kwargs)

    def get_node_ids(self) -> Iterable[int]:  # noqa: D102
        return self.inner.get_node_ids()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:  # noqa: D102
        return self.inner.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:  # noqa: D102
        return self.inner.pull_messages(message_ids)

    def send_and_receive(  # noqa: D102
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        return self.inner.send_and_receive(messages, timeout=timeout)
