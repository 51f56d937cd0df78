"""Checkpoints are data: atomic, integrity-checked, tied to their config, never executed."""

import io
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord
from flwr.serverapp.strategy import FedAdam, FedAvgM

from fedsim.cli.resume import check_resumable
from fedsim.errors import FedsimError
from fedsim.metrics.accuracy_book import AccuracyBook
from fedsim.server.checkpoint_codec import META, VERSION, CheckpointError, encode, read_meta
from fedsim.server.round_record import Attempt, ClientEval, RoundRecord
from fedsim.server.state import (
    CHECKPOINT_NAME,
    Components,
    ServerState,
    checkpoint_round,
    load_checkpoint,
)
from fedsim.server.strategy_state import StrategyState, load_strategy_state, strategy_state
from fedsim.transport.client_store import ClientStore
from scenarios.types import ScenarioPlan

CFG = {"seed": 0, "scenario": {"num_clients": 4}, "output": {"root": "/a"}, "log": {"x": 1}}


def _state(rnd=3, fill=1.0):
    plan = ScenarioPlan(
        kind="t", tasks=[], streams=[], num_rounds=5, num_classes=2, task_incremental=False
    )
    arrays = ArrayRecord({"w": Array(np.full((4, 3), fill, np.float32))})
    st = ServerState(round=rnd, arrays=arrays, book=AccuracyBook(plan), store=ClientStore())
    st.history = [
        RoundRecord(
            round=r,
            train=Attempt(cohort=[1, 2], rejected={1: "x"}, missing=[], asked=2, unexpected=[1]),
            client_eval=ClientEval(asked=1, rejected={}, accs=[0.5], failures=0, boundary_rows=1),
            round_time_s=0.25 * r,
        )
        for r in range(1, rnd + 1)
    ]
    st.lr_state = {"lr": 0.5, "v": {"w": np.arange(3.0)}, "m": np.float32(0.25)}
    st.selection_state = {"scores": {3: 0.7, 1: float("nan")}, "remaining": [2, 0]}
    st.store.put(
        5, ConfigRecord({"ptr": 2, "blob": b"\x00\xff"}), ArrayRecord({"p": Array(np.ones(2))})
    )
    return st


def _same(a: ServerState, b: ServerState) -> None:
    assert a.round == b.round and a.history == b.history and a.bytes_total == b.bytes_total
    assert list(a.arrays.keys()) == list(b.arrays.keys())
    for k in a.arrays.keys():
        np.testing.assert_array_equal(a.arrays[k].numpy(), b.arrays[k].numpy())
    np.testing.assert_array_equal(a.lr_state["v"]["w"], b.lr_state["v"]["w"])
    assert type(b.lr_state["m"]) is np.float32 and b.lr_state["m"] == a.lr_state["m"]
    assert b.selection_state["remaining"] == [2, 0] and b.selection_state["scores"][3] == 0.7
    assert np.isnan(b.selection_state["scores"][1])
    cfg, arrays = b.store.get(5)
    assert dict(cfg) == {"ptr": 2, "blob": b"\x00\xff"} and arrays["p"].numpy().tolist() == [1, 1]


def test_round_trip_keeps_types_and_values(tmp_path):
    path = tmp_path / CHECKPOINT_NAME
    _state().save(path, config=CFG)
    assert checkpoint_round(path) == 3
    restored = _state(rnd=0, fill=0.0)
    restored.load_into(load_checkpoint(path, config=CFG))
    _same(_state(), restored)
    assert not (tmp_path / (CHECKPOINT_NAME + ".tmp")).exists()
    with zipfile.ZipFile(path) as zf:  # data only: .npy members, JSON in one uint8 member
        assert all(n.endswith(".npy") for n in zf.namelist())
    assert read_meta(path)["version"] == VERSION


