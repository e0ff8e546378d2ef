#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Throughput of the Flink operator (MiniCluster in this JVM) against the library's own batched
# calls on the demo model at 512x384 (the six sample scenes, 8 times each, as BMP files): in each
# round, every setup (parallelism 1, parallelism 1 with a checkpoint every second, parallelism 2
# and 4 over one or two TaskManagers) runs right after a library run; medians over the rounds at
# the end. Needs the jar built (./maskformer setup); prints numbers, writes nothing else.
#   src/test/bench/flink.sh [ROUNDS] [FRAMES]
set -euo pipefail
cd "$(dirname "$0")/../../.."
rounds=${1:-5}
count=${2:-48}
java=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp=$(mvn -B -ntp -q dependency:build-classpath -Dmdep.outputFile=/dev/stdout -Dmdep.includeScope=test -Dnative.skip=true)
# frames: the demo scenes at 512x384, and the same frames split into 1, 2 and 4 parts
py=${MASKFORMER_PYTHON:-.venv/bin/python}
"$py" - "$work" "$count" <<'PY'
import sys, glob, cv2, os
out, count = sys.argv[1], int(sys.argv[2])
scenes = [cv2.resize(cv2.imread(p), (512, 384), interpolation=cv2.INTER_AREA)
          for p in sorted(glob.glob("models/demo/samples/*.jpg"))]
os.makedirs(f"{out}/frames")
for i in range(count):
    cv2.imwrite(f"{out}/frames/{i:04d}.bmp", scenes[i % len(scenes)])
    for parts in (1, 2, 4):
        d = f"{out}/frames-{parts}-{i % parts}"
        os.makedirs(d, exist_ok=True)
        cv2.imwrite(f"{d}/{i:04d}.bmp", scenes[i % len(scenes)])
PY
# compiled to a folder, not run as a source file: Flink loads the job's classes (the timing sink)
# by name, which the source launcher's in-memory classes cannot serve
"${java%/java}/javac" -d "$work/classes" -cp "target/classes:$cp" src/test/bench/FlinkBench.java
"$java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
  -cp "$work/classes:target/classes:$cp" FlinkBench models/demo/demo.pt "$work/frames" "$rounds"
