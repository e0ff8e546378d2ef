#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prepares .gpu/ (ignored by git) for a run on the GPU machine, which has CUDA, cmake, ninja and
# PyTorch with CUDA but no Java and no network (see session.sh):
#   .gpu/jre.tar.xz           a jlink'd Java 25 runtime, xz-compressed (21 MB instead of 62 MB as
#                             a folder: the working tree and carried paths travel within 64 MiB)
#   .gpu/*.jar                the library, the command line, picocli, the test classes, JUnit's
#                             console launcher (the shim is built there, against its LibTorch)
#   .gpu/tiny-113.pt          a test export made here with torch 1.13 (loaded there by LibTorch 2.x)
set -euo pipefail
cd "$(dirname "$0")/../../.."
grep -qxF '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
./maskformer setup --tests >/dev/null
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}  # Maven runs on it (the default java is 17)
MAVEN_OPTS="--enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow" \
  mvn -B -q -ntp -Dstyle.color=never -DskipTests package test-compile
rm -rf .gpu && mkdir -p .gpu
rm -rf target/gpu-jre
"$JAVA_HOME/bin/jlink" --add-modules java.base,java.desktop,java.logging,java.management,jdk.unsupported \
  --strip-debug --no-man-pages --no-header-files --output target/gpu-jre/jre
tar -C target/gpu-jre -cJf .gpu/jre.tar.xz jre
rm -rf target/gpu-jre
cp target/maskformer-java-0.1.0.jar .gpu/maskformer-java.jar
cp target/maskformer-java-0.1.0-cli.jar .gpu/maskformer-cli.jar
cp target/lib/picocli-*.jar .gpu/picocli.jar
"$JAVA_HOME/bin/jar" --create --file .gpu/test-classes.jar -C target/test-classes .
junit=org/junit/platform/junit-platform-console-standalone/1.13.4/junit-platform-console-standalone-1.13.4.jar
mvn -B -q -ntp -Dstyle.color=never dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:1.13.4 -DoutputDirectory=.gpu
mv .gpu/junit-platform-console-standalone-1.13.4.jar .gpu/junit-console.jar
/usr/bin/python3 models/export.py --random-init --variant test-tiny --out .gpu/tiny-113.pt >/dev/null
du -sh .gpu
# what the device tool carries: tracked files, untracked files git does not ignore, and .gpu
travel=$(( $(git ls-files -z --cached --others --exclude-standard | xargs -0 -r stat -c %s -- 2>/dev/null | awk '{s+=$1} END {print s+0}') + $(du -sb .gpu | cut -f1) ))
echo "the run carries $((travel / 1048576)) MiB (limit 64)"
(( travel < 62 * 1048576 )) || { echo "over the device tool's 64 MiB: make .gpu smaller" >&2; exit 1; }
