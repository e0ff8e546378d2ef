#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Write a synthetic street/landscape dataset in the ADE20k layout.

    /usr/bin/python3 models/scenes.py --out /tmp/scenes --train 4000 --val 200 --seed 1
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from maskformer.scenes import write_split  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", required=True, help="dataset root (images/, annotations/)")
    p.add_argument("--train", type=int, default=0, help="number of training scenes")
    p.add_argument("--val", type=int, default=0, help="number of validation scenes")
    p.add_argument("--seed", type=int, default=1,
                   help="training split seed; validation uses seed + 1000")
    args = p.parse_args(argv)
    t0 = time.time()
    if args.train:
        write_split(args.out, "training", args.train, args.seed)
    if args.val:
        write_split(args.out, "validation", args.val, args.seed + 1000)
    print(f"wrote {args.train} training and {args.val} validation scenes to {args.out} "
          f"in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
