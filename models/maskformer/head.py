# SPDX-License-Identifier: Apache-2.0
"""MaskFormer head as the sssegmentation zoo builds it.

* Pixel decoder: pyramid pooling on the stride-32 map, 1x1 laterals on the other three, a
  bilinear top-down path with 3x3 convs (all Conv-BN-ReLU), and a 3x3 conv to the mask features.
* Transformer predictor: DETR decoder (post-norm) over the *backbone's* stride-32 map projected by
  a 1x1 conv, sine positions, learned queries, a K+1 class head and a 3-layer mask MLP.

Attention is written out with plain linear algebra instead of ``nn.MultiheadAttention``: the
parameters keep that module's names and layout (``in_proj_weight`` holds [Wq; Wk; Wv]) so zoo
weights load as they are, while the exported TorchScript stays free of version-specific fast
paths, which keeps exports from torch 1.13 loadable and fast in LibTorch 2.x.
"""
import math
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def conv_bn_relu(cin: int, cout: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def resize(x: Tensor, size: List[int]) -> Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class PyramidPooling(nn.Module):
    """PSPNet pooling: branches at several bin counts, concatenated as [x, s1, s2, ...]."""

    def __init__(self, cin: int, cout: int, scales: Tuple[int, ...] = (1, 2, 3, 6)):
        super().__init__()
        self.branches = nn.ModuleList([
            nn.Sequential(nn.AdaptiveAvgPool2d(s), nn.Conv2d(cin, cout, 1, bias=False),
                          nn.BatchNorm2d(cout), nn.ReLU(inplace=True))
            for s in scales
        ])
        self.bottleneck = conv_bn_relu(cin + len(scales) * cout, cout, 3)

    def forward(self, x: Tensor) -> Tensor:
        size = [x.shape[2], x.shape[3]]
        levels = [x]
        for branch in self.branches:
            levels.append(resize(branch(x), size))
        return self.bottleneck(torch.cat(levels, dim=1))


class MultiheadAttention(nn.Module):
    """Same parameters and math as ``nn.MultiheadAttention`` (no masks), batch-first tensors."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.dim = dim
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, query: Tensor, key: Tensor, value: Tensor) -> Tensor:
        b, lq, e = query.shape
        lk = key.shape[1]
        h = self.heads
        d = e // h
        w = self.in_proj_weight
        bias = self.in_proj_bias
        q = F.linear(query, w[:e], bias[:e])
        k = F.linear(key, w[e:2 * e], bias[e:2 * e])
        v = F.linear(value, w[2 * e:], bias[2 * e:])
        q = q.view(b, lq, h, d).transpose(1, 2) * (1.0 / math.sqrt(d))
        k = k.view(b, lk, h, d).transpose(1, 2)
        v = v.view(b, lk, h, d).transpose(1, 2)
        attn = self.dropout(torch.softmax(q @ k.transpose(-2, -1), dim=-1))
        out = (attn @ v).transpose(1, 2).reshape(b, lq, e)
        return self.out_proj(out)


class DecoderLayer(nn.Module):
    """DETR decoder layer, post-norm: self-attention, cross-attention, feed-forward."""

    def __init__(self, dim: int, heads: int, ffn: int, dropout: float):
        super().__init__()
        self.self_attn = MultiheadAttention(dim, heads, dropout)
        self.multihead_attn = MultiheadAttention(dim, heads, dropout)
        self.linear1 = nn.Linear(dim, ffn)
        self.linear2 = nn.Linear(ffn, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(self, tgt: Tensor, memory: Tensor, pos: Tensor, query_pos: Tensor) -> Tensor:
        q = tgt + query_pos
        tgt = self.norm1(tgt + self.dropout1(self.self_attn(q, q, tgt)))
        attended = self.multihead_attn(tgt + query_pos, memory + pos, memory)
        tgt = self.norm2(tgt + self.dropout2(attended))
        ffn = self.linear2(self.dropout(F.relu(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout3(ffn))


class Decoder(nn.Module):
    def __init__(self, dim: int, heads: int, ffn: int, num_layers: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList([DecoderLayer(dim, heads, ffn, dropout)
                                     for _ in range(num_layers)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, tgt: Tensor, memory: Tensor, pos: Tensor, query_pos: Tensor,
                all_layers: bool) -> Tensor:
        """(layers or 1, B, Q, dim): the shared final norm applied to each requested layer."""
        outputs: List[Tensor] = []
        for layer in self.layers:
            tgt = layer(tgt, memory, pos, query_pos)
            if all_layers:
                outputs.append(self.norm(tgt))
        if not all_layers:
            outputs.append(self.norm(tgt))
        return torch.stack(outputs)


class Transformer(nn.Module):
    """Holds the decoder under the zoo's ``transformer.decoder`` name (the encoder has 0 layers)."""

    def __init__(self, dim: int, heads: int, ffn: int, num_layers: int, dropout: float):
        super().__init__()
        self.decoder = Decoder(dim, heads, ffn, num_layers, dropout)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)


