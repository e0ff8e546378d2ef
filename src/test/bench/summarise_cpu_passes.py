#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""cpu-passes.sh's JSON lines as a table: per MASKFORMER_CPU_PASSES value, in the order run, the
medians over the rounds of the whole-call p50 and of the forward pass alone, and their ratios to
the module as exported (`none`), with the load seen at each run.

    python3 src/test/bench/summarise_cpu_passes.py src/test/results/cpu/cpu-passes-*.jsonl
"""
import json
import statistics
import sys


def main(paths) -> int:
    rows = {}
    for path in paths:
        for line in open(path):
            if not line.strip() or line.startswith("#"):
                continue
            e = json.loads(line)
            if "p50_ms" not in e["result"]:
                print(f"note: {e['passes']} round {e['round']}: {e['result']}", file=sys.stderr)
                continue
            r = rows.setdefault(e["passes"], {"p50": [], "fwd": [], "load": []})
            r["p50"].append(e["result"]["p50_ms"])
            r["fwd"].append(e["result"]["forward_p50_ms"])
            r["load"].append(float(e["load"].split()[0]))
    base = rows.get("none")
    print("| MASKFORMER_CPU_PASSES | rounds | whole call | forward | whole / none | forward / none | load (1 min) |")
    print("|---|---|---|---|---|---|---|")
    for passes, r in rows.items():
        p50, fwd = statistics.median(r["p50"]), statistics.median(r["fwd"])
        rel = (f"{p50 / statistics.median(base['p50']):.2f} | {fwd / statistics.median(base['fwd']):.2f}"
               if base else " | ")
        print(f"| `{passes}` | {len(r['p50'])} | {p50:,.0f} ms | {fwd:,.0f} ms | {rel} "
              f"| {min(r['load']):.1f}-{max(r['load']):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
