"""Client-side execution of injected faults (see :mod:`fedsim.faults.models`).

The server names a fault in the client's ConfigRecord (``fedsim.fault``); the ClientApp's
train handler calls :func:`before_train` before learning and :func:`corrupt_arrays` on the
payload it is about to send. A client without a fault item is untouched.
"""

from __future__ import annotations

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord

from fedsim import wire


class InjectedCrashError(RuntimeError):
    """The exception an injected ``crash`` raises inside the ClientApp."""


def before_train(config: ConfigRecord, client_id: int) -> None:
    """Crash (raise) when the server injected that fault.

    A straggler does not sleep: its delay is simulated time, and the server decides from it
    whether the straggler misses the round deadline (such a straggler is never sent; see
    :meth:`fedsim.transport.virtual_grid.VirtualGrid.send_and_receive`). One that reaches this point
    made the deadline and trains normally.
    """
    kind = config.get(wire.FAULT)
    if kind == "crash":
        raise InjectedCrashError(f"injected crash of client {client_id}")


def corrupt_arrays(config: ConfigRecord, received: ArrayRecord, arrays: ArrayRecord) -> ArrayRecord:
    """Return the payload the faulty client sends instead of ``arrays``.

    ``nan``/``inf`` poison the first non-empty floating tensor, ``wrong_shape`` adds a row
    to the first tensor, ``missing_key`` drops the last tensor and ``adversarial`` sends
    ``received + s * (arrays - received)`` with ``s = fedsim.fault-scale``.
    """
    kind = config.get(wire.FAULT)
    if kind not in ("nan", "inf", "wrong_shape", "missing_key", "adversarial"):
        return arrays
    keys = list(arrays.keys())
    values = {k: arrays[k].numpy().copy() for k in keys}
    first = keys[0]
    if kind in ("nan", "inf"):  # the first non-empty floating tensor (prototype replies
        poisoned = _first_float(values) or first  # lead with int64 class labels)
        values[poisoned].reshape(-1)[0] = np.nan if kind == "nan" else np.inf
    elif kind == "wrong_shape":
        arr = values[first].reshape(values[first].shape[0], -1)
        values[first] = np.concatenate([arr, arr[:1]], axis=0)
    elif kind == "missing_key":
        del values[keys[-1]]
    else:
        scale = float(config[wire.FAULT_SCALE])
        for k in keys:
            base = received[k].numpy()
            values[k] = (base + scale * (values[k] - base)).astype(values[k].dtype)
    return ArrayRecord({k: Array(v) for k, v in values.items()})


def _first_float(values: dict[str, np.ndarray]) -> str | None:
    for key, value in values.items():
        if np.issubdtype(value.dtype, np.floating) and value.size > 0:
            return key
    return None
