#!/usr/bin/env bash
# Set up (if needed) and run the test suite; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh
.venv/bin/ruff check fedsim strategies scenarios tests benchmarks scripts
if [ "$#" -gt 0 ]; then  # a chosen subset: one pytest run, as asked
  exec .venv/bin/python -m pytest -q "$@"
fi
# the fast tier on two workers (pytest-xdist), then whole runs one at a time (Ray, SuperLink)
.venv/bin/python -m pytest -q -m "not integration" -n 2
exec .venv/bin/python -m pytest -q -m integration
