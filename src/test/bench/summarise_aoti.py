#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Medians over the rounds of src/test/bench/aoti.sh's JSON lines, as docs/models.md's table:
whole-call p50 and forward-alone p50 per format, and the per-round TorchScript/AOTI ratio.

    python3 src/test/bench/summarise_aoti.py src/test/results/cpu/aoti-vs-torchscript.jsonl
"""
import json
import statistics
import sys
from collections import defaultdict


def main(path: str) -> int:
    runs = defaultdict(dict)  # (variant, size, net, precision, round) -> format -> result
    for line in open(path):
        if not line.strip():
            continue
        entry = json.loads(line)
        r = entry["result"]
        round_no = int(entry["label"].split()[1])
        runs[(r["variant"], r["size"], r["network_input"], r["precision"], round_no)][r["format"]] = r
    table = defaultdict(lambda: defaultdict(list))
    for (variant, size, net, precision, _), pair in runs.items():
        if set(pair) != {"torchscript", "aoti"}:
            continue
        t, a = pair["torchscript"], pair["aoti"]
        row = table[(variant, size, net, precision)]
        row["ts"].append(t["p50_ms"])
        row["aoti"].append(a["p50_ms"])
        row["ratio"].append(t["p50_ms"] / a["p50_ms"])
        row["ts_fwd"].append(t.get("forward_p50_ms", float("nan")))
        row["aoti_fwd"].append(a.get("forward_p50_ms", float("nan")))
        row["threads"] = [t["threads"]]
    print("| model | frame (network) | precision | TorchScript p50 ms (forward) | AOTInductor p50 ms "
          "(forward) | TorchScript / AOTI, whole call | rounds |")
    print("|---|---|---|---|---|---|---|")
    med = statistics.median
    for (variant, size, net, precision), row in sorted(table.items()):
        print(f"| {variant} | {size} ({net}) | {precision} | {med(row['ts']):.1f} ({med(row['ts_fwd']):.1f}) | "
              f"{med(row['aoti']):.1f} ({med(row['aoti_fwd']):.1f}) | {med(row['ratio']):.2f}x "
              f"(rounds: {', '.join(f'{v:.2f}' for v in row['ratio'])}) | {len(row['ratio'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
