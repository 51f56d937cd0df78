#!/usr/bin/env bash
# Create .venv (if missing) and install fedsim with its test tools. Idempotent.
# torch is installed first, pinned to the CPU wheel, so nothing pulls a multi-GB CUDA build;
# FEDSIM_TORCH=cuda installs the CUDA wheel of the same version instead (README "GPU install").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
if [ "${FEDSIM_TORCH:-cpu}" = "cuda" ]; then
  # opt-in GPU build: the CUDA wheel of the same torch version (README "GPU install");
  # FEDSIM_CUDA picks the wheel index matching the driver (cu126, cu128, ...).
  python -m pip install -q "torch==2.13.0" \
    --index-url "https://download.pytorch.org/whl/${FEDSIM_CUDA:-cu128}"
else
  python -m pip install -q "torch==2.13.0"
fi
python -m pip install -q -e ".[dev]"
