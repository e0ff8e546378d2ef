# SPDX-License-Identifier: Apache-2.0
"""The reference pipeline, and our model of OpenCV's resize that the C++ shim implements."""
import cv2
import numpy as np
import pytest
import torch

from maskformer.reference import (opencv_linear_resize, preprocess, segment, semantic_scores,
                                  target_size)


@pytest.mark.parametrize("hw,expected", [
    ((512, 683), (512, 683)),    # already fits: no change
    ((333, 517), (512, 795)),    # short side up to 512
    ((256, 256), (512, 512)),
    ((1080, 1920), (512, 910)),  # a 1080p frame
    ((100, 2000), (102, 2048)),  # long side limits
])
def test_keep_ratio_rule(hw, expected):
    assert target_size(*hw, 2048, 512) == expected


def test_opencv_resize_model_is_bit_exact():
    rng = np.random.default_rng(0)
    cases = [(61, 97, 128, 203), (1080, 1920, 512, 910), (333, 517, 512, 795), (1024, 1366, 512, 683),
             (512, 683, 512, 683), (7, 5, 300, 211), (480, 640, 128, 171)]
    for _ in range(40):
        h, w = rng.integers(4, 400, 2)
        oh, ow = rng.integers(4, 700, 2)
        cases.append((int(h), int(w), int(oh), int(ow)))
    for h, w, oh, ow in cases:
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        if rng.random() < 0.5:
            img = cv2.GaussianBlur(img, (5, 5), 1.5)
        ours = opencv_linear_resize(img, oh, ow)
        ref = cv2.resize(img, (ow, oh), interpolation=cv2.INTER_LINEAR)
        assert np.array_equal(ours, ref), (h, w, oh, ow, int((ours != ref).sum()))


def test_preprocess_normalises_rgb():
    meta = {"resize": {"long_side": 2048, "short_side": 512},
            "input": {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375]}}
    bgr = np.zeros((512, 600, 3), np.uint8)
    bgr[..., 0] = 10   # blue
    bgr[..., 2] = 200  # red
    x = preprocess(bgr, meta)
    assert x.shape == (1, 3, 512, 600)
    assert abs(x[0, 0, 0, 0].item() - (200 - 123.675) / 58.395) < 1e-5  # R first
    assert abs(x[0, 2, 0, 0].item() - (10 - 103.53) / 57.375) < 1e-5


def test_semantic_scores_follow_maskformer():
    logits = torch.randn(1, 4, 3 + 1)
    masks = torch.randn(1, 4, 5, 6)
    scores = semantic_scores(logits, masks, (10, 12))
    probs = logits.softmax(-1)[0, :, :3]
    up = torch.nn.functional.interpolate(masks, size=(10, 12), mode="bilinear",
                                         align_corners=False)[0].sigmoid()
    expected = torch.einsum("qc,qhw->chw", probs, up)
    assert torch.allclose(scores[0], expected, atol=1e-6)


def test_segment_returns_labels_at_the_original_size(tiny_export):
    path, _ = tiny_export
    from maskformer.export import read_metadata
    meta = read_metadata(path)
    module = torch.jit.load(path)
    bgr = np.random.default_rng(1).integers(0, 256, (61, 97, 3), dtype=np.uint8)
    labels, scores = segment(module, bgr, meta)
    assert labels.shape == (61, 97)
    assert scores.shape == (150, 61, 97)
    assert np.array_equal(labels, scores.argmax(0).numpy())
