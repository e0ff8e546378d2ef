#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""src/test/bench/onnxruntime.sh's JSON lines as docs/performance.md's table: per configuration
the medians over its interleaved rounds (bench computes them), the ratios against ONNX Runtime's
forward pass, in wall time and, where the runs carry it, in CPU time.

    python3 src/test/bench/summarise_onnxruntime.py src/test/results/cpu/onnxruntime-*.jsonl
"""
import json
import sys


def fmt(v, digits=0):
    if v is None:
        return ""
    return f"{v:,.{digits}f}"


def main(paths) -> int:
    print("| configuration | load (1 min, before -> after) | Java whole call | Java forward | ONNX Runtime forward "
          "| ONNX Runtime whole call (Python pipeline) | Java fwd / ORT fwd | Java whole / ORT fwd "
          "| same, CPU time | page faults per call, Java / ORT |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    header = []
    for path in paths:
        for line in open(path):
            if not line.strip() or line.startswith("#"):
                if line.startswith("#"):
                    header.append(line[1:].strip())
                continue
            e = json.loads(line)
            r = e["result"]
            if "java_p50_ms" not in r:
                print(f"| {e['label']} | failed: {r} |")
                continue
            cpu = ""
            if "java_forward_cpu_over_onnxruntime_forward_cpu" in r:
                cpu = (f"{r['java_forward_cpu_over_onnxruntime_forward_cpu']:.2f} / "
                       f"{r['java_cpu_over_onnxruntime_forward_cpu']:.2f} "
                       f"({fmt(r['java_forward_cpu_ms'])}, {fmt(r['java_cpu_ms_per_call'])} / "
                       f"{fmt(r['onnxruntime_forward_cpu_ms'])} ms)")
            print(f"| {e['label']} | {e['load_before'].split()[0]} -> {e['load_after'].split()[0]} "
                  f"| {fmt(r['java_p50_ms'])} ms | {fmt(r['java_forward_p50_ms'])} ms "
                  f"| {fmt(r['onnxruntime_forward_p50_ms'])} ms | {fmt(r['onnxruntime_p50_ms'])} ms "
                  f"| {r['java_forward_over_onnxruntime_forward']:.2f} | {r['java_over_onnxruntime_forward']:.2f} "
                  f"| {cpu} | {fmt(r['java_page_faults_per_call'], 1)} / {fmt(r['onnxruntime_page_faults_per_call'])} |")
    for h in header:
        print(f"\nrun: {h}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
