# SPDX-License-Identifier: Apache-2.0
"""Training objective and data pipeline for MaskFormer (used to train the bundled demo model).

The objective is MaskFormer's: per image and decoder layer, predictions are matched one-to-one
to the ground-truth masks (one per class present) by the Hungarian algorithm on the cost
``1 * class + 20 * sigmoid focal + 1 * dice`` computed at prediction resolution; the losses are
cross-entropy over all queries (no-object weighted 0.1), and focal (x20) and dice (x1) on the
matched masks, upsampled to the target size. Every decoder layer is supervised.
"""
import glob
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import Tensor

try:
    import cv2
except ImportError:
    cv2 = None

IGNORE = 255  # label value for "no class" inside the training pipeline
COST_CLASS, COST_MASK, COST_DICE = 1.0, 20.0, 1.0
NO_OBJECT_WEIGHT = 0.1
FOCAL_ALPHA, FOCAL_GAMMA = 0.25, 2.0


def focal_pairwise(logits: Tensor, targets: Tensor) -> Tensor:
    """Sigmoid focal cost of every prediction (N, P) against every target (M, P), averaged over P."""
    p = logits.sigmoid()
    pos = FOCAL_ALPHA * (1 - p) ** FOCAL_GAMMA * F.binary_cross_entropy_with_logits(
        logits, torch.ones_like(logits), reduction="none")
    neg = (1 - FOCAL_ALPHA) * p ** FOCAL_GAMMA * F.binary_cross_entropy_with_logits(
        logits, torch.zeros_like(logits), reduction="none")
    return (pos @ targets.T + neg @ (1 - targets).T) / logits.shape[1]


def dice_pairwise(logits: Tensor, targets: Tensor) -> Tensor:
    p = logits.sigmoid()
    numerator = 2 * p @ targets.T
    denominator = p.sum(-1)[:, None] + targets.sum(-1)[None, :]
    return 1 - (numerator + 1) / (denominator + 1)


@torch.no_grad()
def hungarian_match(logits: Tensor, masks: Tensor, labels: Tensor,
                    target_masks: Tensor) -> Tuple[np.ndarray, np.ndarray]:
    """Optimal (query indices, target indices) for one image.

    logits (Q, K+1), masks (Q, h, w) mask logits, labels (T,), target_masks (T, h, w) in {0, 1}.
    """
    if labels.numel() == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    cost_class = -logits.softmax(-1)[:, labels]
    pm = masks.flatten(1).float()
    tm = target_masks.flatten(1).float()
    cost = (COST_CLASS * cost_class + COST_MASK * focal_pairwise(pm, tm) +
            COST_DICE * dice_pairwise(pm, tm))
    rows, cols = linear_sum_assignment(cost.cpu().numpy())
    return rows.astype(np.int64), cols.astype(np.int64)


def focal_loss(logits: Tensor, targets: Tensor, num_masks: float) -> Tensor:
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** FOCAL_GAMMA
    loss = (FOCAL_ALPHA * targets + (1 - FOCAL_ALPHA) * (1 - targets)) * loss
    return loss.mean(1).sum() / num_masks


def dice_loss(logits: Tensor, targets: Tensor, num_masks: float) -> Tensor:
    p = logits.sigmoid()
    numerator = 2 * (p * targets).sum(-1)
    denominator = p.sum(-1) + targets.sum(-1)
    return (1 - (numerator + 1) / (denominator + 1)).sum() / num_masks


