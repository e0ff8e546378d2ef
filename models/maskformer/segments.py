# SPDX-License-Identifier: Apache-2.0
"""Per-query segments, MaskFormer's "iterative" semantic rule and confidence maps, in Python.

The yardstick for the shim's segment outputs (cpp/src/segments.cpp); the Java tests compare with
goldens that models/fixtures.py writes from these functions. Definitions (docs/api.md explains
them for users):

Mask probabilities at the frame size. ``mask_probs`` = the mask logits upsampled bilinearly
(align_corners False) to the network input, sigmoid, then resized bilinearly to the frame. This
is the label path's order (sigmoid at the network size, resize after), so the class scores of the
label map are exactly einsum('qc,qhw->chw', class probabilities, mask_probs) up to float rounding.
(The official MaskFormer resizes the logits to the frame before the sigmoid when it runs
panoptic inference; the two differ only at mask borders.)

Segments (MaskFormer's panoptic_inference, every class treated as "stuff", at the frame size):
  1. score_q, class_q = max over the K+1 softmax of query q; keep q when class_q is not
     "no object" and score_q > object_threshold;
  2. every pixel belongs to the kept query with the largest score_q * mask_probs[q] (first on
     ties), and only to it;
  3. a kept query q survives when area_q = its pixels > 0, original_q = (mask_probs[q] >= 0.5)
     pixels > 0 and area_q / original_q >= overlap_threshold;
  4. survivors get ids 1, 2, ... in query order; with ``merge`` a survivor whose class already has
     a segment joins that segment instead (the official rule for stuff classes). Pixels of queries
     that did not survive, or of no kept query, get id 0 ("no segment");
  5. per segment: id, class, area (pixels), bounding box (x0, y0 inclusive; x1, y1 exclusive),
     the first query, and score = mean over its pixels of score_q * mask_probs[q] for the owning
     query q (for an unmerged segment: class probability x mean mask probability inside it).

Iterative semantic rule (the official MaskFormer's "iterative" SEMANTIC_INFERENCE_METHOD,
semantic_probabilistic_iterative_inference), at the network input size as there:
  p = softmax over K+1 without "no object", m = sigmoid of the upsampled mask logits;
  labels = argmax_c einsum(p, m); for each query q with class c_q = argmax_c p[q] (over the K
  classes), binary = m[q] >= 0.5: q is dropped when |binary & (labels == c_q)| / |binary| <
  overlap_threshold. A query with an empty binary mask is kept (0/0 is NaN, and NaN < t is
  false in the official code). The class scores are einsum over the kept queries only (all zero
  when none is kept), then resized to the frame and argmaxed as usual.

Confidence: the winning class's score at each pixel (the maximum over classes of the scores the
argmax picks from); as uint8, round(255 * min(score, 1)).
"""
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .reference import preprocess


def network_mask_probs(pred_masks: torch.Tensor, net_size: Tuple[int, int]) -> torch.Tensor:
    """(Q, h', w') mask logits -> (Q, h, w) probabilities at the network input size."""
    return F.interpolate(pred_masks[None], size=net_size, mode="bilinear",
                         align_corners=False)[0].sigmoid()


def frame_mask_probs(pred_masks: torch.Tensor, net_size: Tuple[int, int],
                     frame_size: Tuple[int, int]) -> torch.Tensor:
    """(Q, h', w') mask logits -> (Q, H, W) probabilities at the frame size."""
    up = network_mask_probs(pred_masks, net_size)
    return F.interpolate(up[None], size=frame_size, mode="bilinear", align_corners=False)[0]


def iterative_keep(pred_logits: torch.Tensor, net_probs: torch.Tensor,
                   overlap_threshold: float) -> torch.Tensor:
    """Bool (Q,) of the queries the iterative rule keeps; (Q, K+1) logits, (Q, h, w) masks."""
    cls = F.softmax(pred_logits, dim=-1)[:, :-1]
    labels = torch.einsum("qc,qhw->chw", cls, net_probs).argmax(0)
    query_class = cls.argmax(-1)
    binary = net_probs >= 0.5
    inside = (binary & (labels[None] == query_class[:, None, None])).sum((1, 2))
    total = binary.sum((1, 2))
    keep = torch.ones(len(query_class), dtype=torch.bool)
    for q in range(len(query_class)):
        if total[q] > 0 and inside[q].item() / total[q].item() < overlap_threshold:
            keep[q] = False
    return keep


def iterative_ratios(pred_logits: torch.Tensor, net_probs: torch.Tensor) -> List[Optional[float]]:
    """Per query |binary & labels == c_q| / |binary| (None for an empty mask): to pick test
    thresholds that lie away from every ratio."""
    cls = F.softmax(pred_logits, dim=-1)[:, :-1]
    labels = torch.einsum("qc,qhw->chw", cls, net_probs).argmax(0)
    query_class = cls.argmax(-1)
    binary = net_probs >= 0.5
    inside = (binary & (labels[None] == query_class[:, None, None])).sum((1, 2))
    total = binary.sum((1, 2))
    return [None if t == 0 else i / t for i, t in zip(inside.tolist(), total.tolist())]


