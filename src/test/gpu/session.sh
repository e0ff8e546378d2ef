#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs on the GPU machine (device tool: carry [".gpu"], command `bash src/test/gpu/session.sh`):
# builds the shim against the CUDA LibTorch of the machine's PyTorch, makes the fixtures with that
# PyTorch, runs the GPU tests and the benchmarks (Java and Python on the same TorchScript file,
# interleaved) and writes everything to $OUT:
#   tests.txt, bench.jsonl (one JSON object per line), env.txt, log.txt
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$ROOT"
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
PY=${PY:-python3}
JAVA=/tmp/jre/bin/java
# unpacked with Python's lzma where the machine has no xz
[[ -x $JAVA ]] || tar -C /tmp -xJf .gpu/jre.tar.xz 2>/dev/null \
  || python3 -c 'import tarfile; tarfile.open(".gpu/jre.tar.xz").extractall("/tmp")' || exit 1
step() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }

step environment
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  $PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'
  $JAVA -version 2>&1 | head -1
  date -u +%FT%TZ
} | tee "$OUT/env.txt"

step "native build against the CUDA LibTorch of python's torch"
prefix=$($PY -c 'import torch; print(torch.utils.cmake_prefix_path)')
cmake -S cpp -B /tmp/native -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  -DMASKFORMER_TESTS=OFF >/tmp/cmake.log 2>&1 || { cat /tmp/cmake.log; exit 1; }
cmake --build /tmp/native || exit 1
LIB=/tmp/native/libmaskformer.so

step fixtures
$PY models/fixtures.py --out /tmp/test-models || exit 1
cp .gpu/tiny-113.pt /tmp/test-models/tiny-113.pt

CP=.gpu/maskformer-java.jar:.gpu/maskformer-cli.jar:.gpu/picocli.jar:.gpu/test-classes.jar
# the shim has no run path: the loader loads this python's LibTorch first (-Dmaskformer.python)
JOPTS=(--enable-native-access=ALL-UNNAMED -Djava.awt.headless=true -Dmaskformer.library=$LIB -Dmaskformer.python=$(command -v $PY)
       -Dmaskformer.home=$ROOT -Dmaskformer.repoRoot=$ROOT -Dmaskformer.testModels=/tmp/test-models)

step "tests: CUDA, parity, bad input, concurrency, loading (requireGpu)"
$JAVA "${JOPTS[@]}" -Dmaskformer.requireGpu=true -jar .gpu/junit-console.jar execute \
  --class-path "$CP" --select-class dev.maskformer.CudaIT --select-class dev.maskformer.ParityIT \
  --select-class dev.maskformer.ModelLoadIT --select-class dev.maskformer.BadInputIT \
  --select-class dev.maskformer.ConcurrencyIT --details=summary --disable-banner 2>&1 | tee "$OUT/tests.txt"

step "1.13 export in this LibTorch"
$JAVA "${JOPTS[@]}" -cp "$CP" dev.maskformer.cli.Main info --model /tmp/test-models/tiny-113.pt
$JAVA "${JOPTS[@]}" -cp "$CP" dev.maskformer.cli.Main segment --model /tmp/test-models/tiny-113.pt \
  --device cuda --out /tmp/seg113 /tmp/test-models/images

step "benchmarks: Swin-T (real architecture, random weights)"
$PY models/export.py --random-init --variant swin-tiny --out /tmp/swin-tiny.pt
bench() { # args for bench; appends the JSON as one line
  $JAVA "${JOPTS[@]}" -cp "$CP" dev.maskformer.cli.Main bench --model /tmp/swin-tiny.pt --device cuda \
    --compare-python --python "$PY" "$@" | tr -d '\n' | sed 's/  */ /g' >> "$OUT/bench.jsonl"
  echo >> "$OUT/bench.jsonl"
  tail -c 400 "$OUT/bench.jsonl"; echo
}
for precision in fp16 bf16 fp32; do
  bench --size 512x512 --batch 1 --precision $precision --iters 100 --warmup 20 --rounds 3
  bench --size 512x512 --batch 16 --precision $precision --iters 20 --warmup 5 --rounds 3
done
bench --size 1920x1080 --batch 1 --precision fp16 --iters 50 --warmup 10 --rounds 3

step "GPU memory over 10k calls (tiny model, 512x512, fp16)"
( for i in $(seq 1 60); do nvidia-smi --query-gpu=memory.used --format=csv,noheader; sleep 2; done ) > "$OUT/gpu-memory.txt" &
mon=$!
$JAVA "${JOPTS[@]}" -cp "$CP" dev.maskformer.cli.Main bench --model /tmp/test-models/tiny.pt --device cuda \
  --precision fp16 --size 512x512 --iters 10000 --warmup 100 | tee -a "$OUT/bench-10k.json"
kill $mon 2>/dev/null
step done
