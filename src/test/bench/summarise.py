#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Medians over the rounds of src/test/bench/libtorch.sh's JSON lines, as docs/performance.md's tables.

    python3 src/test/bench/summarise.py src/test/results/cpu/libtorch-2.13-vs-1.13.jsonl
"""
import json
import statistics
import sys
from collections import defaultdict


def main(path: str) -> int:
    rows = defaultdict(lambda: defaultdict(list))  # (model, size) -> key -> values
    for line in open(path):
        if not line.strip():
            continue
        entry = json.loads(line)
        label, r = entry["label"], entry["result"]
        run = r["runs"][0] if "runs" in r else r
        key = (run["variant"], run["size"], run["network_input"])
        kind = " ".join(label.split()[2:])  # e.g. "fp32 java+python 2.13"
        if "runs" in r:
            rows[key][kind + " java"].append(r["java_p50_ms"])
            rows[key][kind + " python"].append(r["python_p50_ms"])
            rows[key][kind + " ratio"].append(r["java_over_python_p50"])
            rows[key][kind + " java faults"].append(r["java_page_faults_per_call"])
            rows[key][kind + " python faults"].append(r["python_page_faults_per_call"])
        else:
            rows[key][kind].append(r["p50_ms"])
        for f in ("forward_p50_ms", "forward_gflop_per_s", "matmul_peak_gflop_per_s", "forward_share_of_matmul_peak"):
            if f in r:
                rows[key][kind + " " + f].append(r[f])
    med = lambda v: statistics.median(v) if v else float("nan")
    print("| model | frame -> network | Java 2.13 | Python 2.13 | Java/Python | Java 1.13 | 1.13/2.13 | "
          "Java bf16 | Python bf16 | fp32/bf16 (Java) | page faults/call Java / Python |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (variant, size, net), d in rows.items():
        j, p = med(d["fp32 java+python 2.13 java"]), med(d["fp32 java+python 2.13 python"])
        j113 = med(d["fp32 java 1.13"])
        jb, pb = med(d["bf16 java+python 2.13 java"]), med(d["bf16 java+python 2.13 python"])
        print(f"| {variant} | {size} -> {net} | {j:.0f} ms | {p:.0f} ms | {med(d['fp32 java+python 2.13 ratio']):.2f} | "
              f"{j113:.0f} ms | {j113 / j:.2f}x | {jb:.0f} ms | {pb:.0f} ms | {j / jb:.2f}x | "
              f"{med(d['fp32 java+python 2.13 java faults']):.1f} / {med(d['fp32 java+python 2.13 python faults']):,.0f} |")
    print()
    print("| model | frame -> network | precision | forward alone | GFLOP/s | matmul peak GFLOP/s | share of peak |")
    print("|---|---|---|---|---|---|---|")
    kinds = {"fp32 java+python 2.13": "fp32, LibTorch 2.13", "fp32 java 1.13": "fp32, LibTorch 1.13",
             "bf16 java+python 2.13": "bf16, LibTorch 2.13"}
    for (variant, size, net), d in rows.items():
        for kind, name in kinds.items():
            if d[kind + " forward_p50_ms"]:
                print(f"| {variant} | {size} -> {net} | {name} | {med(d[kind + ' forward_p50_ms']):.0f} ms | "
                      f"{med(d[kind + ' forward_gflop_per_s']):.0f} | {med(d[kind + ' matmul_peak_gflop_per_s']):.0f} | "
                      f"{med(d[kind + ' forward_share_of_matmul_peak']):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
