"""Two events between the simulation's Grid and fedsim's engine loops, in one process.

:class:`fedsim.transport.signalled_grid.SignalledGrid` sets :data:`PUSHED` after it stores
messages for the engine; :mod:`fedsim.runtime.engine_poll`'s message thread waits on it between
idle sweeps. The engine's reply thread sets :data:`REPLIED` after it stores a reply; the Grid
waits on it between pulls. Each waiter clears its event *before* it looks, and keeps its former
poll interval as the wait's timeout, so a missed signal costs no more than the poll did.
"""

from __future__ import annotations

import threading

PUSHED = threading.Event()  # set by the ServerApp's Grid after it stores messages
REPLIED = threading.Event()  # set by the engine's reply thread after it stores a reply
