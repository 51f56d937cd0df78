"""The ClientApp's side of SecAgg+ (``privacy.secagg``): Flower's ``secaggplus_mod`` + an adapter.

On the deployment engine a SuperNode is one client and keeps its state in ``context.state``,
which is what Flower's :func:`flwr.client.mod.secaggplus_mod` needs: it runs the protocol's
four stages (keys, key shares, masked vector, unmasking shares) and, in the third, calls the
app. :func:`update_adapter` sits between the two, so the mod chain is the documented
``mods=[secaggplus_mod, adapter]``:

* the fedsim train handler runs unchanged and replies ``{arrays, metrics}``;
* the adapter turns that into what ``secaggplus_mod`` reads (``fitres.parameters``,
  ``fitres.num_examples``, ``fitres.metrics``, ``fitres.status``), with the **update**
  ``trained - received`` instead of the trained model (an update fits the clipping range
  ``[-clipping_range, clipping_range]``; a model's weights need not), weighted by the reply
  metric the strategy weights by (``num-examples`` unless ``strategy.weighted_by_key``);
* fedsim's ``metrics`` record stays in the reply (loss, seconds, ε), so the server still
  reports them, plus ``secagg-clipped-fraction``: the share of the update's entries that
  ``secaggplus_mod`` clips to its clipping range (0 when the range fits);
* ``secaggplus_mod`` then empties every ArrayRecord of the reply: only the masked, quantised
  vector leaves the node.

:func:`secagg_mod` is installed on every fedsim ClientApp; it passes through any message that
is not a SecAgg+ stage (simulation, evaluate, query), and refuses a stage message when the
run's config did not ask for secure aggregation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.client.mod import secaggplus_mod
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters
from flwr.common.secure_aggregation.secaggplus_constants import (
    RECORD_KEY_CONFIGS,
    RECORD_KEY_STATE,
)
from flwr.compat.common import recorddict_compat as compat

from fedsim import wire

ClientAppCallable = Callable[[Message, Context], Message]


def is_secagg_stage(msg: Message) -> bool:
    """True for a train message carrying a SecAgg+ stage record."""
    return (
        msg.metadata.message_type == MessageType.TRAIN
        and RECORD_KEY_CONFIGS in msg.content.config_records
    )


def update_delta(received: Any, trained: Any) -> list[np.ndarray]:
    """``trained - received`` per array, in the received record's key order (float64)."""
    missing = [k for k in received.keys() if k not in trained]
    if missing:
        raise ValueError(f"secure aggregation: the reply lacks array '{missing[0]}'")
    return [
        trained[k].numpy().astype(np.float64) - received[k].numpy().astype(np.float64)
        for k in received.keys()
    ]


def clipped_fraction(delta: list[np.ndarray], weight: float, protocol: ConfigRecord) -> float:
    """Share of entries ``secaggplus_mod`` will clip: ``|x w / max_weight| > clipping_range``."""
    scale = float(weight) / float(protocol.get("max_weight", 1000.0))
    limit = float(protocol.get("clipping_range", 8.0))
    total = sum(d.size for d in delta)
    clipped = sum(int(np.count_nonzero(np.abs(d * scale) > limit)) for d in delta)
    return clipped / total if total else 0.0


def fitres_content(
    msg: Message, reply: Message, protocol: ConfigRecord | None = None
) -> RecordDict:
    """The reply ``secaggplus_mod`` reads: the update as ``fitres.*`` plus fedsim's metrics.

    ``protocol`` is ``secaggplus_mod``'s state (its clipping range and max weight), from which
    the share of clipped entries is reported as ``secagg-clipped-fraction``.
    """
    config = msg.content[wire.CONFIG]
    key = str(config.get(wire.SECAGG_WEIGHT_KEY, wire.NUM_EXAMPLES))
    metrics = reply.content[wire.METRICS]
    if key not in metrics:
        raise ValueError(f"secure aggregation: the reply has no metric '{key}' to weight by")
    delta = update_delta(msg.content[wire.ARRAYS], reply.content[wire.ARRAYS])
    metrics[wire.SECAGG_CLIPPED] = clipped_fraction(delta, metrics[key], protocol or ConfigRecord())
    fitres = FitRes(
        status=Status(code=Code.OK, message=""),
        parameters=ndarrays_to_parameters(delta),
        num_examples=metrics[key],  # type: ignore[arg-type] - a float weight divides the same
        metrics={},
    )
    out = compat.fitres_to_recorddict(fitres, keep_input=False)
    out[wire.METRICS] = metrics
    for name, record in reply.content.config_records.items():
        out[name] = record
    return out


def update_adapter(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Run the fedsim train handler; reply its update in the ``fitres`` layout."""
    reply = call_next(msg, context)
    if reply.has_error():
        return reply
    protocol = context.state.config_records.get(RECORD_KEY_STATE, ConfigRecord())
    return Message(fitres_content(msg, reply, protocol), reply_to=msg)


def secagg_mod(config_source: Callable[[Context], Mapping[str, Any]]):
    """The ClientApp mod: SecAgg+ stages through ``secaggplus_mod`` + :func:`update_adapter`."""

    def mod(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
        if not is_secagg_stage(msg):
            return call_next(msg, context)
        privacy = config_source(context).get("privacy") or {}
        if not privacy.get("secagg", False):
            raise ValueError(
                "a SecAgg+ stage message arrived, and this run's privacy.secagg is false"
            )

        def inner(m: Message, c: Context) -> Message:
            return update_adapter(m, c, call_next)

        return secaggplus_mod(msg, context, inner)

    return mod
