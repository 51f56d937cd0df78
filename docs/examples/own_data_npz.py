"""Your own data without writing a module: an ``.npz`` with ``x`` and ``y`` (``data=arrays``).

Run from the repository root: ``python docs/examples/own_data_npz.py [OUTPUT_ROOT]``. The same
file works on the command line::

    fedsim data=arrays data.path=/tmp/blobs.npz scenario.num_tasks=2 scenario.classes_per_task=2
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

import fedsim

#: a small federation: 4 clients, 2 tasks of 2 classes, one round per task
OVERRIDES = [
    "data=arrays",
    "scenario.num_tasks=2",
    "scenario.classes_per_task=2",
    "scenario.num_clients=4",
    "scenario.rounds_per_task=1",
    "scenario.max_arrival_delay=0",
    "train.epochs=2",
]


def write_npz(path: Path, seed: int = 0) -> Path:
    """Four Gaussian classes in 16 dimensions; ``x_test``/``y_test`` are optional."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(4, 16))
    y = rng.integers(0, 4, size=400)  # integer labels 0..C-1, every class present
    x = (centres[y] + rng.normal(size=(400, 16))).astype(np.float32)
    np.savez(path, x=x, y=y)  # no test split: data.test_fraction of each class is held out
    return path


def main(root: Path) -> fedsim.Result:
    """Write the file, run on it, return the result."""
    path = write_npz(root / "blobs.npz")
    return fedsim.run([*OVERRIDES, f"data.path={path}", f"output.root={root / 'runs'}"])


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    result = main(out)
    print(result)
    print("accuracy matrix:\n", result.accuracy_matrix)