def class_scores(pred_logits: torch.Tensor, net_probs: torch.Tensor,
                 keep: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(K, h, w) scores at the network size, over the kept queries (all when keep is None)."""
    cls = F.softmax(pred_logits, dim=-1)[:, :-1]
    if keep is not None:
        cls = cls * keep[:, None].to(cls.dtype)
    return torch.einsum("qc,qhw->chw", cls, net_probs)


def segments(pred_logits: torch.Tensor, masks: torch.Tensor, object_threshold: float = 0.8,
             overlap_threshold: float = 0.8, merge: bool = False
             ) -> Tuple[np.ndarray, List[Dict[str, Any]], Dict[str, int]]:
    """(ids (H, W) int32, segments, counts) from (Q, K+1) logits and (Q, H, W) mask probabilities.

    counts: queries kept by the score rule ("scored"), dropped by the overlap rule ("dropped"),
    and the area / original ratios the overlap rule compared ("ratios").
    """
    h, w = masks.shape[1:]
    probs = F.softmax(pred_logits, dim=-1)
    scores, classes = probs.max(-1)
    no_object = probs.shape[-1] - 1
    keep = (classes != no_object) & (scores > object_threshold)
    ids = np.zeros((h, w), np.int32)
    counts = {"scored": int(keep.sum()), "dropped": 0, "ratios": []}
    if not keep.any():
        return ids, [], counts
    queries = keep.nonzero()[:, 0]
    s, c, m = scores[keep], classes[keep], masks[keep]
    weighted = s[:, None, None] * m
    owner = weighted.argmax(0)
    chosen = weighted.gather(0, owner[None])[0].double()
    found: List[Dict[str, Any]] = []
    by_class: Dict[int, Dict[str, Any]] = {}
    for k in range(len(queries)):
        region = owner == k
        area = int(region.sum())
        original = int((m[k] >= 0.5).sum())
        if area > 0 and original > 0:
            counts["ratios"].append(area / original)
        if area == 0 or original == 0 or area / original < overlap_threshold:
            counts["dropped"] += 1
            continue
        cls = int(c[k])
        seg = by_class.get(cls) if merge else None
        if seg is None:
            seg = {"id": len(found) + 1, "class": cls, "query": int(queries[k]), "area": 0,
                   "sum": 0.0, "region": torch.zeros((h, w), dtype=torch.bool)}
            found.append(seg)
            by_class.setdefault(cls, seg)
        seg["area"] += area
        seg["sum"] += float(chosen[region].sum())
        seg["region"] |= region
    out = []
    for seg in found:
        region = seg.pop("region").numpy()
        ids[region] = seg["id"]
        ys, xs = np.nonzero(region)
        out.append({"id": seg["id"], "class": seg["class"], "query": seg["query"],
                    "score": seg.pop("sum") / seg["area"], "area": seg["area"],
                    "bbox": [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]})
    return ids, out, counts


def confidence_u8(confidence: torch.Tensor) -> np.ndarray:
    """uint8 confidence: round(255 * min(score, 1)), half away from zero as the shim does."""
    return np.floor(confidence.clamp(0, 1).double().numpy() * 255 + 0.5).astype(np.uint8)


@torch.no_grad()
def forward(module, bgr: np.ndarray, meta: Dict[str, Any]):
    """(logits (Q, K+1), mask logits (Q, h', w'), network size) of one BGR image."""
    x = preprocess(bgr, meta)
    pred_logits, pred_masks = module(x)
    return pred_logits[0], pred_masks[0], (x.shape[2], x.shape[3])


@torch.no_grad()
def run(module, bgr: np.ndarray, meta: Dict[str, Any], *, iterative: Optional[float] = None,
        object_threshold: float = 0.8, overlap_threshold: float = 0.8, merge: bool = False,
        outputs=None) -> Dict[str, Any]:
    """Everything for one BGR image: labels, confidence (float), segment ids and segments.

    iterative: None for the default probabilistic rule, else its overlap threshold.
    outputs: forward(module, bgr, meta) when already computed.
    """
    logits, masks, net = outputs if outputs is not None else forward(module, bgr, meta)
    frame = bgr.shape[:2]
    net_probs = network_mask_probs(masks, net)
    keep = None if iterative is None else iterative_keep(logits, net_probs, iterative)
    scores = class_scores(logits, net_probs, keep)
    scores = F.interpolate(scores[None], size=frame, mode="bilinear", align_corners=False)[0]
    confidence = scores.max(0).values
    frame_probs = F.interpolate(net_probs[None], size=frame, mode="bilinear",
                                align_corners=False)[0]
    ids, segs, counts = segments(logits, frame_probs, object_threshold, overlap_threshold, merge)
    return {"labels": scores.argmax(0).numpy(), "confidence": confidence, "ids": ids,
            "segments": segs, "counts": counts,
            "kept": None if keep is None else int(keep.sum()), "logits": logits,
            "net_probs": net_probs}
