#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The CPU fast paths against the plain fp32 path on whole images, through the command line: for the
# demo model and a Swin-T export, `maskformer segment` runs each image three ways:
#   plain     MASKFORMER_CPU_PASSES=none MASKFORMER_FUSED_SEMANTIC=0 (the module as exported, the
#             tensor post-processing: the fp32 path before issue 24), with class scores
#   rewrites  the load-time rewrites (default), with class scores (so the tensor post-processing)
#   default   the load-time rewrites and the fused semantic kernels (what a user gets)
# and cpu_paths_agreement.py prints the share of equal labels, the largest class-score difference
# (rewrites against plain) and the largest winning-score difference (default against plain).
#
#   src/test/bench/cpu-paths-agreement.sh [OUT_DIR]      (default: target/cpu-paths-agreement)
#
# Images: 8 generated validation scenes (480x360) and 2 of them scaled to 1920x1080 (labels and
# winning scores only there: Swin-T's class scores of one 1080p frame take 1.2 GB). Swin-T:
# MASKFORMER_SWIN (a TorchScript export), else the zoo's architecture with random weights (seed 0)
# exported once into OUT_DIR. Results quoted in docs/performance.md:
# src/test/results/cpu/cpu-paths-agreement.txt.
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=${1:-target/cpu-paths-agreement}
mkdir -p "$out"
./maskformer setup >/dev/null
py=${MASKFORMER_PYTHON:-.venv/bin/python}
if [[ ! -d "$out/scenes/images/validation" ]]; then
  "$py" models/scenes.py --out "$out/scenes" --val 8 --seed 11 >/dev/null
fi
if [[ ! -d "$out/hd" ]]; then
  mkdir -p "$out/hd"
  "$py" - "$out/scenes/images/validation" "$out/hd" <<'PY'
import os, sys, cv2
src, dst = sys.argv[1:]
for name in sorted(os.listdir(src))[:2]:
    img = cv2.imread(os.path.join(src, name))
    cv2.imwrite(os.path.join(dst, os.path.splitext(name)[0] + "-1080p.png"),
                cv2.resize(img, (1920, 1080), interpolation=cv2.INTER_CUBIC))
PY
fi
swin=${MASKFORMER_SWIN:-$out/swin-tiny-random.pt}
if [[ ! -f "$swin" ]]; then
  "$py" models/export.py --random-init --seed 0 --variant swin-tiny --out "$swin" >/dev/null
fi
for model in models/demo/demo.pt "$swin"; do
  name=$(basename "$model" .pt)
  for set in scenes hd; do
    images=$out/scenes/images/validation
    scores=(--scores)
    if [[ $set == hd ]]; then images=$out/hd; scores=(); fi
    d=$out/$name/$set
    rm -rf "$d"
    MASKFORMER_CPU_PASSES=none MASKFORMER_FUSED_SEMANTIC=0 \
      ./maskformer segment --model "$model" --out "$d/plain" "${scores[@]}" --confidence npy "$images" >/dev/null
    # at-load: every image on the rewritten network (in the background the first ones would run
    # the network as exported)
    [[ $set == scenes ]] && ./maskformer segment --model "$model" --cpu-rewrites at-load --out "$d/rewrites" --scores --confidence npy "$images" >/dev/null
    MASKFORMER_VERBOSE=1 ./maskformer segment --model "$model" --cpu-rewrites at-load --out "$d/default" --confidence npy "$images" 2>&1 >/dev/null \
      | grep 'CPU rewrites' || true
    "$py" src/test/bench/cpu_paths_agreement.py --model "$name" --set "$set" "$d"
    rm -f "$d"/*/*.scores.npy
  done
done
