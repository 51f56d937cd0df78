"""Interrupt + resume equals an uninterrupted run, bit for bit, for every family (no Ray).

The run goes through ``run_server`` on the fake grid (real ClientApp in-process), is stopped
at the first send after its checkpoint holds round ``KILL_AT`` (as a killed driver would be),
and is resumed from that checkpoint with a fresh grid and fresh components. Everything in
``summary.json`` is compared except wall-clock times, and TensorBoard holds one central value
per round. These were six side-by-side pairs of Ray runs; the real kill -9 and ``fedsim
resume`` path stays in ``tests/integration/test_resume_families.py`` for two families.

Marked ``integration``: 15 whole 4-round runs (about 15 s of CPU) do not belong in the
one-minute tier; the fast tier keeps two resume cases in ``test_round_loop.py``.
"""

from __future__ import annotations

import pytest

from fedsim.server.state import CHECKPOINT_NAME, checkpoint_round
from tests.conftest import compose
from tests.fake_grid import EngineStoppedError, run_on_fake_grid
from tests.server.resume_cases import (
    BASE,
    FAMILIES,
    KILL_AT,
    central_scalars,
    comparable,
    differences,
    exercised,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("family", list(FAMILIES))
def test_interrupt_then_resume_equals_uninterrupted(tmp_path, family):
    cfg = compose(*BASE, *FAMILIES[family], f"output.root={tmp_path}")
    ref_dir, cut_dir = tmp_path / "ref", tmp_path / "cut"
    want, _ = run_on_fake_grid(cfg, ref_dir)
    exercised(family, want)
    checkpoint = cut_dir / CHECKPOINT_NAME
    with pytest.raises(EngineStoppedError):
        run_on_fake_grid(cfg, cut_dir, stop_when=lambda: checkpoint_round(checkpoint) == KILL_AT)
    assert checkpoint_round(checkpoint) == KILL_AT < want["rounds"]
    assert not (cut_dir / "summary.json").exists()
    got, _ = run_on_fake_grid(cfg, cut_dir, resume=True)
    assert got["resumed_from_round"] == KILL_AT
    assert got["final"] == want["final"]
    assert got["central_matrix"] == want["central_matrix"]
    assert got["federation_matrix"] == want["federation_matrix"]
    assert got["client_matrices"] == want["client_matrices"]
    assert comparable(got) == comparable(want), differences(comparable(got), comparable(want))[:5]
    scalars = central_scalars(cut_dir)  # one value per round, no duplicated steps
    if scalars or want["final_central_acc"] is not None:
        assert [s for s, _ in scalars] == list(range(1, want["rounds"] + 1))
    assert scalars == central_scalars(ref_dir)
