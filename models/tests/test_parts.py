# SPDX-License-Identifier: Apache-2.0
"""Each building block against an independent formulation of what sssegmentation does."""
import math

import torch
import torch.nn.functional as F

from maskformer.head import MultiheadAttention, sine_positions
from maskformer.swin import PatchMerging, SwinStage, relative_position_index


def test_relative_position_index_matches_the_reference_formula():
    # sssegmentation builds it from two stepped sequences added and flipped
    for w in (7, 12):
        seq1 = torch.arange(0, (2 * w - 1) * w, 2 * w - 1)
        seq2 = torch.arange(0, w, 1)
        coords = (seq1[:, None] + seq2[None, :]).reshape(1, -1)
        expected = (coords + coords.T).flip(1)
        assert torch.equal(relative_position_index(w), expected)


def test_patch_merging_uses_unfold_order():
    merge = PatchMerging(5)
    x = torch.randn(2, 7 * 9, 5)
    with torch.no_grad():
        merge.reduction.weight.copy_(torch.eye(10, 20))
        nn_norm = merge.norm
        nn_norm.weight.fill_(1)
        nn_norm.bias.zero_()
        out, h, w = merge(x, 7, 9)
    assert (h, w) == (4, 5)
    grid = x.view(2, 7, 9, 5).permute(0, 3, 1, 2)
    grid = F.pad(grid, (0, 1, 0, 1))
    unfolded = F.unfold(grid, kernel_size=2, stride=2).transpose(1, 2)  # B, L, 4C
    expected = F.layer_norm(unfolded, (20,))[..., :10]
    assert (out - expected).abs().max() < 1e-5


def test_shift_mask_matches_slice_construction():
    for ws, h, w in ((7, 14, 21), (7, 5, 9), (12, 30, 17)):
        stage = SwinStage(8, 2, 2, ws, 4.0, [0.0, 0.0], False)
        mask = stage.shift_mask(h, w, torch.device("cpu"))
        s = ws // 2
        hp, wp = h + (ws - h % ws) % ws, w + (ws - w % ws) % ws
        img = torch.zeros(1, hp, wp, 1)
        cnt = 0
        for hs in (slice(0, -ws), slice(-ws, -s), slice(-s, None)):
            for wsl in (slice(0, -ws), slice(-ws, -s), slice(-s, None)):
                img[:, hs, wsl, :] = cnt
                cnt += 1
        win = img.view(1, hp // ws, ws, wp // ws, ws, 1).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws)
        expected = win.unsqueeze(1) - win.unsqueeze(2)
        expected = expected.masked_fill(expected != 0, -100.0).masked_fill(expected == 0, 0.0)
        assert torch.equal(mask, expected)


def test_sine_positions_match_detr():
    h, w, dim = 5, 7, 256
    got = sine_positions(h, w, dim, torch.device("cpu"))
    not_mask = torch.ones(1, h, w)
    y = not_mask.cumsum(1)
    x = not_mask.cumsum(2)
    y = y / (y[:, -1:, :] + 1e-6) * 2 * math.pi
    x = x / (x[:, :, -1:] + 1e-6) * 2 * math.pi
    t = torch.arange(128, dtype=torch.float32)
    t = 10000 ** (2 * (t // 2) / 128)
    px = x[:, :, :, None] / t
    py = y[:, :, :, None] / t
    px = torch.stack((px[..., 0::2].sin(), px[..., 1::2].cos()), dim=4).flatten(3)
    py = torch.stack((py[..., 0::2].sin(), py[..., 1::2].cos()), dim=4).flatten(3)
    expected = torch.cat((py, px), dim=3).permute(0, 3, 1, 2)  # 1, 256, h, w
    assert torch.equal(got, expected.flatten(2).transpose(1, 2))


def test_attention_matches_torch_multihead_attention():
    ours = MultiheadAttention(32, 4).eval()
    ref = torch.nn.MultiheadAttention(32, 4).eval()
    ref.load_state_dict(ours.state_dict())
    q, k, v = torch.randn(3, 10, 32), torch.randn(3, 17, 32), torch.randn(3, 17, 32)
    with torch.no_grad():
        a = ours(q, k, v)
        b = ref(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1))[0].transpose(0, 1)
    assert (a - b).abs().max() < 1e-5
