#!/usr/bin/env bash
# Set up (if needed) and run the test suite; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh
.venv/bin/ruff check fedsim strategies scenarios tests benchmarks scripts
exec .venv/bin/python -m pytest -q "$@"
