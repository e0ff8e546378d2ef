#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Decode + segment at 1080p with the demo model, `maskformer video` end to end, in interleaved
# rounds: the YUV path (frames as the decoder makes them, converted in the library) against the
# BGR path (ffmpeg's swscale to bgr24, what `video` did before) and, with a jar built before the
# YUV work, that jar itself; batches of 1 and 4; then --live (latest frame wins) for the latency
# per frame. Prints each run's summary line and the CPU seconds of the whole run (the JVM and both
# ffmpeg processes: user + sys), with `uptime` before each round (this machine is shared).
#   src/test/bench/video.sh [ROUNDS] [FRAMES] [BASELINE_JAR]
# (docs/video.md quotes a run of this script.)
set -euo pipefail
cd "$(dirname "$0")/../../.."
rounds=${1:-3}
frames=${2:-40}
baseline=${3:-}
work=target/bench-video
mkdir -p "$work"
clip=$work/clip1080.mp4
if [[ ! -f $clip ]]; then # 4 s panning over a photo, H.264 yuv420p BT.601 limited, 25 fps
  ffmpeg -v error -y -loop 1 -t 4 -i models/demo/samples/scene_2.jpg \
    -vf "scale=2400:1350,crop=1920:1080:'(iw-ow)*t/4':'(ih-oh)*t/4',format=yuv420p" -r 25 \
    -c:v libx264 -preset fast -crf 20 "$clip"
fi
./maskformer info >/dev/null 2>&1 # builds the jar if needed
java=$(sed -n 's/.*JAVA_HOME=\([^,]*\),.*/\1/p' <<<"$(./maskformer setup 2>&1 | tail -n1)")/bin/java
run() { # label, class path, video arguments...
  local label=$1 cp=$2; shift 2
  local out
  out=$( { /usr/bin/time -f "cpu %U user %S sys" "$java" --enable-native-access=ALL-UNNAMED -Djava.awt.headless=true \
      -Dmaskformer.home="$PWD" -Dmaskformer.python="$PWD/.venv/bin/python" -cp "$cp" \
      dev.maskformer.cli.Main video --model models/demo/demo.pt --max-frames "$frames" "$@" "$clip" \
      "$work/out.mp4" | grep -v NNPACK; } 2>&1 | grep -v NNPACK)
  echo "$label: $(tr '\n' ' ' <<<"$out")"
}
# this checkout's classes (library, command line and shim), as ./maskformer runs them
jar="target/classes:target/lib/*"
for round in $(seq "$rounds"); do
  echo "round $round, $(uptime)"
  run "yuv batch 1" "$jar" --batch 1
  run "bgr batch 1" "$jar" --batch 1 --decode bgr
  run "yuv batch 4" "$jar" --batch 4
  run "bgr batch 4" "$jar" --batch 4 --decode bgr
  if [[ -n $baseline ]]; then
    run "before (baseline jar) batch 1" "$baseline:$(dirname "$baseline")/lib/*" --batch 1
    run "before (baseline jar) batch 4" "$baseline:$(dirname "$baseline")/lib/*" --batch 4
  fi
done
echo "live, $(uptime)"
run "live yuv" "$jar" --live
run "live bgr" "$jar" --live --decode bgr
