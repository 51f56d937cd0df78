"""The ClientApp side of SecAgg+: the update adapter and the mod that routes stage messages."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    Context,
    Message,
    MessageType,
    MetricRecord,
    RecordDict,
)
from flwr.common import parameters_to_ndarrays
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS
from flwr.compat.common import recorddict_compat as compat

from fedsim import wire
from fedsim.client.secagg_mod import fitres_content, secagg_mod, update_adapter
from tests.fake_grid import task_identity

RECEIVED = {"w": np.array([[1.0, 2.0], [3.0, 4.0]], np.float32), "b": np.array([0.5], np.float32)}
TRAINED = {"w": np.array([[1.5, 1.0], [3.0, 4.25]], np.float32), "b": np.array([0.0], np.float32)}


def records(arrays: dict[str, np.ndarray]) -> ArrayRecord:
    return ArrayRecord({k: Array(v) for k, v in arrays.items()})


def train_message(weight_key: str | None = None, stage: bool = True) -> Message:
    config = {wire.SERVER_ROUND: 1}
    if weight_key is not None:
        config[wire.SECAGG_WEIGHT_KEY] = weight_key
    content = RecordDict({wire.ARRAYS: records(RECEIVED), wire.CONFIG: ConfigRecord(config)})
    if stage:
        content[RECORD_KEY_CONFIGS] = ConfigRecord({"stage": "collect_masked_vectors"})
    return Message(content, dst_node_id=7, message_type=MessageType.TRAIN)


def handler(msg: Message, context: Context) -> Message:
    """A stand-in for fedsim's train handler: trained arrays + metrics."""
    metrics = MetricRecord({wire.NUM_EXAMPLES: 40, wire.TRAIN_LOSS: 0.25, "score": 2.5})
    content = RecordDict({wire.ARRAYS: records(TRAINED), wire.METRICS: metrics})
    return Message(content, reply_to=msg)


def context() -> Context:
    return Context(run_id=1, node_id=7, node_config={}, state=RecordDict(), run_config={})


@pytest.fixture(autouse=True)
def identity():
    with task_identity():
        yield


def test_the_adapter_sends_the_update_weighted_by_num_examples_and_keeps_metrics():
    msg = train_message()
    reply = update_adapter(msg, context(), handler)
    fitres = compat.recorddict_to_fitres(reply.content, keep_input=True)
    delta = parameters_to_ndarrays(fitres.parameters)
    assert [d.tolist() for d in delta] == [[[0.5, -1.0], [0.0, 0.25]], [-0.5]]
    assert fitres.num_examples == 40 and fitres.status.code.value == 0
    assert reply.content[wire.METRICS][wire.TRAIN_LOSS] == 0.25  # fedsim's metrics stay
    assert wire.ARRAYS not in reply.content.array_records  # the trained model does not


def test_the_adapter_weights_by_the_strategys_key():
    fitres = compat.recorddict_to_fitres(
        fitres_content(train_message("score"), handler(train_message(), context())), True
    )
    assert fitres.num_examples == 2.5


def test_a_missing_weight_metric_is_named():
    with pytest.raises(ValueError, match="no metric 'nope'"):
        fitres_content(train_message("nope"), handler(train_message(), context()))


def test_the_mod_passes_other_messages_through():
    calls = []

    def spy(msg, ctx):
        calls.append(msg)
        return handler(msg, ctx)

    mod = secagg_mod(lambda ctx: {"privacy": {"secagg": False}})
    reply = mod(train_message(stage=False), context(), spy)
    assert len(calls) == 1 and wire.ARRAYS in reply.content.array_records


def test_the_mod_refuses_a_stage_message_when_the_run_did_not_ask():
    mod = secagg_mod(lambda ctx: {"privacy": {"secagg": False}})
    with pytest.raises(ValueError, match="privacy.secagg is false"):
        mod(train_message(), context(), handler)


def test_the_mod_hands_stage_messages_to_secaggplus_mod():
    """A stage out of order is rejected by Flower's own mod (the stage check runs first)."""
    mod = secagg_mod(lambda ctx: {"privacy": {"secagg": True}})
    with pytest.raises(ValueError, match="expect setup stage|expect share_keys"):
        mod(train_message(), context(), handler)  # collect before setup


def test_the_clipped_share_is_reported():
    protocol = ConfigRecord({"clipping_range": 0.2, "max_weight": 80.0})
    content = fitres_content(train_message(), handler(train_message(), context()), protocol)
    # weight 40 / max_weight 80 = 0.5: |0.5 x| > 0.2 for the entries 0.5, -1.0 and -0.5 of 5
    assert content[wire.METRICS][wire.SECAGG_CLIPPED] == pytest.approx(3 / 5)
