# SPDX-License-Identifier: Apache-2.0
"""mIoU, pixel accuracy and per-class IoU the way sssegmentation computes them.

Ground truth: ADE ids in a grey PNG; id 0 (and anything outside 1..K) is ignored. Predictions:
labels 0..K-1 (label = id - 1). Per class, intersection and union are summed over the whole
dataset; IoU = I / U; classes with U = 0 are NaN and left out of the mean (numpy nanmean).
Pixel accuracy = sum(I) / sum(labelled pixels).
"""
import glob
import json
import os
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np


class Accumulator:
    def __init__(self, num_classes: int):
        self.k = num_classes
        self.intersect = np.zeros(num_classes, np.float64)
        self.pred = np.zeros(num_classes, np.float64)
        self.label = np.zeros(num_classes, np.float64)
        self.images = 0

    def add(self, pred: np.ndarray, ade_ids: np.ndarray) -> None:
        if pred.shape != ade_ids.shape:
            raise ValueError(f"prediction {pred.shape} and annotation {ade_ids.shape} differ")
        gt = ade_ids.astype(np.int64) - 1
        valid = (gt >= 0) & (gt < self.k)
        p = pred.astype(np.int64)[valid]
        g = gt[valid]
        self.intersect += np.bincount(p[p == g], minlength=self.k)[:self.k]
        self.pred += np.bincount(p, minlength=self.k)[:self.k]
        self.label += np.bincount(g, minlength=self.k)[:self.k]
        self.images += 1

    def result(self, class_names: Optional[List[str]] = None) -> Dict:
        union = self.pred + self.label - self.intersect
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = self.intersect / union
        present = ~np.isnan(iou)
        names = class_names or [str(i) for i in range(self.k)]
        return {
            "images": self.images,
            "mIoU": float(np.nanmean(iou)) if present.any() else float("nan"),
            "pixel_accuracy": float(self.intersect.sum() / max(self.label.sum(), 1)),
            "classes_evaluated": int(present.sum()),
            "per_class_iou": {names[i]: float(iou[i]) for i in range(self.k) if present[i]},
        }


def dataset_pairs(root: str, split: Optional[str] = None,
                  limit: Optional[int] = None) -> Iterator[Tuple[str, str]]:
    """(image, annotation) paths of an ADE20k-layout folder, sorted by name.

    ``root`` may be the dataset root (with images/validation) or a split folder pair's parent.
    """
    split = split or "validation"
    img_dir = os.path.join(root, "images", split)
    ann_dir = os.path.join(root, "annotations", split)
    if not os.path.isdir(img_dir):
        raise FileNotFoundError(f"{img_dir} does not exist (expected the ADE20k layout)")
    paths = sorted(p for p in glob.glob(os.path.join(img_dir, "*"))
                   if p.lower().endswith((".jpg", ".jpeg", ".png")))
    if limit is not None:
        paths = paths[:limit]
    for p in paths:
        stem = os.path.splitext(os.path.basename(p))[0]
        ann = os.path.join(ann_dir, stem + ".png")
        if not os.path.isfile(ann):
            raise FileNotFoundError(f"no annotation {ann} for {p}")
        yield p, ann


def to_json(result: Dict) -> str:
    return json.dumps(result, indent=1, sort_keys=False)
