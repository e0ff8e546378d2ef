# SPDX-License-Identifier: Apache-2.0
"""MaskFormer's training objective: matching and losses."""
import numpy as np
import pytest
import torch

from maskformer import training
from maskformer.config import VARIANTS
from maskformer.network import MaskFormer


def test_hungarian_matching_finds_the_obvious_assignment():
    # query 2 predicts class 1 with mask A, query 0 predicts class 3 with mask B
    masks_true = torch.zeros(2, 8, 8)
    masks_true[0, :4] = 1
    masks_true[1, 4:] = 1
    logits = torch.full((4, 5), -5.0)
    logits[2, 1] = 5
    logits[0, 3] = 5
    pred = torch.full((4, 8, 8), -5.0)
    pred[2][masks_true[0] > 0] = 5
    pred[0][masks_true[1] > 0] = 5
    rows, cols = training.hungarian_match(logits, pred, torch.tensor([1, 3]), masks_true)
    assert dict(zip(rows.tolist(), cols.tolist())) == {2: 0, 0: 1}


def test_targets_skip_ignored_pixels():
    lab = torch.tensor([[[0, 0, 255], [4, 4, 255]]], dtype=torch.uint8)
    t = training.targets_from_labels(lab)[0]
    assert t["labels"].tolist() == [0, 4]
    assert t["masks"].shape == (2, 2, 3)
    assert t["masks"][1].tolist() == [[False, False, False], [True, True, False]]


def test_loss_goes_down_on_one_batch():
    torch.manual_seed(0)
    cfg = VARIANTS["test-tiny"]
    model = MaskFormer(cfg).train()
    opt = torch.optim.AdamW(training.param_groups(model, 0.01), lr=1e-3)
    x = torch.randn(2, 3, 64, 64)
    lab = torch.zeros(2, 64, 64, dtype=torch.uint8)
    lab[:, :32] = 2
    lab[:, 32:] = 6
    targets = training.targets_from_labels(lab)
    losses = []
    for _ in range(25):
        logits, masks = model.forward_all_layers(x)
        loss, _ = training.total_loss(logits, masks, targets, cfg.num_classes)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.6 * losses[0], losses


def test_augmenter_keeps_images_and_labels_aligned():
    rng = np.random.default_rng(0)
    img = np.zeros((100, 150, 3), np.uint8)
    lab = np.zeros((100, 150), np.uint8)
    img[:, 75:] = 255
    lab[:, 75:] = 3
    aug = training.Augmenter(64, 1024, 128, (0.8, 1.2))
    for _ in range(10):
        a, b = aug(rng, img, lab)
        assert a.shape == (64, 64, 3) and b.shape == (64, 64)
        bright = a.mean(2) > a.mean()
        assert ((b == 3) == bright).mean() > 0.9 or len(np.unique(b)) == 1


def test_rare_crops_centre_on_rare_classes():
    # a large class 0 with a small square of class 7 in one corner: plain crops rarely see class 7,
    # rare-class crops (all of them here) always do, aligned with the image
    img = np.zeros((200, 200, 3), np.uint8)
    lab = np.ones((200, 200), np.uint8)  # ADE id 1 -> training label 0
    img[170:190, 10:30] = 255
    lab[170:190, 10:30] = 8  # ADE id 8 -> training label 7
    data = [(img, lab)]
    freq = training.class_frequencies(data)
    assert freq[0] == pytest.approx(1 - 400 / 40000) and freq[7] == pytest.approx(400 / 40000)
    rng = np.random.default_rng(0)
    rare = training.Augmenter(64, 1024, 200, (1.0, 1.0), frequencies=freq, rare_share=1.0)
    plain = training.Augmenter(64, 1024, 200, (1.0, 1.0))
    hits_rare = hits_plain = 0
    for _ in range(40):
        a, b = rare(rng, img, training.ade_to_train(lab))
        hits_rare += (b == 7).any()
        assert ((b == 7) == (a.mean(2) > a.mean())).mean() > 0.9 or not (b == 7).any()
        hits_plain += (plain(rng, img, training.ade_to_train(lab))[1] == 7).any()
    assert hits_rare >= 38 and hits_plain < hits_rare
