#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The consumer test of ./maskformer test (README "Use it in your project"): a separate project
# (src/test/consumer, its own pom) is copied out of the checkout, built with an empty local Maven
# repository against the repository that ./maskformer publish wrote plus Maven Central, and run on
# the demo model and samples with the checkout's target/ hidden (a tmpfs over it, in a private
# mount namespace), so only what was published can be used:
#   (a) LibTorch 2.13 from the torch of python3 on the PATH (the project's .venv), the 2.13 CPU
#       shim; and the runnable maskformer-cli-*-all.jar's `info` likewise;
#   (b) Debian's LibTorch 1.13 found in the system folders (no Python on the PATH), the 1.13 shim;
#   (c) no LibTorch anywhere (Debian's hidden by an overlay): NativeLibraryException, exit 1;
#   (d) the CUDA build of torch without its CUDA libraries (.venv-cuda): a clear error, exit 1.
# (a) and (b) must name the same classes for every sample.
#
# usage: src/test/consumer/run.sh REPOSITORY_DIR PYTHON [CUDA_TORCH_DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
repo="$(realpath "$1")"
python="$2"
cuda_torch="${3:-}"
java="${JAVA_HOME:?JAVA_HOME must name a JDK 25}/bin/java"
say() { printf '[consumer] %s\n' "$*" >&2; }
die() { printf '[consumer] FAILED: %s\n' "$*" >&2; exit 1; }

work="$(mktemp -d /tmp/maskformer-consumer.XXXXXX)"
trap 'rm -rf "$work"' EXIT
cp -r "$root/src/test/consumer" "$work/app"
rm -f "$work/app/run.sh"
mkdir -p "$work/data" "$work/cache" "$work/empty"
cp "$root/models/demo/demo.pt" "$work/data/"
cp "$root/models/demo/samples/"*.jpg "$work/data/"
samples=("$work"/data/*.jpg)
version="$(sed -n 's|^  <version>\(.*\)</version>|\1|p' "$root/pom.xml" | head -n1)"
printf '<settings/>\n' > "$work/settings.xml"

say "building the consumer against file://$repo (maskformer $version) with an empty local repository"
cuda_flag=()
[[ -f "$repo/dev/maskformer/maskformer-native/$version/maskformer-native-$version-linux-x86_64-torch2.14-cuda13.jar" ]] \
  || cuda_flag=(-DnoCuda)
(cd "$work/app" && mvn -B -q -ntp -s "$work/settings.xml" -Dmaven.repo.local="$work/m2" \
  -Dmaskformer.repo="file://$repo" -Dmaskformer.version="$version" "${cuda_flag[@]}" package) >&2 \
  || die "the consumer project did not build against the published repository"
classpath="$work/app/target/classes:$work/app/target/dependency/*"
say "its class path: $(ls "$work/app/target/dependency" | tr '\n' ' ')"

# Runs the consumer with a clean environment (only what is given), the checkout's target/ hidden,
# and, with hide_debian=1, Debian's LibTorch hidden too. Prints its output; returns its exit code.
namespace=1
unshare -m true 2>/dev/null || namespace=0
run_case() { # run_case HIDE_DEBIAN VAR=VALUE... [-- COMMAND...] (default: the consumer on the samples)
  local hide=$1; shift
  local vars=()
  while [[ $# -gt 0 && $1 != -- ]]; do vars+=("$1"); shift; done
  [[ ${1:-} == -- ]] && shift
  local script='set -e
    mount -t tmpfs -o size=1m maskformer-hidden "$ROOT_TARGET"
    if [ "$HIDE_DEBIAN" = 1 ]; then
      up=$WORK/overlay/up; mkdir -p "$up" "$WORK/overlay/work" "$WORK/overlay/torch"
      for f in /usr/lib/x86_64-linux-gnu/libtorch* /usr/lib/x86_64-linux-gnu/libc10*; do
        [ -e "$f" ] || [ -L "$f" ] && mknod "$up/$(basename "$f")" c 0 0
      done
      mount -t overlay maskformer-overlay -o "lowerdir=/usr/lib/x86_64-linux-gnu,upperdir=$up,workdir=$WORK/overlay/work" /usr/lib/x86_64-linux-gnu
      [ -d /usr/lib/python3/dist-packages/torch ] && mount --bind "$WORK/overlay/torch" /usr/lib/python3/dist-packages/torch
    fi
    exec env -i "$@"'
  local cmd=("$@")
  [[ ${#cmd[@]} -gt 0 ]] || cmd=("$java" --enable-native-access=ALL-UNNAMED -cp "$classpath" example.SegmentSamples "$work/data/demo.pt" "${samples[@]}")
  if [[ $namespace == 1 ]]; then
    ROOT_TARGET="$root/target" WORK="$work" HIDE_DEBIAN="$hide" \
      timeout 300 unshare -m sh -c "$script" sh HOME="$work" XDG_CACHE_HOME="$work/cache" "${vars[@]}" "${cmd[@]}" 2>&1
  else
    timeout 300 env -i HOME="$work" XDG_CACHE_HOME="$work/cache" "${vars[@]}" "${cmd[@]}" 2>&1
  fi
}

check_ok() { # check_ok NAME OUTPUT RC EXPECTED_LIBTORCH_DIR
  local name=$1 out=$2 rc=$3 dir=$4
  [[ $rc == 0 ]] || die "($name) exit code $rc:"$'\n'"$out"
  grep -q "^runtime: .*${dir}" <<<"$out" || die "($name) did not run on the LibTorch in $dir:"$'\n'"$out"
  [[ $(grep -c '^scene_.*: \[' <<<"$out") == "${#samples[@]}" ]] || die "($name) not every sample was segmented:"$'\n'"$out"
  say "($name) ok: $(head -n1 <<<"$out")"
}

check_refused() { # check_refused NAME OUTPUT RC TEXT
  local name=$1 out=$2 rc=$3 text=$4
  [[ $rc == 1 ]] || die "($name) expected exit code 1 (a Java exception), got $rc:"$'\n'"$out"
  grep -q 'dev.maskformer.NativeLibraryException: could not load the maskformer native library' <<<"$out" \
    || die "($name) expected a NativeLibraryException:"$'\n'"$out"
  ! grep -q 'UnsatisfiedLinkError\|SIGSEGV\|hs_err' <<<"$out" || die "($name) crashed or leaked a link error:"$'\n'"$out"
  grep -q -- "$text" <<<"$out" || die "($name) the message does not say '$text':"$'\n'"$out"
  say "($name) refused as documented: $(grep -m1 -- "$text" <<<"$out" | sed 's/^ *//' | cut -c1-160)"
}

