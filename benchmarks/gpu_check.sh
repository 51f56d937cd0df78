#!/usr/bin/env bash
# GPU check: run whenever a GPU machine is available (needs the CUDA wheel:
# FEDSIM_TORCH=cuda bash scripts/setup.sh). Exits non-zero when CUDA is missing or a step fails.
#   bash benchmarks/gpu_check.sh            # ~1-2 min on one GPU
# Prints: torch/CUDA info, the loop's peak GPU memory, a small fedsim experiment with
# train.device=cuda backend.client_gpus=0.5 (two clients per GPU): round times, final accuracy,
# GPU processes seen (driver + client actors) and peak GPU memory used (nvidia-smi), and the
# raw-loop harness on cuda.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
PY=${PY:-.venv/bin/python}
OUT=${GPU_CHECK_OUT:-$(mktemp -d /tmp/fedsim-gpu-check.XXXXXX)}

echo "== torch / CUDA"
"$PY" - <<'EOF'
import sys

import torch

print("torch", torch.__version__, "cuda build", torch.version.cuda)
if not torch.cuda.is_available():
    print("CUDA is not available: install the CUDA wheel (README 'GPU install')", file=sys.stderr)
    sys.exit(3)
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f"cuda:{i} {p.name} {p.total_memory / 2**30:.1f} GiB")
EOF

echo "== the one training loop on cuda vs cpu (unit test) and peak memory"
"$PY" -m pytest -q -p no:cacheprovider tests/test_device.py 2>&1 | tail -n 3
"$PY" - <<'EOF'
import time

import numpy as np
import torch

from fedsim.client.training_loop import train_local
from fedsim.models.cnn import SmallCNN

rng = np.random.default_rng(0)
x = rng.standard_normal((2048, 1, 8, 8)).astype(np.float32)
y = rng.integers(0, 10, 2048)
for dev in ("cpu", "cuda:0"):
    model = SmallCNN((1, 8, 8), 10, channels=32, embedding_dim=64).to(dev)
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    res = train_local(model, x, y, epochs=2, batch_size=64, lr=0.05, rng=np.random.default_rng(1))
    torch.cuda.synchronize()
    print(f"{dev}: loss {res.loss:.4f} in {time.perf_counter() - t0:.2f} s, "
          f"peak GPU {torch.cuda.max_memory_allocated() / 2**20:.1f} MB")
EOF

echo "== fedsim +experiment=quick train.device=cuda backend.client_gpus=0.5"
SMI=$OUT/nvidia-smi.csv
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$SMI" &
  SMI_PID=$!
  APPS=$OUT/apps.txt
  ( while true; do nvidia-smi --query-compute-apps=pid --format=csv,noheader >> "$APPS"; \
      sleep 0.5; done ) &
  APPS_PID=$!
fi
"$PY" -m fedsim.cli.main +experiment=quick train.device=cuda backend.client_gpus=0.5 \
  output.root="$OUT/runs" output.name=gpu log.progress=false > "$OUT/fedsim.log" 2>&1 || {
  tail -n 30 "$OUT/fedsim.log"; exit 1; }
if [ -n "${SMI_PID:-}" ]; then
  kill "$SMI_PID" "$APPS_PID" 2>/dev/null || true
  echo "peak GPU memory used (nvidia-smi): $(sort -n "$SMI" | tail -n 1) MiB"
  echo "distinct GPU processes seen: $(sort -u "$APPS" | grep -c . || true)"
fi
"$PY" - "$OUT/runs" <<'EOF'
import json
import sys
from pathlib import Path

summary = json.loads(next(Path(sys.argv[1]).rglob("summary.json")).read_text())
times = [round(r["round_time_s"], 3) for r in summary["history"]]
print("status", summary["status"], "final central acc", round(summary["final_central_acc"], 4))
print("round times s", times)
EOF

echo "== harness: raw loop on cuda (GPU memory reported)"
"$PY" -m benchmarks.run_one --impl raw --registered 1000 --rounds 3 --device cuda | tail -n 1
echo "gpu_check: OK (outputs in $OUT)"
