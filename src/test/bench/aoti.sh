#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# TorchScript against AOTInductor (docs/models.md "AOTInductor packages"): the same weights as a .pt and
# as a .pt2 compiled for the frame's network size, in fp32 and bf16, timed by `bench` in
# interleaved rounds (pt, pt2, pt, pt2, ...) in one run. Writes JSON lines to OUT.
#   [THREADS=N] src/test/bench/aoti.sh OUT.jsonl [ROUNDS]
# THREADS: LibTorch intra-op threads for both formats (default: the library's default). On a
# machine shared with other work use 1: AOTInductor's kernels open an OpenMP parallel region each
# (about 220 in the tiny model), and every one of them waits for a descheduled thread when the
# cores are oversubscribed (docs/models.md, "AOTInductor packages").
# Compiling the packages takes minutes per model and precision (Swin-T: see docs/models.md); they
# are kept in target/bench-models and made again only when missing.
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=${1:?usage: aoti.sh OUT.jsonl [ROUNDS]}
rounds=${2:-3}
py=${MASKFORMER_PYTHON:-python3}
models=target/bench-models
mkdir -p "$models"
[[ -f $models/swin-tiny.pt ]] || "$py" models/export.py --random-init --variant swin-tiny --out "$models/swin-tiny.pt" >&2
package() { # torchscript file, network size WxH, precision -> the package's path on stdout
  local pt=$1 size=$2 precision=$3
  local pt2; pt2="$models/$(basename "${pt%.pt}")-$size-$precision.pt2"
  if [[ ! -f $pt2 ]]; then
    local t0=$SECONDS
    "$py" models/export.py --torchscript "$pt" --format aoti --sizes "$size" --precision "$precision" --out "$pt2" >&2
    echo "compiled $pt2 in $((SECONDS - t0)) s" >&2
  fi
  echo "$pt2"
}
one() { # label, then bench arguments: one JSON object per line
  local label=$1; shift
  local json; json=$("$@" 2>/dev/null | tr -d '\n')
  printf '{"label": "%s", "result": %s}\n' "$label" "$json" >> "$out"
}
# model, frame size, network size (WxH, what the package is compiled for), timed calls
cases=("models/demo/demo.pt 512x384 384x288 10" "$models/swin-tiny.pt 512x512 512x512 5")
precisions=(fp32 bf16)
for c in "${cases[@]}"; do
  read -r model size net iters <<<"$c"
  for p in "${precisions[@]}"; do package "$model" "$net" "$p" >/dev/null; done
done
for round in $(seq "$rounds"); do
  for c in "${cases[@]}"; do
    read -r model size net iters <<<"$c"
    for p in "${precisions[@]}"; do
      common=(bench --size "$size" --iters "$iters" --warmup 2 --precision "$p" --threads "${THREADS:-0}")
      one "round $round $p torchscript $(basename "$model") $size" ./maskformer "${common[@]}" --model "$model"
      one "round $round $p aoti $(basename "$model") $size" ./maskformer "${common[@]}" --allow-native-code \
        --model "$(package "$model" "$net" "$p")"
      echo "round $round $model $size $p done" >&2
    done
  done
done
