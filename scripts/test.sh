#!/usr/bin/env bash
# Set up (if needed) and run the test suite; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh
.venv/bin/ruff check fedsim strategies scenarios tests benchmarks scripts docs/examples
# the docs site: every page, link, snippet and docstring reference must resolve (mkdocs.yml)
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict -q -d .tmp/site
if [ "$#" -gt 0 ]; then  # a chosen subset: one pytest run, as asked
  exec .venv/bin/python -m pytest -q "$@"
fi
# everything on two workers (pytest-xdist); tests/conftest.py starts the whole runs (Ray,
# SuperLink) first so the short tests fill the gaps: 4 min 55 s on the 2-core CI machine
exec .venv/bin/python -m pytest -q -n 2 --dist worksteal