def test_every_truncation_is_rejected_and_bit_flips_never_change_the_state(tmp_path):
    path = tmp_path / CHECKPOINT_NAME
    _state().save(path)
    blob = path.read_bytes()
    cut = tmp_path / "cut.npz"
    for n in sorted({0, 1, 3, 4, 30, len(blob) // 2, len(blob) - 22, len(blob) - 1}):
        cut.write_bytes(blob[:n])
        with pytest.raises(CheckpointError, match="truncated|torn|not a fedsim|corrupt"):
            load_checkpoint(cut)
    rejected = 0
    for pos in range(0, len(blob), 5):  # a flip is refused, or hits a field that holds no data
        flipped = bytearray(blob)
        flipped[pos] ^= 0xFF
        cut.write_bytes(bytes(flipped))
        try:
            snap = load_checkpoint(cut)
        except CheckpointError:
            rejected += 1
            continue
        restored = _state(rnd=0, fill=0.0)
        restored.load_into(snap)
        _same(_state(), restored)
    assert rejected > 0.8 * len(range(0, len(blob), 5))
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "absent.npz")


def test_crash_during_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / CHECKPOINT_NAME
    _state(rnd=2).save(path)

    def torn_replace(src, dst):  # the process dies after writing part of the temp file
        with open(src, "r+b") as fh:
            fh.truncate(os.path.getsize(src) // 2)
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr("fedsim.server.checkpoint_codec.os.replace", torn_replace)
    with pytest.raises(KeyboardInterrupt):
        _state(rnd=3).save(path)
    assert load_checkpoint(path)["round"] == 2  # the old file is intact and valid
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / (CHECKPOINT_NAME + ".tmp"))


def test_a_checkpoint_is_tied_to_its_config_and_version(tmp_path):
    path = tmp_path / CHECKPOINT_NAME
    _state().save(path, config=CFG)
    moved = {**CFG, "output": {"root": "/elsewhere"}, "log": {"x": 2}, "backend": {"n": 9}}
    assert load_checkpoint(path, config=moved)["round"] == 3  # output/log/backend may differ
    other = {**CFG, "scenario": {"num_clients": 6}}
    with pytest.raises(CheckpointError, match=r"another config.*scenario\.num_clients \(4 .*6"):
        load_checkpoint(path, config=other)
    with pytest.raises(CheckpointError, match="another config"):
        load_checkpoint(path, config={**CFG, "seed": 1})
    _rewrite_meta(path, lambda doc: doc.replace(f'"version":{VERSION}', '"version":99'))
    with pytest.raises(CheckpointError, match="format version 99, this fedsim reads"):
        load_checkpoint(path, config=CFG)
    _state().save(path, config=CFG)
    _rewrite_meta(path, lambda doc: doc.replace(f'"version":{VERSION}', f'"version":{VERSION - 1}'))
    with pytest.raises(CheckpointError, match="written by an older fedsim: start the run again"):
        load_checkpoint(path, config=CFG)


def _rewrite_meta(path, edit):
    """Rewrite the JSON member (a valid zip with correct CRCs: a deliberate edit)."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    arr = np.load(io.BytesIO(members[META + ".npy"]))
    doc = edit(arr.tobytes().decode())
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(doc.encode(), np.uint8))
    members[META + ".npy"] = buf.getvalue()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_save_refuses_what_is_not_data(tmp_path):
    st = _state()
    st.strategy_state = StrategyState(m_t={"hook": lambda x: x})
    with pytest.raises(CheckpointError, match=r"strategy_state\.attrs\.m_t\.hook: values of type"):
        st.save(tmp_path / CHECKPOINT_NAME)
    with pytest.raises(CheckpointError, match="dtype object"):
        encode({"a": np.array([object()], dtype=object)})
    assert not (tmp_path / CHECKPOINT_NAME).exists()


def test_flower_strategy_state_round_trips_through_a_checkpoint(tmp_path):
    adam = FedAdam()
    adam.current_arrays = {"w": np.ones(3)}
    adam.m_t = {"w": np.full(3, 0.1)}
    adam.v_t = {"w": np.full(3, 0.2)}
    avgm = FedAvgM(server_momentum=0.9)
    avgm.current_arrays = ArrayRecord({"w": Array(np.ones(2))})
    avgm.momentum_vector = [np.full(2, 3.0)]
    snaps = {}
    for name, strategy in (("adam", adam), ("avgm", avgm)):
        st = _state()
        st.strategy_state = strategy_state(strategy)
        adam.m_t["w"][:] = 9  # the snapshot is a copy
        st.save(tmp_path / f"{name}.npz")
        back = _state(rnd=0)
        back.load_into(load_checkpoint(tmp_path / f"{name}.npz"))
        snaps[name] = back.strategy_state
    fresh = FedAdam()
    load_strategy_state(fresh, snaps["adam"])
    np.testing.assert_array_equal(fresh.m_t["w"], 0.1)
    np.testing.assert_array_equal(fresh.v_t["w"], 0.2)
    fresh = FedAvgM(server_momentum=0.9)
    load_strategy_state(fresh, snaps["avgm"])
    np.testing.assert_array_equal(fresh.current_arrays["w"].numpy(), 1.0)
    np.testing.assert_array_equal(fresh.momentum_vector[0], 3.0)


class _Own:
    def __init__(self):
        self.bank = {}

    def state_dict(self):
        return {"bank": dict(self.bank)}

    def load_state_dict(self, state):
        self.bank = dict(state["bank"])


def test_capture_and_restore_every_component(tmp_path):
    a = Components(_Own(), _Own(), _Own(), _Own(), _Own())
    for i, part in enumerate((a.strategy, a.lr_controller, a.selection, a.faults, a.deadlines)):
        part.bank = {i: float(i)}
    st = _state()
    st.capture(a)
    st.save(tmp_path / CHECKPOINT_NAME)
    b = Components(_Own(), _Own(), _Own(), _Own(), _Own())
    fresh = _state(rnd=0)
    fresh.load_into(load_checkpoint(tmp_path / CHECKPOINT_NAME))
    fresh.restore(b)
    for i, part in enumerate((b.strategy, b.lr_controller, b.selection, b.faults, b.deadlines)):
        assert part.bank == {i: float(i)}
    with pytest.raises(TypeError, match="selection object must implement state_dict"):
        Components(_Own(), _Own(), object(), _Own(), _Own())


def test_resume_refuses_finished_missing_or_torn(tmp_path):
    with pytest.raises(FedsimError, match="not a directory"):
        check_resumable(tmp_path / "nope")
    with pytest.raises(FedsimError, match="no config.yaml"):
        check_resumable(tmp_path)
    from omegaconf import OmegaConf

    from fedsim.config.compose import compose_config

    cfg = OmegaConf.to_container(compose_config(["seed=0"]), resolve=True)
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(cfg)))
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
    with pytest.raises(CheckpointError, match="does not exist"):
        check_resumable(tmp_path)
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"PK\x03\x04-torn")
    with pytest.raises(CheckpointError, match="truncated|torn|corrupt"):
        check_resumable(tmp_path)
    _state().save(tmp_path / CHECKPOINT_NAME, config={**cfg, "seed": 1})
    with pytest.raises(CheckpointError, match=r"another config.*seed \(1 in the checkpoint, 0"):
        check_resumable(tmp_path)


@pytest.mark.parametrize("group", ["selection", "lr", "faults"])
def test_every_configured_component_is_stateful_and_its_state_is_data(group):
    """Every option of configs/<group> declares Stateful and checkpoints as data (a fresh one)."""
    from pathlib import Path

    from omegaconf import OmegaConf

    from fedsim.resolver import build
    from fedsim.stateful import Stateful

    kwargs = {
        "selection": {"fraction": 0.5, "min_clients": 1, "max_clients": None, "seed": 0},
        "lr": {"lr": 0.1},
        "faults": {"seed": 0, "num_clients": 10},
    }[group]
    root = Path(__file__).resolve().parents[2] / "configs" / group
    files = sorted(root.glob("*.yaml"))
    assert files
    for path in files:
        spec = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
        if not spec:  # faults=none
            continue
        part = build(spec, group, **kwargs)
        assert isinstance(part, Stateful), path.name
        tree, _ = encode(part.state_dict())
        fresh = build(spec, group, **kwargs)
        fresh.load_state_dict(part.state_dict())
        assert encode(fresh.state_dict())[0] == tree, path.name