def sine_positions(h: int, w: int, dim: int, device: torch.device) -> Tensor:
    """DETR's normalised sine encoding of an unmasked (h, w) grid as (1, h*w, dim), [y, x] halves.

    The operations and their order are those of the reference, so the values agree to the bit.
    """
    feats = dim // 2
    y = torch.arange(1, h + 1, dtype=torch.float32, device=device)
    x = torch.arange(1, w + 1, dtype=torch.float32, device=device)
    y = y / (y[-1:] + 1e-6) * (2 * math.pi)
    x = x / (x[-1:] + 1e-6) * (2 * math.pi)
    dim_t = torch.arange(feats, dtype=torch.float32, device=device)
    dim_t = 10000.0 ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / feats)
    py = y[:, None] / dim_t  # h, feats
    px = x[:, None] / dim_t  # w, feats
    py = torch.stack((py[:, 0::2].sin(), py[:, 1::2].cos()), dim=2).flatten(1)
    px = torch.stack((px[:, 0::2].sin(), px[:, 1::2].cos()), dim=2).flatten(1)
    pos = torch.cat((py[:, None, :].expand(h, w, feats), px[None, :, :].expand(h, w, feats)), 2)
    return pos.reshape(1, h * w, dim)


class MaskMlp(nn.Module):
    def __init__(self, dim: int, out_dim: int, num_layers: int = 3):
        super().__init__()
        dims = [dim] * (num_layers - 1)
        self.layers = nn.ModuleList([nn.Linear(i, o)
                                     for i, o in zip([dim] + dims, dims + [out_dim])])

    def forward(self, x: Tensor) -> Tensor:
        n = len(self.layers)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < n - 1:
                x = F.relu(x)
        return x


class Predictor(nn.Module):
    """Queries attend to the projected stride-32 backbone map; returns class and mask logits."""

    def __init__(self, in_channels: int, num_classes: int, hidden: int = 256,
                 num_queries: int = 100, heads: int = 8, ffn: int = 2048, dec_layers: int = 6,
                 mask_dim: int = 256, dropout: float = 0.1):
        super().__init__()
        self.hidden = hidden
        self.transformer = Transformer(hidden, heads, ffn, dec_layers, dropout)
        self.query_embed = nn.Embedding(num_queries, hidden)
        self.input_proj = nn.Conv2d(in_channels, hidden, 1)
        nn.init.kaiming_uniform_(self.input_proj.weight, a=1)
        nn.init.zeros_(self.input_proj.bias)
        self.class_embed = nn.Linear(hidden, num_classes + 1)
        self.mask_embed = MaskMlp(hidden, mask_dim, 3)

    def forward(self, c5: Tensor, mask_features: Tensor, all_layers: bool) -> Tuple[Tensor, Tensor]:
        b, _, h, w = c5.shape
        memory = self.input_proj(c5).flatten(2).transpose(1, 2)  # B, HW, hidden
        pos = sine_positions(h, w, self.hidden, c5.device).to(memory.dtype)
        query_pos = self.query_embed.weight.unsqueeze(0).expand(b, -1, -1)
        tgt = torch.zeros_like(query_pos)
        hs = self.transformer.decoder(tgt, memory, pos, query_pos, all_layers)  # L, B, Q, hidden
        logits = self.class_embed(hs)
        embed = self.mask_embed(hs)  # L, B, Q, mask_dim
        layers, _, q, c = embed.shape
        mh, mw = mask_features.shape[2], mask_features.shape[3]
        feats = mask_features.flatten(2)  # B, C, HW
        masks = torch.matmul(embed, feats.unsqueeze(0))  # L, B, Q, HW
        return logits, masks.view(layers, b, q, mh, mw)


def build_pixel_decoder(in_channels: List[int], feats: int, mask_feats: int,
                        pool_scales: Tuple[int, ...]) -> Tuple[nn.Module, nn.ModuleList,
                                                               nn.ModuleList, nn.Sequential]:
    """The pixel decoder's four parts; the zoo registers them at the top level of the model."""
    ppm = PyramidPooling(in_channels[-1], feats, pool_scales)
    laterals = nn.ModuleList([conv_bn_relu(c, feats, 1) for c in in_channels[:-1]])
    fpn = nn.ModuleList([conv_bn_relu(feats, feats, 3) for _ in in_channels[:-1]])
    mask = nn.Sequential(nn.Conv2d(feats, mask_feats, 3, padding=1))
    return ppm, laterals, fpn, mask
