#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Decode + segment at 1080p with the demo model in a Flink job (FlinkVideoBench): FrameSource
# decoding to YUV (no swscale) against decoding to BGR (ffmpeg's swscale, the source before YUV
# frames), default batch (1 on the CPU) and batches of 4, interleaved rounds, medians. The clip is
# src/test/bench/video.sh's (4 s of 1080p H.264 yuv420p, 25 fps). Needs the jar built
# (./maskformer setup); prints numbers, writes nothing else.
#   src/test/bench/flink-video.sh [ROUNDS] [FRAMES]
set -euo pipefail
cd "$(dirname "$0")/../../.."
rounds=${1:-3}
frames=${2:-30}
java=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
work=target/bench-video
mkdir -p "$work"
clip=$work/clip1080.mp4
if [[ ! -f $clip ]]; then # as video.sh makes it
  ffmpeg -v error -y -loop 1 -t 4 -i models/demo/samples/scene_2.jpg \
    -vf "scale=2400:1350,crop=1920:1080:'(iw-ow)*t/4':'(ih-oh)*t/4',format=yuv420p" -r 25 \
    -c:v libx264 -preset fast -crf 20 "$clip"
fi
classes=$(mktemp -d)
trap 'rm -rf "$classes"' EXIT
cp=$(mvn -B -ntp -q dependency:build-classpath -Dmdep.outputFile=/dev/stdout -Dmdep.includeScope=test -Dnative.skip=true)
# compiled to a folder: Flink loads the job's classes (the timing sink) by name
"${java%/java}/javac" -d "$classes" -cp "target/classes:$cp" src/test/bench/FlinkVideoBench.java
"$java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
  -Dmaskformer.python="$PWD/.venv/bin/python" \
  -cp "$classes:target/classes:$cp" FlinkVideoBench models/demo/demo.pt "$clip" "$frames" "$rounds" 2>&1 \
  | grep -v NNPACK
