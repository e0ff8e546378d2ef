# SPDX-License-Identifier: Apache-2.0
"""The whole MaskFormer: Swin backbone, UPerNet-style pixel decoder, transformer predictor.

Attribute names are those of sssegmentation's segmentor (``backbone_net``, ``ppm_net``,
``lateral_convs``, ``fpn_convs``, ``decoder_mask``, ``decoder_predictor``), so its checkpoints'
state dicts load into this module directly (see convert.py).

``forward`` is the exported network: normalised RGB images in, per-query class logits and mask
logits (at stride 4, i.e. ceil(H/4) x ceil(W/4)) out. The semantic post-processing lives in
``reference.py`` (Python) and in the C++ shim (Java), so that the exported file stays the network
alone and any caller can choose what to compute from its outputs.
"""
from typing import List, Tuple

import torch
from torch import Tensor, nn

from .config import MaskFormerConfig
from .head import Predictor, build_pixel_decoder, resize
from .swin import SwinBackbone


class MaskFormer(nn.Module):
    def __init__(self, cfg: MaskFormerConfig):
        super().__init__()
        self.num_classes = cfg.num_classes
        self.backbone_net = SwinBackbone(cfg.embed_dim, tuple(cfg.depths), tuple(cfg.num_heads),
                                         cfg.window_size, cfg.patch_size, cfg.mlp_ratio,
                                         cfg.drop_path_rate)
        channels = self.backbone_net.num_features
        self.ppm_net, self.lateral_convs, self.fpn_convs, self.decoder_mask = build_pixel_decoder(
            channels, cfg.feats_channels, cfg.mask_feats_channels, tuple(cfg.pool_scales))
        self.decoder_predictor = Predictor(channels[-1], cfg.num_classes, cfg.hidden_dim,
                                           cfg.num_queries, cfg.nheads, cfg.dim_feedforward,
                                           cfg.dec_layers, cfg.mask_feats_channels, cfg.dropout)

    def features(self, images: Tensor) -> Tuple[Tensor, Tensor]:
        """(stride-32 backbone map, stride-4 mask features)."""
        c2, c3, c4, c5 = self.backbone_net(images)
        laterals: List[Tensor] = []
        for i, conv in enumerate(self.lateral_convs):
            laterals.append(conv([c2, c3, c4][i]))
        f = self.ppm_net(c5)
        # top-down: stride 32 -> 16 -> 8 -> 4, each step upsample, add, 3x3 conv
        for i, conv in enumerate(self.fpn_convs):
            lateral = laterals[len(laterals) - 1 - i]
            f = conv(resize(f, [lateral.shape[2], lateral.shape[3]]) + lateral)
        return c5, self.decoder_mask(f)

    def forward(self, images: Tensor) -> Tuple[Tensor, Tensor]:
        """images (B, 3, H, W) -> pred_logits (B, Q, K+1), pred_masks (B, Q, ceil(H/4), ceil(W/4))."""
        c5, mask_features = self.features(images)
        logits, masks = self.decoder_predictor(c5, mask_features, False)
        return logits[0], masks[0]

    @torch.jit.unused
    def forward_all_layers(self, images: Tensor) -> Tuple[Tensor, Tensor]:
        """For training with deep supervision: (L, B, Q, K+1) and (L, B, Q, h, w), L = decoder layers."""
        c5, mask_features = self.features(images)
        return self.decoder_predictor(c5, mask_features, True)


def build(cfg: MaskFormerConfig) -> MaskFormer:
    return MaskFormer(cfg)