def set_criterion(logits: Tensor, masks: Tensor, targets: List[Dict[str, Tensor]],
                  num_classes: int) -> Dict[str, Tensor]:
    """Losses of one decoder layer. logits (B, Q, K+1), masks (B, Q, h, w) logits."""
    b, q, _ = logits.shape
    th, tw = targets[0]["masks"].shape[-2:]
    small = (masks.shape[-2], masks.shape[-1])
    class_target = torch.full((b, q), num_classes, dtype=torch.long)
    matched_pred, matched_true = [], []
    for i, t in enumerate(targets):
        if "low" not in t:  # nearest-downsampled targets, shared by every decoder layer
            t["low"] = F.interpolate(t["masks"][None].float(), size=small, mode="nearest")[0]
        rows, cols = hungarian_match(logits[i].detach(), masks[i].detach(), t["labels"], t["low"])
        class_target[i, rows] = t["labels"][cols]
        if len(rows):
            matched_pred.append(masks[i, rows])
            matched_true.append(t["masks"][cols].float())
    weight = torch.ones(num_classes + 1)
    weight[-1] = NO_OBJECT_WEIGHT
    loss_ce = F.cross_entropy(logits.transpose(1, 2), class_target, weight)
    num_masks = float(max(sum(len(t["labels"]) for t in targets), 1))
    if matched_pred:
        pred = F.interpolate(torch.cat(matched_pred)[None], size=(th, tw), mode="bilinear",
                             align_corners=False)[0].flatten(1)
        true = torch.cat(matched_true).flatten(1)
        loss_mask = focal_loss(pred, true, num_masks)
        loss_dice = dice_loss(pred, true, num_masks)
    else:
        loss_mask = masks.sum() * 0
        loss_dice = masks.sum() * 0
    return {"ce": loss_ce, "mask": loss_mask, "dice": loss_dice}


def total_loss(all_logits: Tensor, all_masks: Tensor, targets: List[Dict[str, Tensor]],
               num_classes: int) -> Tuple[Tensor, Dict[str, float]]:
    """Sum over decoder layers (deep supervision) of 1*CE + 20*focal + 1*dice."""
    total = all_logits.new_zeros(())
    parts: Dict[str, float] = {"ce": 0.0, "mask": 0.0, "dice": 0.0}
    for layer in range(all_logits.shape[0]):
        losses = set_criterion(all_logits[layer], all_masks[layer], targets, num_classes)
        total = total + (COST_CLASS * losses["ce"] + COST_MASK * losses["mask"] +
                         COST_DICE * losses["dice"])
        if layer == all_logits.shape[0] - 1:
            parts = {k: float(v) for k, v in losses.items()}
    return total, parts


def targets_from_labels(labels: Tensor) -> List[Dict[str, Tensor]]:
    """Per image: the classes present (0-based) and one binary mask per class."""
    out = []
    for lab in labels:
        classes = torch.unique(lab)
        classes = classes[classes != IGNORE]
        out.append({"labels": classes.long(), "masks": (lab[None] == classes[:, None, None])})
    return out


# ---------------------------------------------------------------------------------------------
# data


def load_split(root: str, split: str) -> List[Tuple[np.ndarray, np.ndarray]]:
    """(RGB uint8, ADE-id uint8) pairs of an ADE20k-layout split, fully in memory."""
    items = []
    for path in sorted(glob.glob(os.path.join(root, "images", split, "*.jpg"))):
        name = os.path.splitext(os.path.basename(path))[0]
        ann = os.path.join(root, "annotations", split, name + ".png")
        img = cv2.imread(path, cv2.IMREAD_COLOR)[:, :, ::-1].copy()
        lab = cv2.imread(ann, cv2.IMREAD_GRAYSCALE)
        items.append((img, lab))
    if not items:
        raise FileNotFoundError(f"no images under {root}/images/{split}")
    return items


def ade_to_train(lab: np.ndarray) -> np.ndarray:
    """ADE ids (0 ignore, 1..150) -> labels 0..149 with IGNORE for id 0."""
    out = lab.astype(np.int64) - 1
    out[lab == 0] = IGNORE
    return out.astype(np.uint8)


