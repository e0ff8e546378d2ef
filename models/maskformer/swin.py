# SPDX-License-Identifier: Apache-2.0
"""Swin Transformer backbone with sssegmentation's parameter layout.

Module and parameter names follow the checkpoints of the sssegmentation model zoo
(``backbone_net.patch_embed.projection``, ``stages.{i}.blocks.{j}.attn.w_msa.qkv``, ...), so a
zoo state dict loads without renaming. Two details matter for exactness:

* patch merging gathers each 2x2 neighbourhood in ``nn.Unfold`` order (channel-major, then the
  kernel position row-major), not in the order of the original Swin code;
* shifted-window attention masks cross-region pairs with -100 and the shift is applied even when
  a feature map is smaller than one window.

Everything is TorchScript-friendly and works for any input size: inputs are padded at the
bottom/right to multiples of 4 (patch embedding), of 2 (patch merging) and of the window size
(attention), exactly as the reference does.
"""
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def relative_position_index(window: int) -> Tensor:
    """(w*w, w*w) index into the (2w-1)^2 bias table for every pair of positions in a window."""
    ys, xs = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    coords = torch.stack((ys.flatten(), xs.flatten()))  # 2, N
    delta = coords[:, :, None] - coords[:, None, :]  # 2, N, N
    return (delta[0] + window - 1) * (2 * window - 1) + (delta[1] + window - 1)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside non-overlapping windows, with relative position bias."""

    def __init__(self, dim: int, num_heads: int, window: int):
        super().__init__()
        self.dim = dim
        self.num_heads = num_heads
        self.window = window
        self.scale = float((dim // num_heads) ** -0.5)
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(window))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, mask: Tensor, has_mask: bool) -> Tensor:
        # x: (windows*B, N, C); mask: (windows, N, N) additive, used when has_mask
        bw, n, c = x.shape
        heads = self.num_heads
        qkv = self.qkv(x).reshape(bw, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        attn = attn + bias.view(n, n, heads).permute(2, 0, 1).unsqueeze(0)
        if has_mask:
            nw = mask.shape[0]
            attn = attn.view(bw // nw, nw, heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(bw, heads, n, n)
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(bw, n, c)
        return self.proj(x)


class ShiftedWindowAttention(nn.Module):
    """Pads to whole windows, optionally rolls the map, attends per window, and undoes both."""

    def __init__(self, dim: int, num_heads: int, window: int, shift: int):
        super().__init__()
        self.window = window
        self.shift = shift
        self.w_msa = WindowAttention(dim, num_heads, window)

    def forward(self, x: Tensor, h: int, w: int, mask: Tensor) -> Tensor:
        b, _, c = x.shape
        ws = self.window
        x = x.view(b, h, w, c)
        pad_b = (ws - h % ws) % ws
        pad_r = (ws - w % ws) % ws
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        hp, wp = h + pad_b, w + pad_r
        if self.shift > 0:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        windows = x.view(b, hp // ws, ws, wp // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
        windows = windows.reshape(-1, ws * ws, c)
        out = self.w_msa(windows, mask, self.shift > 0)
        out = out.view(b, hp // ws, wp // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5)
        out = out.reshape(b, hp, wp, c)
        if self.shift > 0:
            out = torch.roll(out, shifts=(self.shift, self.shift), dims=(1, 2))
        out = out[:, :h, :w, :].reshape(b, h * w, c)
        return out


class Mlp(nn.Module):
    """Linear-GELU-Linear; parameter names ``layers.0.0`` and ``layers.1`` as in the zoo."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Sequential(nn.Linear(dim, hidden), nn.GELU()),
            nn.Linear(hidden, dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class DropPath(nn.Module):
    """Stochastic depth for training; the identity in eval mode and in exports."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        noise = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)
        return x * noise.bernoulli_(keep) / keep


class SwinBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, window: int, shift: int, mlp_ratio: float,
                 drop_path: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = ShiftedWindowAttention(dim, num_heads, window, shift)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = Mlp(dim, int(mlp_ratio * dim))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor, h: int, w: int, mask: Tensor) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), h, w, mask))
        return x + self.drop_path(self.ffn(self.norm2(x)))


class PatchMerging(nn.Module):
    """2x2 neighbourhoods to one token: pad to even, gather in unfold order, LayerNorm, Linear."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: Tensor, h: int, w: int) -> Tuple[Tensor, int, int]:
        b, _, c = x.shape
        x = x.view(b, h, w, c).permute(0, 3, 1, 2)
        x = F.pad(x, (0, w % 2, 0, h % 2))
        h2, w2 = (h + 1) // 2, (w + 1) // 2
        # (b, c, h2, ky, w2, kx) -> (b, h2, w2, c, ky, kx): the feature order of nn.Unfold(2, 2)
        x = x.reshape(b, c, h2, 2, w2, 2).permute(0, 2, 4, 1, 3, 5).reshape(b, h2 * w2, 4 * c)
        return self.reduction(self.norm(x)), h2, w2


class SwinStage(nn.Module):
    def __init__(self, dim: int, depth: int, num_heads: int, window: int, mlp_ratio: float,
                 drop_paths: List[float], downsample: bool):
        super().__init__()
        self.window = window
        self.shift = window // 2
        self.blocks = nn.ModuleList([
            SwinBlock(dim, num_heads, window, 0 if i % 2 == 0 else window // 2, mlp_ratio,
                      drop_paths[i])
            for i in range(depth)
        ])
        self.downsample = PatchMerging(dim) if downsample else None

    def shift_mask(self, h: int, w: int, device: torch.device) -> Tensor:
        """Additive (windows, N, N) mask: 0 within one region of the rolled map, -100 across."""
        ws, s = self.window, self.shift
        hp = h + (ws - h % ws) % ws
        wp = w + (ws - w % ws) % ws
        rows = torch.arange(hp, device=device)
        cols = torch.arange(wp, device=device)
        row_region = (rows >= hp - ws).to(torch.int64) + (rows >= hp - s).to(torch.int64)
        col_region = (cols >= wp - ws).to(torch.int64) + (cols >= wp - s).to(torch.int64)
        region = row_region[:, None] * 3 + col_region[None, :]
        region = region.view(hp // ws, ws, wp // ws, ws).permute(0, 2, 1, 3).reshape(-1, ws * ws)
        diff = region[:, None, :] - region[:, :, None]
        zero = torch.zeros(diff.shape, dtype=torch.float32, device=device)
        return zero.masked_fill(diff != 0, -100.0)

    def forward(self, x: Tensor, h: int, w: int) -> Tuple[Tensor, Tensor, int, int]:
        """Returns (stage output, input of the next stage, its height, its width)."""
        mask = self.shift_mask(h, w, x.device).to(x.dtype)
        for block in self.blocks:
            x = block(x, h, w, mask)
        if self.downsample is not None:
            down, h2, w2 = self.downsample(x, h, w)
            return x, down, h2, w2
        return x, x, h, w


class PatchEmbed(nn.Module):
    def __init__(self, in_channels: int, dim: int, patch: int):
        super().__init__()
        self.patch = patch
        self.projection = nn.Conv2d(in_channels, dim, kernel_size=patch, stride=patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tuple[Tensor, int, int]:
        p = self.patch
        h, w = x.shape[2], x.shape[3]
        x = F.pad(x, (0, (p - w % p) % p, 0, (p - h % p) % p))
        x = self.projection(x)
        hh, ww = x.shape[2], x.shape[3]
        return self.norm(x.flatten(2).transpose(1, 2)), hh, ww


class SwinBackbone(nn.Module):
    """Four stages; returns the normalised NCHW feature maps at strides 4, 8, 16 and 32."""

    def __init__(self, embed_dim: int = 96, depths: Tuple[int, ...] = (2, 2, 6, 2),
                 num_heads: Tuple[int, ...] = (3, 6, 12, 24), window: int = 7, patch: int = 4,
                 mlp_ratio: float = 4.0, drop_path_rate: float = 0.0, in_channels: int = 3):
        super().__init__()
        self.patch_embed = PatchEmbed(in_channels, embed_dim, patch)
        total = sum(depths)
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        self.num_features = [embed_dim * 2 ** i for i in range(len(depths))]
        stages = []
        start = 0
        for i, depth in enumerate(depths):
            stages.append(SwinStage(self.num_features[i], depth, num_heads[i], window, mlp_ratio,
                                    rates[start:start + depth], i < len(depths) - 1))
            start += depth
        self.stages = nn.ModuleList(stages)
        # one LayerNorm per output, registered as norm0..norm3 like the zoo checkpoints
        assert len(depths) == 4, "Swin has four stages"
        self.norm0 = nn.LayerNorm(self.num_features[0])
        self.norm1 = nn.LayerNorm(self.num_features[1])
        self.norm2 = nn.LayerNorm(self.num_features[2])
        self.norm3 = nn.LayerNorm(self.num_features[3])

    def forward(self, x: Tensor) -> List[Tensor]:
        x, h, w = self.patch_embed(x)
        outs: List[Tensor] = []
        b = x.shape[0]
        for i, stage in enumerate(self.stages):
            out, x, h2, w2 = stage(x, h, w)
            if i == 0:
                out = self.norm0(out)
            elif i == 1:
                out = self.norm1(out)
            elif i == 2:
                out = self.norm2(out)
            else:
                out = self.norm3(out)
            outs.append(out.view(b, h, w, -1).permute(0, 3, 1, 2).contiguous())
            h, w = h2, w2
        return outs
