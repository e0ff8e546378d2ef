#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The issue-24 targets, one interleaved run per configuration (`bench --compare-onnxruntime`: in
# each round the Java pipeline's whole calls and forward pass, then ONNX Runtime on an ONNX export
# of the same weights at the same network size, with the same threads and the same pipeline around
# it in Python), plus the plain fp32 path (MASKFORMER_CPU_PASSES=none MASKFORMER_FUSED_SEMANTIC=0)
# for before/after, and the Swin-T rows with direct convolutions (no Winograd). Writes one JSON line per configuration, with the load before and after it.
#   src/test/bench/onnxruntime.sh OUT.jsonl [ROUNDS]
# SWIN_ITERS, DEMO_ITERS: --iters (6, 20). ONLY=REGEX runs the configurations whose label matches, e.g. ONLY='^swin-t.*(fp32|bf16) [12] thread'.
# Swin-T: MASKFORMER_SWIN (a TorchScript export), else the zoo's architecture with random weights
# exported into target/bench-models (speed does not depend on the weights). The ONNX files are
# exported once by bench into java.io.tmpdir/maskformer-onnx (Swin-T: a few minutes).
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=${1:?usage: onnxruntime.sh OUT.jsonl [ROUNDS]}
rounds=${2:-3}
./maskformer setup --tests >/dev/null
swin=${MASKFORMER_SWIN:-target/bench-models/swin-tiny.pt}
if [[ ! -f $swin ]]; then
  mkdir -p "$(dirname "$swin")"
  .venv/bin/python models/export.py --random-init --seed 0 --variant swin-tiny --out "$swin" >&2
fi
printf '# %s, %s, %s CPUs, flags: %s, load %s, %s\n' "$(date -u +%FT%TZ)" \
  "$(lscpu | sed -n 's/^Model name: *//p')" "$(nproc)" \
  "$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512|amx)' | tr '\n' ' ')" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- cpp src/main src/cli models || echo +changes)" \
  | tee -a "$out" >&2
one() { # label, env assignments..., --, bench arguments
  local label=$1; shift
  [[ -z ${ONLY:-} || $label =~ $ONLY ]] || return 0
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  local before after json
  before=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "== $label" >> "$out.log"
  json=$(env "${envs[@]}" ./maskformer bench "$@" --rounds "$rounds" 2>>"$out.log" | tr -d '\n') \
    || json="{\"error\": \"bench failed, see $out.log\"}"
  after=$(cut -d' ' -f1-3 /proc/loadavg)
  printf '{"label": "%s", "env": "%s", "args": "%s", "load_before": "%s", "load_after": "%s", "result": %s}\n' \
    "$label" "${envs[*]}" "$*" "$before" "$after" "$json" >> "$out"
  echo "$label done (load $before -> $after)" >&2
}
plain=(MASKFORMER_CPU_PASSES=none MASKFORMER_FUSED_SEMANTIC=0)
direct=(MASKFORMER_CPU_PASSES=freeze,linear,gelu,conv,channels_last)  # every rewrite but Winograd
swin_args=(--model "$swin" --size 512x512 --iters "${SWIN_ITERS:-6}" --warmup 2 --compare-onnxruntime --gflop 204)
demo_args=(--model models/demo/demo.pt --iters "${DEMO_ITERS:-20}" --warmup 3 --compare-onnxruntime)
one "swin-t 512x512 fp32 1 thread" -- "${swin_args[@]}" --threads 1
one "swin-t 512x512 fp32 1 thread, plain path" "${plain[@]}" -- "${swin_args[@]}" --threads 1
one "swin-t 512x512 fp32 2 threads" -- "${swin_args[@]}" --threads 2
one "swin-t 512x512 fp32 2 threads, plain path" "${plain[@]}" -- "${swin_args[@]}" --threads 2
one "swin-t 512x512 bf16 1 thread" -- "${swin_args[@]}" --threads 1 --precision bf16
one "swin-t 512x512 bf16 2 threads" -- "${swin_args[@]}" --threads 2 --precision bf16
one "swin-t 512x512 fp32 1 thread, direct convolutions" "${direct[@]}" -- "${swin_args[@]}" --threads 1
one "swin-t 512x512 fp32 2 threads, direct convolutions" "${direct[@]}" -- "${swin_args[@]}" --threads 2
one "swin-t 512x512 bf16 1 thread, direct convolutions" "${direct[@]}" -- "${swin_args[@]}" --threads 1 --precision bf16
one "swin-t 512x512 bf16 2 threads, direct convolutions" "${direct[@]}" -- "${swin_args[@]}" --threads 2 --precision bf16
one "demo 512x384 fp32 2 threads" -- "${demo_args[@]}" --size 512x384 --threads 2
one "demo 512x384 fp32 2 threads, plain path" "${plain[@]}" -- "${demo_args[@]}" --size 512x384 --threads 2
one "demo 1920x1080 fp32 2 threads" -- "${demo_args[@]}" --size 1920x1080 --threads 2
one "demo 1920x1080 fp32 2 threads, plain path" "${plain[@]}" -- "${demo_args[@]}" --size 1920x1080 --threads 2
