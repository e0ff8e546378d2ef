#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bf16 against fp32 on the Swin-T architecture with trained (non-degenerate) weights: trains the
# zoo's Swin-T MaskFormer (ADE20k-150 shape, 60.6 M parameters) on generated scenes with our own
# models/train.py, exports it, then has the Java library segment the validation scenes in bf16
# and in fp32 (`maskformer evaluate --precision bf16 --agreement-with fp32`) and prints the share
# of pixels with the same label, with both runs' mIoU.
#
#   src/test/bench/bf16-agreement.sh [OUT_DIR]        (default: target/bf16-agreement)
#
# Needs a CPU with native bf16 (AVX512-BF16 or AMX). On this project's 2-core CPU the training
# takes about 50 minutes (bf16 autocast, 2,000 iterations at 160 px crops), the further stages
# of 700 and 1,500 iterations from there about 25 and 55; each model's evaluation of 100 scenes
# at 683x512 about 3 minutes, its margin bins about 4. MASKFORMER_AGREEMENT_ITERS,
# MASKFORMER_AGREEMENT_MORE (the further stages, e.g. "700 1500"; "0": none) and
# MASKFORMER_AGREEMENT_TRAIN change the iterations and training scenes.
# Results of the runs quoted in docs/performance.md: src/test/results/cpu/bf16-agreement/
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=${1:-target/bf16-agreement}
iters=${MASKFORMER_AGREEMENT_ITERS:-2000}
train=${MASKFORMER_AGREEMENT_TRAIN:-2000}
more=${MASKFORMER_AGREEMENT_MORE:-700 1500}
mkdir -p "$out"
./maskformer setup >/dev/null   # the venv with torch 2.13, the jar and the shim
py=${MASKFORMER_PYTHON:-.venv/bin/python}
if [[ ! -d "$out/scenes/images/validation" ]]; then
  "$py" models/scenes.py --out "$out/scenes" --train "$train" --val 100 --seed 1
fi
if [[ ! -f "$out/swin-tiny-scenes-$iters.pt" ]]; then
  # the zoo's architecture and test size; lighter regularisation than the zoo's schedule, which
  # is tuned for 160k iterations from ImageNet weights, not a few thousand from scratch
  "$py" models/train.py --data "$out/scenes" --out "$out/swin-tiny-scenes-$iters.pt" --log "$out/train-$iters.log" \
    --variant swin-tiny --amp bf16 --drop-path 0.1 --dropout 0.0 --lr 2e-4 --warmup 200 \
    --iters "$iters" --crop 160 --train-short 512 --eval-every 500 --eval-images 20 --seed 1
fi
models=("$out/swin-tiny-scenes-$iters.pt")
# each further stage trains on from where the one before ended, at half the first run's peak
# learning rate, with a seed of its own
total=$iters
seed=2
for stage in $more; do
  [[ "$stage" -gt 0 ]] || continue
  from="$out/swin-tiny-scenes-$total.pt"
  total=$((total + stage))
  if [[ ! -f "$out/swin-tiny-scenes-$total.pt" ]]; then
    "$py" models/train.py --data "$out/scenes" --out "$out/swin-tiny-scenes-$total.pt" --log "$out/train-$total.log" \
      --variant swin-tiny --amp bf16 --drop-path 0.1 --dropout 0.0 --lr 1e-4 --warmup 50 \
      --iters "$stage" --crop 160 --train-short 512 --eval-every 0 --seed "$seed" --init "$from"
  fi
  models+=("$out/swin-tiny-scenes-$total.pt")
  seed=$((seed + 1))
done
for model in "${models[@]}"; do
  name=$(basename "$model" .pt)
  ./maskformer evaluate --model "$model" --data "$out/scenes" \
    --precision bf16 --agreement-with fp32 | tee "$out/$name.agreement.json"
  # where the disagreements are: agreement by the fp32 score margin, and how non-degenerate the labels are
  "$py" src/test/bench/bf16_margins.py --model "$model" --data "$out/scenes" > "$out/$name.margins.json"
  "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); d.pop("per_image"); print(json.dumps(d, indent=1))' "$out/$name.margins.json"
done
