"""Local DP on a reply: the same numbers as Flower's LocalDpMod, and its accounting."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.clientapp.mod import LocalDpMod

from fedsim import wire
from fedsim.client.plugins.local_dp import RELEASES_KEY, local_dp_arrays, local_dp_reply
from fedsim.privacy.gaussian import local_dp_std
from tests.fake_grid import task_identity

KEYS = ("a", "b")


@pytest.fixture(autouse=True)
def _identity():
    """Flower's Message needs the run identity the ServerApp runtime would set."""
    with task_identity():
        yield


def record(values) -> ArrayRecord:
    pairs = zip(KEYS, values, strict=True)
    return ArrayRecord({k: Array(np.asarray(v, dtype=np.float32)) for k, v in pairs})


def test_same_arrays_as_flowers_local_dp_mod_on_the_same_noise_stream():
    rng = np.random.default_rng(0)
    sent = record([rng.normal(size=(4, 3)), rng.normal(size=5)])
    trained = record([sent[k].numpy() + 2 * rng.normal(size=sent[k].numpy().shape) for k in KEYS])
    clip, sens, eps, delta = 1.0, 1.0, 0.5, 1e-5
    msg = Message(RecordDict({"arrays": sent}), dst_node_id=0, message_type="train")
    ctx = Context(run_id=0, node_id=0, node_config={}, state=RecordDict(), run_config={})

    def app(m, c):
        return Message(RecordDict({"arrays": trained}), reply_to=m)

    saved = np.random.get_state()
    try:
        np.random.seed(7)  # Flower draws from numpy's global RNG
        theirs = LocalDpMod(clip, sens, eps, delta)(msg, ctx, app).content["arrays"]
    finally:
        np.random.set_state(saved)
    ours, clipped = local_dp_arrays(
        sent, trained, clip=clip, std=local_dp_std(sens, eps, delta),
        rng=np.random.RandomState(7),  # the same stream as np.random.seed(7)
    )
    assert clipped
    for k in KEYS:
        np.testing.assert_allclose(ours[k].numpy(), theirs[k].numpy(), rtol=1e-5, atol=1e-5)


def test_releases_accumulate_in_the_client_state():
    pytest.importorskip("opacus")
    config = ConfigRecord({
        wire.LOCAL_DP_CLIP: 1.0, wire.LOCAL_DP_SENSITIVITY: 1.0,
        wire.LOCAL_DP_EPSILON: 0.5, wire.PRIVACY_DELTA: 1e-5,
    })  # fmt: skip
    sent = record([np.zeros((2, 2)), np.zeros(3)])
    state: dict = {}
    eps = []
    for rnd in range(3):
        _, metrics, items = local_dp_reply(config, sent, sent, state, np.random.default_rng(rnd))
        state.update(items)
        eps.append(metrics[wire.PRIVACY_EPSILON])
    assert state[RELEASES_KEY] == 3
    assert eps[0] < eps[1] < eps[2] <= 3 * 0.5 + 1e-9  # RDP is at most basic composition
