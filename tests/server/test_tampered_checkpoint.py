"""A tampered checkpoint cannot run code: `fedsim resume` refuses it and nothing executes."""

import hashlib
import io
import json
import pickle
import struct
import zipfile

import numpy as np
import pytest
from omegaconf import OmegaConf

from fedsim.server.checkpoint_codec import CheckpointError
from fedsim.server.state import CHECKPOINT_NAME, load_checkpoint
from tests.cli.invoke import run_fedsim
from tests.conftest import SMALL, compose
from tests.payload import Payload
from tests.server.test_checkpoint import _state


def _run_dir(tmp_path):
    cfg = compose(*SMALL, f"output.root={tmp_path}")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(cfg)))
    (run_dir / "status.json").write_text(json.dumps({"state": "failed"}))
    _state().save(run_dir / CHECKPOINT_NAME, config=cfg)
    assert load_checkpoint(run_dir / CHECKPOINT_NAME, config=cfg)["round"] == 3  # valid so far
    return cfg, run_dir


def _resume(run_dir):
    """``fedsim resume RUN_DIR``, in-process (:func:`tests.cli.invoke.run_fedsim`)."""
    return run_fedsim("resume", str(run_dir), cwd=run_dir.parent)


def _object_npy(marker) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.array([Payload(marker)], dtype=object), allow_pickle=True)
    return buf.getvalue()


def test_the_payload_is_live(tmp_path):
    """The planted bytes do run code when unpickled (so the refusals below mean something)."""
    marker = tmp_path / "ran"
    np.load(io.BytesIO(_object_npy(marker)), allow_pickle=True)
    assert marker.exists()
    marker.unlink()
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.exists()


def test_object_array_planted_in_the_checkpoint_is_refused_without_running(tmp_path):
    cfg, run_dir = _run_dir(tmp_path)
    marker = tmp_path / "ran"
    path = run_dir / CHECKPOINT_NAME
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    victim = sorted(n for n in members if not n.startswith("__"))[0]
    members[victim] = _object_npy(marker)
    with zipfile.ZipFile(path, "w") as zf:  # a well-formed archive, every CRC-32 correct
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(CheckpointError, match="pickled Python objects"):
        load_checkpoint(path, config=cfg)
    res = _resume(run_dir)
    assert res.returncode == 2, res.stderr[-2000:]
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("fedsim: error:")]
    assert len(errors) == 1 and "pickled Python objects" in errors[0], res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    assert not marker.exists()
    assert json.loads((run_dir / "status.json").read_text())["state"] == "failed"


def test_old_pickle_checkpoint_with_a_correct_checksum_is_never_read(tmp_path):
    _, run_dir = _run_dir(tmp_path)
    marker = tmp_path / "ran"
    (run_dir / CHECKPOINT_NAME).unlink()
    payload = pickle.dumps({"round": 3, "x": Payload(marker)})
    header = struct.pack(  # the old format's header, checksum recomputed over the payload
        "<8sIQQ32s", b"FEDSIMCK", 1, 3, len(payload), hashlib.sha256(payload).digest()
    )
    (run_dir / "checkpoint.pkl").write_bytes(header + payload)
    (run_dir / CHECKPOINT_NAME).write_bytes(header + payload)  # and under the new name
    res = _resume(run_dir)
    assert res.returncode == 2 and "not a fedsim checkpoint" in res.stderr, res.stderr[-2000:]
    (run_dir / CHECKPOINT_NAME).unlink()
    res = _resume(run_dir)
    assert res.returncode == 2, res.stderr[-2000:]
    assert "no longer reads" in res.stderr and "Traceback" not in res.stderr
    assert not marker.exists()
