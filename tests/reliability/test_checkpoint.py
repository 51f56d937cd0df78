"""Checkpoint integrity: atomic writes, torn/truncated files rejected, strategy state kept."""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord
from flwr.serverapp.strategy import FedAdam, FedAvgM

from fedsim.accuracy import AccuracyBook
from fedsim.client_store import ClientStore
from fedsim.errors import FedsimError
from fedsim.resume import check_resumable
from fedsim.server_state import CheckpointError, ServerState, checkpoint_round, load_checkpoint
from fedsim.strategy_state import load_strategy_state, strategy_state
from scenarios.types import ScenarioPlan


def _state(rnd=3, fill=1.0):
    plan = ScenarioPlan(
        kind="t", tasks=[], streams=[], num_rounds=5, num_classes=2, task_incremental=False
    )
    arrays = ArrayRecord({"w": Array(np.full((4, 3), fill, np.float32))})
    st = ServerState(round=rnd, arrays=arrays, book=AccuracyBook(plan), store=ClientStore())
    st.history = [{"round": r, "rejected": {1: "x"}} for r in range(1, rnd + 1)]
    st.lr_state = {"lr": 0.5}
    return st


def test_round_trip(tmp_path):
    path = tmp_path / "checkpoint.pkl"
    _state().save(path)
    assert checkpoint_round(path) == 3
    snap = load_checkpoint(path)
    restored = _state(rnd=0, fill=0.0)
    restored.load_into(snap)
    assert restored.round == 3 and restored.lr_state == {"lr": 0.5}
    np.testing.assert_array_equal(restored.arrays["w"].numpy(), 1.0)
    assert not (tmp_path / "checkpoint.pkl.tmp").exists()


def test_every_truncation_and_bit_flip_is_rejected(tmp_path):
    path = tmp_path / "checkpoint.pkl"
    _state().save(path)
    blob = path.read_bytes()
    cut = tmp_path / "cut.pkl"
    for n in sorted({0, 1, 7, 8, 20, 59, 60, 61, len(blob) // 2, len(blob) - 1}):
        cut.write_bytes(blob[:n])
        with pytest.raises(CheckpointError, match="truncated|torn|not a fedsim"):
            load_checkpoint(cut)
    for pos in (len(blob) - 1, len(blob) // 2, 70):
        flipped = bytearray(blob)
        flipped[pos] ^= 0xFF
        cut.write_bytes(bytes(flipped))
        with pytest.raises(CheckpointError, match="corrupt"):
            load_checkpoint(cut)
    cut.write_bytes(pickle.dumps(_state().to_dict()))  # an old, header-less pickle
    with pytest.raises(CheckpointError, match="not a fedsim checkpoint"):
        load_checkpoint(cut)
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(tmp_path / "absent.pkl")


def test_crash_during_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pkl"
    _state(rnd=2).save(path)

    def torn_replace(src, dst):  # the process dies after writing part of the temp file
        with open(src, "r+b") as fh:
            fh.truncate(os.path.getsize(src) // 2)
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr("fedsim.server_state.os.replace", torn_replace)
    with pytest.raises(KeyboardInterrupt):
        _state(rnd=3).save(path)
    assert load_checkpoint(path)["round"] == 2  # the old file is intact and valid
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "checkpoint.pkl.tmp")


def test_flower_strategy_state_round_trips():
    adam = FedAdam()
    adam.current_arrays = {"w": np.ones(3)}
    adam.m_t = {"w": np.full(3, 0.1)}
    adam.v_t = {"w": np.full(3, 0.2)}
    snap = pickle.loads(pickle.dumps(strategy_state(adam)))
    fresh = FedAdam()
    load_strategy_state(fresh, snap)
    np.testing.assert_array_equal(fresh.m_t["w"], 0.1)
    np.testing.assert_array_equal(fresh.v_t["w"], 0.2)
    adam.m_t["w"][:] = 9  # the snapshot is a copy
    assert snap["attrs"]["m_t"]["w"][0] == pytest.approx(0.1)

    avgm = FedAvgM(server_momentum=0.9)
    avgm.current_arrays = ArrayRecord({"w": Array(np.ones(2))})
    avgm.momentum_vector = [np.full(2, 3.0)]
    fresh = FedAvgM(server_momentum=0.9)
    load_strategy_state(fresh, pickle.loads(pickle.dumps(strategy_state(avgm))))
    np.testing.assert_array_equal(fresh.current_arrays["w"].numpy(), 1.0)
    np.testing.assert_array_equal(fresh.momentum_vector[0], 3.0)


class _Own:
    def __init__(self):
        self.bank = {}

    def state_dict(self):
        return {"bank": dict(self.bank)}

    def load_state_dict(self, state):
        self.bank = dict(state["bank"])


def test_strategy_with_its_own_state_dict():
    a = _Own()
    a.bank = {1: 2}
    b = _Own()
    load_strategy_state(b, strategy_state(a))
    assert b.bank == {1: 2}


def test_resume_refuses_finished_missing_or_torn(tmp_path):
    with pytest.raises(FedsimError, match="not a directory"):
        check_resumable(tmp_path / "nope")
    with pytest.raises(FedsimError, match="no config.yaml"):
        check_resumable(tmp_path)
    (tmp_path / "config.yaml").write_text("seed: 0\n")
    (tmp_path / "status.json").write_text('{"state": "completed"}')
    with pytest.raises(FedsimError, match="already completed"):
        check_resumable(tmp_path)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "status.json").write_text(f'{{"state": "running", "pid": {live.pid}}}')
        with pytest.raises(FedsimError, match="still running"):
            check_resumable(tmp_path)
    finally:
        live.kill()
        live.wait()
    (tmp_path / "status.json").write_text('{"state": "failed"}')
    (tmp_path / "checkpoint.pkl").write_bytes(b"FEDSIMCK-torn")
    with pytest.raises(CheckpointError, match="truncated"):
        check_resumable(tmp_path)
