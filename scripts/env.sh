# Offline hygiene for Flower, Ray and Hugging Face; sourced by demo.sh and test.sh.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$ROOT/.tmp/flwr" "$ROOT/.tmp/ray" "$ROOT/.tmp/mpl"
export FLWR_HOME="${FLWR_HOME:-$ROOT/.tmp/flwr}"
export RAY_TMPDIR="${RAY_TMPDIR:-$ROOT/.tmp/ray}"
export MPLCONFIGDIR="${MPLCONFIGDIR:-$ROOT/.tmp/mpl}"
export FLWR_TELEMETRY_ENABLED=0 FLWR_DISABLE_UPDATE_CHECK=1
export FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION=1
export RAY_USAGE_STATS_ENABLED=0 RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO=0
export HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1
