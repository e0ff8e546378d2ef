#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Load time (first call to a ready model) of two builds in fresh JVMs, interleaved: e.g. a build of
# an older commit (its target/classes) against this one. Each round runs every variant once:
#   base      the first class folder, as it is (an older build finds LibTorch its own way)
#   home      the second, with LIBTORCH_HOME set (CPU rewrites as the defaults say: in the background)
#   atload    as home, with the CPU rewrites made before the load returns (CpuRewrites.AT_LOAD)
#   plain     as home, without the CPU rewrites (MASKFORMER_CPU_PASSES=none)
#   python3   the second, finding LibTorch through python3 on the PATH (PATH=<venv>/bin:...)
#   jar       as python3, with the shim in a native jar first on the class path (as users get it:
#             extracted once to the cache folder, then checked against the jar on each start)
# usage: loadtime.sh BASE_CLASSES NEW_CLASSES VENV MODEL [ROUNDS]   (prints one line per run, then medians)
set -euo pipefail
base=$1 new=$2 venv=$3 model=$4 rounds=${5:-11}
java=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"${java%/java}/javac" -cp "$new" -d "$tmp" "$(dirname "$0")/LoadTime.java"
"${java%/java}/jar" cf "$tmp/native.jar" -C "$new" dev/maskformer/native -C "$new" META-INF/maskformer-native.properties
torch=$("$venv/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
run() { # run VARIANT CLASSES ENV...
  local name=$1 classes=$2; shift 2
  echo "$name $(env "$@" "$java" --enable-native-access=ALL-UNNAMED -cp "$tmp:$classes" LoadTime "$model" 2>/dev/null | tail -n1)"
}
for i in $(seq "$rounds"); do
  run base "$base" -u LIBTORCH_HOME -u MASKFORMER_PYTHON
  run home "$new" LIBTORCH_HOME="$torch"
  run atload "$new" LIBTORCH_HOME="$torch" MASKFORMER_LOADTIME_REWRITES=AT_LOAD
  run plain "$new" LIBTORCH_HOME="$torch" MASKFORMER_CPU_PASSES=none
  run python3 "$new" -u LIBTORCH_HOME -u MASKFORMER_PYTHON PATH="$venv/bin:/usr/bin:/bin"
  run jar "$tmp/native.jar:$new" -u LIBTORCH_HOME -u MASKFORMER_PYTHON PATH="$venv/bin:/usr/bin:/bin" XDG_CACHE_HOME="$tmp/cache"
done | tee "$tmp/runs"
python3 - "$tmp/runs" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 10: continue
    cols = [float(f[i]) for i in (2, 3, 5, 6, 8, 9, 11, 13)]
    cols.append(cols[4] + cols[6])  # ready and first result
    cols.append(float(f[15]) if len(f) > 15 else float("nan"))  # calls 3-8 (builds with them)
    rows.setdefault(f[0], []).append(cols)
print("medians (ms)  native: wall cpu  load: wall cpu  total: wall cpu  call 1  call 2  total+call 1  calls 3-8")
for k, v in rows.items():
    print(f"{k:8} " + "  ".join(f"{statistics.median(c[i] for c in v):7.1f}" for i in range(10)) + f"   ({len(v)} runs)")
PY
