"""Accuracy-matrix images are written at the rounds the docs promise (task-boundary rounds and
the last round) and each shows the matrix of its round (issue 19: drawn without matplotlib)."""

import io

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fedsim.experiment import get_experiment
from fedsim.logging.heatmap import matrix_image
from fedsim.server.reporter import _matrix_labels
from tests.conftest import SMALL, compose
from tests.fake_grid import run_experiment

RUN = [*SMALL, "scenario.num_tasks=3", "log.matrix_clients=[0,2]"]


def _images(run_dir, tag):
    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"images": 0})
    acc.Reload()
    if tag not in acc.Tags()["images"]:
        return {}
    return {e.step: np.asarray(Image.open(io.BytesIO(e.encoded_image_string)).convert("RGB"))
            for e in acc.Images(tag)}  # fmt: skip


def _matrix(rows) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


def test_heatmaps_at_boundary_rounds_and_the_last_showing_their_matrix(tmp_path):
    run_dir, summary = run_experiment(tmp_path, *RUN)
    last = summary["rounds"]
    changed = {h["round"] for h in summary["history"] if h.get("boundary_rows", 0) > 0}
    assert len(changed - {last}) >= 2, "the run must have boundary rounds before the last"
    fed = _images(run_dir, "accuracy_matrix/federation")
    assert set(fed) == (changed - {last}) | {last}
    want = matrix_image(_matrix(summary["federation_matrix"]), **_matrix_labels("mean client"))
    np.testing.assert_array_equal(fed[last], want)
    earlier = fed[min(fed)]
    assert earlier.shape != want.shape or np.any(earlier != want)  # fewer rows then

    plan = get_experiment(compose(*RUN, f"output.root={tmp_path}")).plan
    for cid in (0, 2):
        ends = {r for r in changed if plan.streams[cid].ending_at(r) is not None}
        images = _images(run_dir, f"accuracy_matrix/client_{cid}")
        assert set(images) == ends | {last}, cid
        want = matrix_image(_matrix(summary["client_matrices"][str(cid)]),
                            **_matrix_labels(f"client {cid}"))  # fmt: skip
        np.testing.assert_array_equal(images[last], want)
    assert _images(run_dir, "accuracy_matrix/client_1") == {}
    assert set(_images(run_dir, "accuracy_matrix/central_rounds")) == {last}
