#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Where bf16 labels differ from fp32: agreement by the fp32 score margin (top-1 minus top-2
class score at the pixel), and how far from degenerate the model's labels are.

    .venv/bin/python src/test/bench/bf16_margins.py --model M.pt --data SCENES [--limit N]

Runs the TorchScript export in Python the way the shim runs bf16 (weights and input in bfloat16,
outputs back to fp32 for the same fp32 post-processing) on the validation images, and prints
JSON: overall agreement, agreement within margin bins, the share of pixels in each bin, and per
image the number of classes the fp32 labels use and the largest class's share. A model whose
pixels mostly sit in the lowest bin is near ties everywhere (random weights are); a trained one
has most pixels at large margins and its disagreements at small ones.
"""
import argparse
import json
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "models"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from maskformer.export import read_metadata  # noqa: E402
from maskformer.metrics import dataset_pairs  # noqa: E402
from maskformer.reference import preprocess, semantic_scores  # noqa: E402

BINS = [0.0, 0.01, 0.03, 0.1, 0.3, float("inf")]


def scores_of(module, x, dtype):
    with torch.inference_mode():
        logits, masks = module(x.to(dtype))
        s = semantic_scores(logits.float(), masks.float(), (x.shape[2], x.shape[3]))
    return s


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="validation")
    p.add_argument("--limit", type=int)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    meta = read_metadata(args.model)
    fp32 = torch.jit.load(args.model, map_location="cpu").eval()
    bf16 = torch.jit.load(args.model, map_location="cpu").eval().to(torch.bfloat16)
    pixels_in = np.zeros(len(BINS) - 1, np.int64)
    agree_in = np.zeros(len(BINS) - 1, np.int64)
    images = []
    for img_path, _ in dataset_pairs(args.data, args.split, args.limit):
        bgr = cv2.imread(img_path, cv2.IMREAD_COLOR)
        h, w = bgr.shape[:2]
        x = preprocess(bgr, meta)
        a = F.interpolate(scores_of(fp32, x, torch.float32), size=(h, w), mode="bilinear",
                          align_corners=False)[0]
        b = F.interpolate(scores_of(bf16, x, torch.bfloat16), size=(h, w), mode="bilinear",
                          align_corners=False)[0]
        top2 = a.topk(2, dim=0).values
        margin = (top2[0] - top2[1]).numpy().ravel()
        la = a.argmax(0).numpy().ravel()
        lb = b.argmax(0).numpy().ravel()
        same = la == lb
        which = np.digitize(margin, BINS[1:-1])
        pixels_in += np.bincount(which, minlength=len(BINS) - 1)
        agree_in += np.bincount(which, weights=same, minlength=len(BINS) - 1).astype(np.int64)
        counts = np.bincount(la)
        images.append({"image": os.path.basename(img_path), "agreement": round(float(same.mean()), 6),
                       "classes": int((counts > 0).sum()),
                       "largest_class_share": round(float(counts.max() / la.size), 4)})
    total = int(pixels_in.sum())
    out = {
        "model": args.model,
        "images": len(images),
        "pixels": total,
        "agreement": round(float(agree_in.sum() / total), 6),
        "by_fp32_margin": [
            {"margin": f"[{BINS[i]}, {BINS[i + 1]})", "share_of_pixels": round(float(pixels_in[i] / total), 6),
             "agreement": round(float(agree_in[i] / pixels_in[i]), 6) if pixels_in[i] else None}
            for i in range(len(BINS) - 1)],
        "classes_per_image_median": float(np.median([i["classes"] for i in images])),
        "largest_class_share_median": float(np.median([i["largest_class_share"] for i in images])),
        "per_image": images,
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
