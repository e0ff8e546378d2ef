#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# How the OpenMP settings behave on an idle machine and with one core held by another process:
# p50 of whole calls (./maskformer bench) for the demo model at 512x384 and a Swin-T export at
# 512x512, per setting, in interleaved rounds. The library's default (GOMP_SPINCOUNT=1000) was
# chosen from these numbers (docs/performance.md, Threads).
#   src/test/bench/openmp.sh SWIN_T.pt [ROUNDS]     (make SWIN_T.pt with
#   ./maskformer python models/export.py --random-init --variant swin-tiny --out swin-tiny.pt)
set -euo pipefail
cd "$(dirname "$0")/../../.."
swin=${1:?usage: openmp.sh SWIN_T.pt [ROUNDS]}
rounds=${2:-2}
py=.venv/bin/python
p50() { sed -n 's/.*"p50_ms": \([0-9]*\).*/\1/p'; }
settings=("OMP_WAIT_POLICY=PASSIVE" "GOMP_SPINCOUNT=1000" "GOMP_SPINCOUNT=3000" "GOMP_SPINCOUNT=10000"
          "GOMP_SPINCOUNT=300000" "OMP_WAIT_POLICY=ACTIVE" "threads=1")
for round in $(seq "$rounds"); do
  for s in "${settings[@]}"; do
    envs=(); args=()
    if [[ $s == threads=1 ]]; then args=(--threads 1); else envs=("$s"); fi
    demo=(--model models/demo/demo.pt --size 512x384 --iters 20)
    swint=(--model "$swin" --size 512x512 --iters 3 --warmup 1)
    di=$(env "${envs[@]}" ./maskformer bench --no-forward "${args[@]}" "${demo[@]}" 2>/dev/null | p50)
    si=$(env "${envs[@]}" ./maskformer bench --no-forward "${args[@]}" "${swint[@]}" 2>/dev/null | p50)
    "$py" -c 'while True: pass' & busy=$!
    db=$(env "${envs[@]}" ./maskformer bench --no-forward "${args[@]}" "${demo[@]}" 2>/dev/null | p50)
    sb=$(env "${envs[@]}" ./maskformer bench --no-forward "${args[@]}" "${swint[@]}" 2>/dev/null | p50)
    kill "$busy"; wait "$busy" 2>/dev/null || true
    echo "round $round $s: demo idle $di ms, busy $db ms; swin-t idle $si ms, busy $sb ms"
  done
done
