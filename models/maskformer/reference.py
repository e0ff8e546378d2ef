# SPDX-License-Identifier: Apache-2.0
"""sssegmentation's MaskFormer test-time pipeline, end to end, in Python.

This is the yardstick for the Java library: the C++ shim implements the same steps on the
model's device, and the Java tests compare against label maps and scores computed here.

1. BGR uint8 image (as ``cv2.imread`` gives it);
2. keep-ratio resize so that long side <= L and short side <= S (the model's metadata),
   ``cv2.resize(..., INTER_LINEAR)`` on the uint8 image, dsize = int(x * s + 0.5);
3. float32, BGR -> RGB, (x - mean) / std on 0..255 values, CHW; no padding;
4. forward -> pred_logits (B, Q, K+1), pred_masks (B, Q, h/4, w/4);
5. masks bilinearly upsampled (align_corners False) to the network input, sigmoid; class
   probabilities softmax over K+1 with the no-object column dropped; einsum 'qc,qhw->chw';
6. bilinear resize of those scores to the original size, argmax (first index on ties).
"""
from typing import Any, Dict, Tuple

import numpy as np
import torch
import torch.nn.functional as F

try:
    import cv2
except ImportError:  # the network code works without OpenCV; only the pipeline needs it
    cv2 = None


def target_size(height: int, width: int, long_side: int, short_side: int) -> Tuple[int, int]:
    """(h, w) after the keep-ratio resize; identical arithmetic to sssegmentation's Resize, except
    that a side which would round to 0 (e.g. 32768x1 under 2048/512) is kept at 1 pixel."""
    scale = min(max(long_side, short_side) / max(height, width),
                min(long_side, short_side) / min(height, width))
    return max(1, int(height * scale + 0.5)), max(1, int(width * scale + 0.5))


def preprocess(bgr: np.ndarray, meta: Dict[str, Any]) -> torch.Tensor:
    """uint8 HxWx3 BGR -> normalised float32 (1, 3, h, w) RGB tensor, as the reference does."""
    if cv2 is None:
        raise RuntimeError("the reference pipeline needs OpenCV (apt-get install python3-opencv)")
    if bgr.dtype != np.uint8 or bgr.ndim != 3 or bgr.shape[2] != 3:
        raise ValueError(f"expected uint8 HxWx3, got {bgr.dtype} {bgr.shape}")
    h, w = bgr.shape[:2]
    th, tw = target_size(h, w, meta["resize"]["long_side"], meta["resize"]["short_side"])
    img = cv2.resize(bgr, (tw, th), interpolation=cv2.INTER_LINEAR)
    img = img.astype(np.float32)
    cv2.cvtColor(img, cv2.COLOR_BGR2RGB, img)
    mean = np.float64(np.array(meta["input"]["mean"]).reshape(1, -1))
    stdinv = 1 / np.float64(np.array(meta["input"]["std"]).reshape(1, -1))
    cv2.subtract(img, mean, img)
    cv2.multiply(img, stdinv, img)
    return torch.from_numpy(img.transpose(2, 0, 1).copy()).unsqueeze(0)


def semantic_scores(pred_logits: torch.Tensor, pred_masks: torch.Tensor,
                    size: Tuple[int, int]) -> torch.Tensor:
    """(B, K, h, w) scores at the network input size ``size``."""
    masks = F.interpolate(pred_masks, size=size, mode="bilinear", align_corners=False).sigmoid()
    probs = F.softmax(pred_logits, dim=-1)[..., :-1]
    return torch.einsum("bqc,bqhw->bchw", probs, masks)


@torch.no_grad()
def segment(module, bgr: np.ndarray, meta: Dict[str, Any]) -> Tuple[np.ndarray, torch.Tensor]:
    """labels (H, W) int64 and scores (K, H, W) float32 for one BGR image."""
    x = preprocess(bgr, meta)
    pred_logits, pred_masks = module(x)
    scores = semantic_scores(pred_logits, pred_masks, (x.shape[2], x.shape[3]))
    h, w = bgr.shape[:2]
    scores = F.interpolate(scores, size=(h, w), mode="bilinear", align_corners=False)[0]
    return scores.argmax(0).numpy(), scores


def opencv_linear_resize(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """A bit-exact model of OpenCV 4's ``cv2.resize(INTER_LINEAR)`` on uint8 images.

    Coefficients are rounded to 11 fractional bits; the horizontal pass sums in integers, the
    vertical pass combines rows as OpenCV's SIMD kernel does. The C++ shim implements this same
    arithmetic; tests check this model against OpenCV itself.
    """
    h, w = img.shape[:2]
    xs0, xs1, a0, a1 = linear_taps(w, out_w, clamp_weights=True)
    ys0, ys1, b0, b1 = linear_taps(h, out_h, clamp_weights=False)
    src = img.astype(np.int64).reshape(h, w, -1)
    rows = src[:, xs0] * a0[None, :, None] + src[:, xs1] * a1[None, :, None]
    top, bottom = rows[ys0], rows[ys1]
    b0, b1 = b0[:, None, None], b1[:, None, None]
    out = (((b0 * (top >> 4)) >> 16) + ((b1 * (bottom >> 4)) >> 16) + 2) >> 2
    return np.clip(out, 0, 255).astype(np.uint8).reshape((out_h, out_w) + img.shape[2:])


def linear_taps(src: int, dst: int, clamp_weights: bool):
    """Source indices and 11-bit weights of one axis (x clamps weights at the border, y only
    clamps the row indices; both give the border value, with the rounding OpenCV has)."""
    scale = 1.0 / (dst / src)
    d = np.arange(dst)
    f = ((d + 0.5) * scale - 0.5).astype(np.float32)
    s = np.floor(f).astype(np.int64)
    f = (f - s).astype(np.float32)
    if clamp_weights:
        low = s < 0
        f[low], s[low] = 0, 0
        high = s >= src - 1
        f[high], s[high] = 0, src - 1
    w0 = np.rint((np.float32(1) - f) * 2048).astype(np.int64)
    w1 = np.rint(f * 2048).astype(np.int64)
    return np.clip(s, 0, src - 1), np.clip(s + 1, 0, src - 1), w0, w1
