"""Run fedsim from Python on arrays in memory, then read the result back.

Run from the repository root: ``python docs/examples/api_run.py [OUTPUT_ROOT]``.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

from sklearn.datasets import load_digits

import fedsim

SMALL = [
    "scenario.num_clients=4",
    "scenario.num_tasks=2",
    "scenario.rounds_per_task=1",
    "scenario.max_arrival_delay=0",
    "train.epochs=1",
]


def main(root: Path) -> fedsim.Result:
    """Compose, run on the digits as plain arrays, reload the run directory."""
    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[:, None]  # (n, 1, 8, 8)
    y = digits.target  # integer labels 0..9

    cfg = fedsim.compose([*SMALL, "strategy=fedprox", f"output.root={root}"])
    cfg["strategy"]["proximal_mu"] = 0.1  # a composed config is a plain dict: edit it
    result = fedsim.run(cfg, data=(x, y))  # or data=fedsim.data.ArraySource(x, y, x_test, y_test)

    again = fedsim.load_result(result.run_dir)
    assert again.metrics == result.metrics
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # fedsim logs where the run went; nothing prints
    result = main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()))
    print(result)
    print("metrics:", result.metrics)
    print("federation accuracy matrix (after task i, task j):\n", result.accuracy_matrix)
    print("rounds:", [r["round"] for r in result.rounds])
