#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# AOTInductor with Inductor's max-autotune for the CPU (its C++ GEMM templates, weights frozen)
# against a default AOTInductor package and the TorchScript export with the load-time rewrites,
# on the demo model (docs/performance.md, "Tried and did not win"). Exports the two packages once
# (MODEL's network size for SIZE), then `bench` on each in turn for ROUNDS interleaved rounds.
#   src/test/bench/aoti-autotune.sh OUT.jsonl [MODEL] [SIZE] [ROUNDS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=${1:?usage: aoti-autotune.sh OUT.jsonl [MODEL] [SIZE] [ROUNDS] [THREADS]}
model=${2:-models/demo/demo.pt}
size=${3:-512x384}
rounds=${4:-3}
threads=${5:-1}
./maskformer setup >/dev/null
py=${MASKFORMER_PYTHON:-.venv/bin/python}
dir=target/bench-models
mkdir -p "$dir"
stem=$(basename "$model" .pt)
net=$("$py" -c '
import sys
sys.path.insert(0, "models")
from maskformer.export import read_metadata
from maskformer.reference import target_size
w, h = (int(v) for v in sys.argv[2].split("x"))
r = read_metadata(sys.argv[1])["resize"]
th, tw = target_size(h, w, r["long_side"], r["short_side"])
print(f"{tw}x{th}")' "$model" "$size")
export_pkg() { # name, env...
  local name=$1; shift
  [[ -f $dir/$stem-$name.pt2 ]] && return 0
  local t0=$SECONDS
  env "$@" "$py" models/export.py --torchscript "$model" --format aoti --sizes "$net" --out "$dir/$stem-$name.pt2" >&2
  echo "exported $stem-$name.pt2 ($net) in $((SECONDS - t0)) s with $*" >&2
}
export_pkg aoti
export_pkg autotune TORCHINDUCTOR_MAX_AUTOTUNE=1 TORCHINDUCTOR_FREEZING=1 TORCHINDUCTOR_MAX_AUTOTUNE_GEMM_BACKENDS=CPP,ATEN
for round in $(seq "$rounds"); do
  for f in "$model" "$dir/$stem-aoti.pt2" "$dir/$stem-autotune.pt2"; do
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    json=$(./maskformer bench --model "$f" --allow-native-code --size "$size" --iters 20 --warmup 3 --threads "$threads" \
      --gflop 0 2>/dev/null | tr -d '\n')
    printf '{"round": %d, "file": "%s", "load": "%s", "result": %s}\n' "$round" "$f" "$load" "$json" >> "$out"
  done
  echo "round $round done" >&2
done