[[ $namespace == 1 ]] || say "no mount namespace here (unshare -m): target/ is hidden by renaming it, and (c) runs with an empty LIBTORCH_HOME instead of a hidden Debian LibTorch"
if [[ $namespace == 0 ]]; then
  mv "$root/target" "$root/target.hidden-by-consumer-test"
  trap 'mv "$root/target.hidden-by-consumer-test" "$root/target"; rm -rf "$work"' EXIT
fi

all_jar="$repo/dev/maskformer/maskformer-cli/$version/maskformer-cli-$version-all.jar"
[[ -f "$all_jar" ]] || die "the runnable CLI was not published: $all_jar"
cp "$all_jar" "$work/"
venv_path="$(dirname "$python"):/usr/bin:/bin"

set +e
a=$(run_case 0 PATH="$venv_path"); rc_a=$?
# the README's command, as it stands there (in the folder that holds the jar)
cli=$(cd "$work" && run_case 0 PATH="$venv_path" -- "$java" --enable-native-access=ALL-UNNAMED -jar "maskformer-cli-$version-all.jar" info); rc_cli=$?
b=$(run_case 0 PATH=/nonexistent); rc_b=$?
if [[ $namespace == 1 ]]; then
  c=$(run_case 1 PATH=/nonexistent); rc_c=$?
else
  c=$(run_case 0 PATH=/nonexistent LIBTORCH_HOME="$work/empty"); rc_c=$?
fi
if [[ -n "$cuda_torch" ]]; then
  d=$(run_case 0 LIBTORCH_HOME="$cuda_torch"); rc_d=$?
fi
set -e

torch_dir="$("$python" -c 'import os, torch; print(os.path.realpath(os.path.join(os.path.dirname(torch.__file__), "lib")))')"
check_ok "a: the torch of python3 on the PATH" "$a" "$rc_a" "$torch_dir"
[[ $rc_cli == 0 ]] && grep -q "^loaded from .*found through python3 on the PATH" <<<"$cli" \
  || die "(cli) java --enable-native-access=ALL-UNNAMED -jar maskformer-cli-$version-all.jar info failed ($rc_cli):"$'\n'"$cli"
grep -qi "warning" <<<"$cli" && die "(cli) the runnable jar printed a warning:"$'\n'"$cli"
say "(cli) java --enable-native-access=ALL-UNNAMED -jar maskformer-cli-$version-all.jar info: $(grep '^loaded from' <<<"$cli" | cut -c1-200)"
check_ok "b: Debian's LibTorch 1.13" "$b" "$rc_b" "/usr/lib/x86_64-linux-gnu"
[[ "$(grep '^scene_' <<<"$a")" == "$(grep '^scene_' <<<"$b")" ]] \
  || die "(a) and (b) name different classes:"$'\n'"$a"$'\n'"$b"
printf '%s\n' "$a" | grep '^scene_' | sed 's/^/[consumer]   /' >&2
check_refused "c: no LibTorch" "$c" "$rc_c" "no libtorch_cpu.so"
if [[ -n "$cuda_torch" ]]; then
  check_refused "d: CUDA torch without its CUDA libraries" "$d" "$rc_d" "CUDA runtime libraries could not be loaded"
fi
say "passed"
