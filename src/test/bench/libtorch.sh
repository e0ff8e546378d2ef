#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The CPU numbers of docs/performance.md, in interleaved rounds on one machine:
# per model and frame size, Java on the default LibTorch (2.13) against Python on the same torch
# and the same file (bench --compare-python), the same Java pipeline on Debian's LibTorch 1.13
# (the compatibility shim of ./maskformer test), and bf16 against fp32. Every bench also times the
# forward pass alone and its GFLOP/s against the matmul peak. The models are exported by Debian's
# torch 1.13 so that one file runs on both LibTorch builds. Writes JSON lines to OUT.
#   ./maskformer test          (once: builds target/native-debian)
#   src/test/bench/libtorch.sh OUT.jsonl [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=${1:?usage: libtorch.sh OUT.jsonl [ROUNDS]}
rounds=${2:-3}
models=target/bench-models
mkdir -p "$models"
[[ -f $models/swin-tiny.pt ]] || /usr/bin/python3 models/export.py --random-init --variant swin-tiny --out "$models/swin-tiny.pt" >&2
debian_shim=target/native-debian/libmaskformer.so
[[ -f $debian_shim ]] || { echo "run ./maskformer test first (it builds $debian_shim)" >&2; exit 1; }
one() { # label, then bench arguments: one JSON object per line
  local label=$1; shift
  local json; json=$("$@" 2>/dev/null | tr -d '\n')
  printf '{"label": "%s", "result": %s}\n' "$label" "$json" >> "$out"
}
cases=("models/demo/demo.pt 512x384 20" "$models/swin-tiny.pt 512x512 8" "models/demo/demo.pt 1920x1080 10" "$models/swin-tiny.pt 1920x1080 4")
for round in $(seq "$rounds"); do
  for c in "${cases[@]}"; do
    read -r model size iters <<<"$c"
    common=(bench --model "$model" --size "$size" --iters "$iters" --warmup 2)
    one "round $round fp32 java+python 2.13" ./maskformer "${common[@]}" --compare-python --rounds 1
    one "round $round fp32 java 1.13" env JAVA_TOOL_OPTIONS="-Dmaskformer.library=$debian_shim" ./maskformer "${common[@]}"
    one "round $round bf16 java+python 2.13" ./maskformer "${common[@]}" --precision bf16 --compare-python --rounds 1
    echo "round $round $model $size done" >&2
  done
done
