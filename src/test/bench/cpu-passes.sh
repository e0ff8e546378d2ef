#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Which load-time CPU rewrites win (docs/performance.md, "Load-time CPU rewrites"): `bench` on one
# model with MASKFORMER_CPU_PASSES set to each candidate in turn, interleaved over ROUNDS rounds
# (one process per run, so each loads its own rewritten module), JSON lines to OUT with the
# whole-call p50 and the forward pass alone; bench's messages go to OUT.jsonl.log.
#   src/test/bench/cpu-passes.sh OUT.jsonl MODEL WxH [ROUNDS] [THREADS]
# PASSES (space-separated) replaces the candidates below, PRECISION (fp32, bf16) the precision,
# ITERS the timed calls per run (6).
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=${1:?usage: cpu-passes.sh OUT.jsonl MODEL WxH [ROUNDS] [THREADS]}
model=${2:?model}
size=${3:?size}
rounds=${4:-3}
threads=${5:-2}
./maskformer setup >/dev/null
# none: the module as exported; freeze: torch::jit::freeze only; ofi: freeze +
# torch::jit::optimize_for_inference; then the rewrites one by one up to the default set
candidates=(none freeze freeze,ofi freeze,linear freeze,linear,gelu freeze,linear,gelu,conv
            freeze,linear,gelu,conv,channels_last)
if [[ -n ${PASSES:-} ]]; then read -ra candidates <<< "$PASSES"; fi
for round in $(seq "$rounds"); do
  for passes in "${candidates[@]}"; do
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    json=$(MASKFORMER_CPU_PASSES=$passes ./maskformer bench --model "$model" --size "$size" --iters "${ITERS:-6}" --warmup 2 \
      --threads "$threads" --precision "${PRECISION:-fp32}" --gflop 0 2>>"$out.log" | tr -d '\n') || json='{"error": "bench failed"}'
    printf '{"round": %d, "passes": "%s", "load": "%s", "result": %s}\n' "$round" "$passes" "$load" "$json" >> "$out"
  done
  echo "round $round done" >&2
done
