#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The memory soak (issue: memory that stays flat): RSS, the host cache and its counters every
# 1,000 calls on the demo model, at a fixed size and at sizes drawn from 16..256 px, and the RSS
# growth after warm-up per 10,000 calls. Arguments go to dev.maskformer.bench.SoakBench, e.g.
#   src/test/bench/soak.sh --calls 20000 --sizes range:16-256
# With no arguments: both workloads, 10,000 calls each.
set -euo pipefail
cd "$(dirname "$0")/../../.."
./maskformer setup >/dev/null   # the jar and the shim, built when sources changed
py=${MASKFORMER_PYTHON:-.venv/bin/python}
java=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
export MASKFORMER_PYTHON="$py"
mvn -B -ntp -q -f pom.xml test-compile -Dnative.skip=true >/dev/null 2>&1 || true
cp="target/classes:target/test-classes:target/lib/*"
run() { "$java" -Xms256m -Xmx256m -XX:+AlwaysPreTouch --enable-native-access=ALL-UNNAMED -cp "$cp" dev.maskformer.bench.SoakBench "$@"; }
if [[ $# -gt 0 ]]; then run "$@"; exit; fi
run --sizes fixed:256x192 --calls 10000
run --sizes range:16-256 --calls 10000