def class_frequencies(data: Sequence[Tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Share of the labelled pixels of each training label (0..254) over a split."""
    counts = np.zeros(256, np.float64)
    for _, lab in data:
        counts += np.bincount(ade_to_train(lab).ravel(), minlength=256)
    counts[IGNORE] = 0
    return counts / max(counts.sum(), 1.0)


class Augmenter:
    """Random scale around the test-time scale, crop, flip and photometric jitter.

    Crops follow sssegmentation's RandomCrop with one_category_max_ratio: up to 10 tries for a crop
    in which no single class covers more than ``max_ratio`` of the labelled pixels. With
    ``frequencies`` (see :func:`class_frequencies`), a share ``rare_share`` of the crops is instead
    centred on a pixel of one class present in the image, picked with probability proportional to
    ``1 / frequency``: small, rare classes (people, fences) are seen more often.
    """

    def __init__(self, crop: int, long_side: int, short_side: int,
                 scale_range: Tuple[float, float] = (0.5, 2.0), max_ratio: float = 0.75,
                 frequencies: np.ndarray = None, rare_share: float = 0.5):
        self.crop = crop
        self.long_side = long_side
        self.short_side = short_side
        self.scale_range = scale_range
        self.max_ratio = max_ratio
        self.frequencies = frequencies
        self.rare_share = rare_share if frequencies is not None else 0.0

    def _rare_crop(self, rng: np.random.Generator, lab: np.ndarray):
        """Top-left corner of a crop centred on a pixel of a rarely seen class, or None."""
        present = np.unique(lab)
        present = present[(present != IGNORE) & (self.frequencies[present] > 0)]
        if present.size == 0:
            return None
        weights = self.frequencies[present] ** -1.0
        cls = present[rng.choice(present.size, p=weights / weights.sum())]
        ys, xs = np.nonzero(lab == cls)
        k = rng.integers(ys.size)
        c = self.crop
        y = int(np.clip(ys[k] - c // 2 + rng.integers(-c // 4, c // 4 + 1), 0, lab.shape[0] - c))
        x = int(np.clip(xs[k] - c // 2 + rng.integers(-c // 4, c // 4 + 1), 0, lab.shape[1] - c))
        return y, x

    def __call__(self, rng: np.random.Generator, img: np.ndarray,
                 lab: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        h, w = lab.shape
        base = min(self.long_side / max(h, w), self.short_side / min(h, w))
        s = base * rng.uniform(*self.scale_range)
        nh, nw = max(int(h * s + 0.5), 8), max(int(w * s + 0.5), 8)
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
        lab = cv2.resize(lab, (nw, nh), interpolation=cv2.INTER_NEAREST)
        c = self.crop
        ph, pw = max(c - nh, 0), max(c - nw, 0)
        if ph or pw:
            img = cv2.copyMakeBorder(img, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=0)
            lab = cv2.copyMakeBorder(lab, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=IGNORE)
        corner = self._rare_crop(rng, lab) if rng.random() < self.rare_share else None
        if corner is not None:
            y, x = corner
        else:
            for _ in range(10):
                y = rng.integers(0, lab.shape[0] - c + 1)
                x = rng.integers(0, lab.shape[1] - c + 1)
                window = lab[y:y + c, x:x + c]
                counts = np.bincount(window[window != IGNORE].ravel(), minlength=1)
                if counts.sum() and counts.max() < self.max_ratio * counts.sum():
                    break
        img, lab = img[y:y + c, x:x + c], lab[y:y + c, x:x + c]
        if rng.random() < 0.5:
            img, lab = img[:, ::-1], lab[:, ::-1]
        img = self.photometric(rng, img.astype(np.float32))
        return img, np.ascontiguousarray(lab)

    @staticmethod
    def photometric(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
        if rng.random() < 0.5:
            img = img + rng.uniform(-32, 32)
        if rng.random() < 0.5:
            img = img * rng.uniform(0.5, 1.5)
        if rng.random() < 0.5:
            grey = img.mean(2, keepdims=True)
            img = grey + (img - grey) * rng.uniform(0.5, 1.5)
        return np.clip(img, 0, 255)


def make_batch(rng: np.random.Generator, data: Sequence[Tuple[np.ndarray, np.ndarray]],
               aug: Augmenter, batch: int, mean: Sequence[float],
               std: Sequence[float]) -> Tuple[Tensor, Tensor]:
    imgs, labs = [], []
    mean_a = np.asarray(mean, np.float32)
    std_a = np.asarray(std, np.float32)
    for _ in range(batch):
        img, lab = data[rng.integers(len(data))]
        img, lab = aug(rng, img, ade_to_train(lab))
        imgs.append(((img - mean_a) / std_a).transpose(2, 0, 1))
        labs.append(lab)
    return torch.from_numpy(np.stack(imgs)), torch.from_numpy(np.stack(labs))


def param_groups(model: torch.nn.Module, weight_decay: float) -> List[Dict]:
    """No weight decay on norms, biases, relative position tables and query embeddings."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if (p.dim() <= 1 or "norm" in name or "relative_position_bias_table" in name or
                "query_embed" in name):
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]
