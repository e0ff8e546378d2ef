#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""mIoU of an exported model on an ADE20k-layout folder, with sssegmentation's pipeline.

    /usr/bin/python3 models/evaluate.py --model models/demo/demo.pt --data /tmp/scenes-val

Prints a JSON object (mIoU, pixel_accuracy, per_class_iou, ...) on stdout. The Java command
``./maskformer evaluate`` computes the same numbers through the Java library.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cv2  # noqa: E402
import torch  # noqa: E402

from maskformer.export import read_metadata  # noqa: E402
from maskformer.metrics import Accumulator, dataset_pairs, to_json  # noqa: E402
from maskformer.reference import segment  # noqa: E402


def evaluate(module, meta, root: str, split: str = "validation", limit: int = None,
             progress: bool = False) -> dict:
    acc = Accumulator(meta["num_classes"])
    pairs = list(dataset_pairs(root, split, limit))
    t0 = time.time()
    for i, (img_path, ann_path) in enumerate(pairs):
        bgr = cv2.imread(img_path, cv2.IMREAD_COLOR)
        ann = cv2.imread(ann_path, cv2.IMREAD_GRAYSCALE)
        labels, _ = segment(module, bgr, meta)
        acc.add(labels, ann)
        if progress:
            print(f"\r{i + 1}/{len(pairs)}", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    result = acc.result(meta["classes"])
    result["seconds"] = round(time.time() - t0, 2)
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", required=True, help="TorchScript export with maskformer.json")
    p.add_argument("--data", required=True, help="ADE20k-layout root")
    p.add_argument("--split", default="validation")
    p.add_argument("--limit", type=int, help="first N images only")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: default)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    meta = read_metadata(args.model)
    module = torch.jit.load(args.model, map_location="cpu").eval()
    result = evaluate(module, meta, args.data, args.split, args.limit, sys.stderr.isatty())
    result["model"] = args.model
    print(to_json(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
