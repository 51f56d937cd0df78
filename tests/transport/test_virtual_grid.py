"""VirtualGrid over a fake Flower Grid running the real ClientApp (no Ray).

Client ids are addressed as node ids, carried over fewer Flower nodes (one message per client,
or packed), replies come back sorted by client id with the client's state moved into the
server's store; late replies are listed missing and later dropped.
"""

from __future__ import annotations

import pytest
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, RecordDict

from fedsim import wire
from fedsim.experiment import get_experiment
from fedsim.server.app import train_config
from fedsim.transport import packing
from fedsim.transport.client_store import ClientStore
from fedsim.transport.virtual_grid import VirtualGrid
from tests.conftest import SMALL, compose
from tests.fake_grid import FakeGrid, client_ids, task_identity

COHORT = [0, 1, 2, 3]


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    return compose(*SMALL, "train.epochs=1", f"output.root={tmp_path_factory.mktemp('runs')}")


@pytest.fixture(autouse=True)
def _identity():
    with task_identity():
        yield


def train_messages(cfg, cohort, rnd=2):
    """One train message per client id, as a strategy's ``configure_train`` builds them."""
    arrays = ArrayRecord(get_experiment(cfg).make_model().state_dict())
    config = ConfigRecord({**train_config(cfg), wire.SERVER_ROUND: rnd, wire.LR: 0.1})
    return [
        Message(
            RecordDict({wire.ARRAYS: arrays, wire.CONFIG: config}),
            dst_node_id=cid,
            message_type=MessageType.TRAIN,
        )
        for cid in cohort
    ]


def send(cfg, fake, *, max_messages=None, extras=None, timeout=None, rnd=2, store=None):
    store = ClientStore() if store is None else store
    vgrid = VirtualGrid(fake, store, max_messages=max_messages)
    vgrid.set_cohort(COHORT, extras)
    assert list(vgrid.get_node_ids()) == COHORT  # strategies sample client ids
    replies = vgrid.send_and_receive(train_messages(cfg, COHORT, rnd), timeout=timeout)
    return vgrid, replies


def test_replies_sorted_by_client_id_whatever_the_engine_order(cfg):
    fake = FakeGrid(cfg, num_nodes=2, shuffle_seed=0)
    vgrid, replies = send(cfg, fake)
    assert fake.reordered == 1
    assert [vgrid.client_of(r) for r in replies] == COHORT and vgrid.missing == []
    assert {m.metadata.dst_node_id for m in fake.sent} == {1000, 1001}  # 4 clients, 2 nodes
    assert [client_ids(m) for m in fake.sent] == [[c] for c in COHORT]


def test_client_state_travels_with_the_message_and_lands_in_the_store(cfg):
    store = ClientStore()
    vgrid, replies = send(cfg, FakeGrid(cfg), store=store)
    assert len(store) == len(COHORT)
    for reply in replies:
        assert wire.CLIENT_STATE not in reply.content  # stripped before the strategy sees it
        assert store.get(vgrid.client_of(reply))[0] is not None
    fake = FakeGrid(cfg)
    send(cfg, fake, store=store, rnd=3)
    assert all(wire.CLIENT_STATE in m.content for m in fake.sent)  # sent back next time


def test_packed_send_equals_one_message_per_client(cfg):
    _, plain = send(cfg, FakeGrid(cfg))
    fake = FakeGrid(cfg, num_nodes=2)
    vgrid, packed = send(cfg, fake, max_messages=2)
    assert len(fake.sent) == 2 and all(packing.is_packed(m.content) for m in fake.sent)
    assert [vgrid.client_of(r) for r in packed] == COHORT
    for a, b in zip(plain, packed, strict=True):
        timed = (wire.TRAIN_SECONDS,)  # wall time: the one metric that differs
        ma, mb = (dict(m.content[wire.METRICS]) for m in (a, b))
        assert {k: v for k, v in ma.items() if k not in timed} == {
            k: v for k, v in mb.items() if k not in timed
        }
        assert ma.keys() == mb.keys()
        for key, arr in a.content[wire.ARRAYS].items():
            assert (arr.numpy() == b.content[wire.ARRAYS][key].numpy()).all(), key


def test_a_failing_client_inside_a_pack_only_fails_itself(cfg):
    extras = {1: {wire.FAULT: "crash"}}
    vgrid, replies = send(cfg, FakeGrid(cfg), max_messages=1, extras=extras)
    errors = {vgrid.client_of(r): r.error.reason for r in replies if r.has_error()}
    assert list(errors) == [1] and "injected crash" in errors[1]
    assert len(replies) == 4


def test_error_reply_of_a_whole_pack_fails_each_of_its_clients(cfg):
    fake = FakeGrid(cfg, num_nodes=2, fail=lambda m: 2 in client_ids(m))
    vgrid, replies = send(cfg, fake, max_messages=2)
    failed = sorted(vgrid.client_of(r) for r in replies if r.has_error())
    assert failed == [2, 3]  # the second pack carried clients 2 and 3


def test_late_reply_is_missing_then_pulled_and_dropped(cfg):
    fake = FakeGrid(cfg, hold=lambda m: client_ids(m) == [2])
    store = ClientStore()
    vgrid = VirtualGrid(fake, store)
    vgrid.set_cohort(COHORT)
    replies = vgrid.send_and_receive(train_messages(cfg, COHORT), timeout=30)
    assert [vgrid.client_of(r) for r in replies] == [0, 1, 3] and vgrid.missing == [2]
    assert store.get(2) == (None, None) and vgrid.late_dropped == 0
    fake.hold = None
    replies = vgrid.send_and_receive(train_messages(cfg, COHORT, rnd=3), timeout=30)
    assert vgrid.late_dropped == 1 and len(replies) == 4 and vgrid.missing == []
    assert vgrid.state_dict() == {"late_dropped": 1}


def test_straggler_past_the_deadline_is_not_sent_and_counts_late(cfg):
    fake = FakeGrid(cfg)
    extras = {3: {wire.FAULT: "straggler", wire.FAULT_DELAY: 5.0}}
    vgrid, replies = send(cfg, fake, extras=extras, timeout=5.0)
    assert [client_ids(m) for m in fake.sent] == [[0], [1], [2]]
    assert vgrid.missing == [3] and vgrid.late_dropped == 1 and len(replies) == 3
