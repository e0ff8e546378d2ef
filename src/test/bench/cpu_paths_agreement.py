#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Compares the outputs of cpu-paths-agreement.sh's runs in DIR (plain/, rewrites/, default/):
share of equal labels, largest winning-score and class-score differences, and how many pixels are
close enough to a tie for such differences to change a label; one JSON line."""
import argparse
import glob
import json
import os

import cv2
import numpy as np


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("dir")
    p.add_argument("--model", default="")
    p.add_argument("--set", default="")
    args = p.parse_args()
    stems = sorted(os.path.basename(f)[:-len(".labels.png")]
                   for f in glob.glob(os.path.join(args.dir, "plain", "*.labels.png")))
    if not stems:
        raise SystemExit(f"no labels in {args.dir}/plain")
    pixels = equal = equal_rewrites = 0
    worst_image = 1.0
    conf_diff = score_diff = 0.0
    classes = []
    margins = []  # per image with class scores: plain's best minus second-best score per pixel
    for stem in stems:
        def read(kind, suffix):
            path = os.path.join(args.dir, kind, stem + suffix)
            if not os.path.exists(path):
                return None
            if suffix.endswith(".png"):
                return cv2.imread(path, cv2.IMREAD_UNCHANGED)
            return np.load(path)
        plain = read("plain", ".labels.png")
        default = read("default", ".labels.png")
        same = int((plain == default).sum())
        pixels += plain.size
        equal += same
        worst_image = min(worst_image, same / plain.size)
        classes.append(len(np.unique(plain)))
        conf_diff = max(conf_diff, float(np.abs(read("plain", ".confidence.npy")
                                                - read("default", ".confidence.npy")).max()))
        rewrites = read("rewrites", ".labels.png")
        if rewrites is not None:
            equal_rewrites += int((plain == rewrites).sum())
            a, b = read("plain", ".scores.npy"), read("rewrites", ".scores.npy")
            score_diff = max(score_diff, float(np.abs(a - b).max()))
            top2 = np.partition(a, a.shape[0] - 2, axis=0)[-2:]
            margins.append((top2[1] - top2[0]).ravel())
    result = {
        "model": args.model, "images": args.set, "count": len(stems),
        "size": f"{plain.shape[1]}x{plain.shape[0]}", "pixels": pixels,
        "labels_equal_default_vs_plain": equal / pixels,
        "worst_image": worst_image,
        "max_winning_score_diff_default_vs_plain": conf_diff,
        "median_classes_per_image_plain": float(np.median(classes)),
    }
    if equal_rewrites:
        result["labels_equal_rewrites_vs_plain"] = equal_rewrites / pixels
        result["max_class_score_diff_rewrites_vs_plain"] = score_diff
        # a label can only change where plain's top two scores are closer than twice the largest
        # score difference: the share of pixels where that is so, and plain's median margin
        m = np.concatenate(margins)
        result["pixels_within_twice_max_diff_of_a_tie"] = float((m <= 2 * score_diff).mean())
        result["median_top2_margin_plain"] = float(np.median(m))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
