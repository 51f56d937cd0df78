#!/usr/bin/env bash
# Set up (if needed) and run the default experiment; extra arguments are Hydra overrides.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh
exec .venv/bin/fedsim "$@"
