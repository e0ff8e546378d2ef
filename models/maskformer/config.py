# SPDX-License-Identifier: Apache-2.0
"""Hyper-parameters of the MaskFormer variants we build, export and test."""
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Tuple

# sssegmentation's ADE20k test pipeline: RGB, 0..255 values, per-channel mean and std.
ADE_MEAN = (123.675, 116.28, 103.53)
ADE_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class MaskFormerConfig:
    # Swin backbone
    embed_dim: int = 96
    depths: Tuple[int, ...] = (2, 2, 6, 2)
    num_heads: Tuple[int, ...] = (3, 6, 12, 24)
    window_size: int = 7
    patch_size: int = 4
    mlp_ratio: float = 4.0
    drop_path_rate: float = 0.3
    # pixel decoder
    feats_channels: int = 512
    mask_feats_channels: int = 256
    pool_scales: Tuple[int, ...] = (1, 2, 3, 6)
    # transformer predictor
    num_classes: int = 150
    hidden_dim: int = 256
    num_queries: int = 100
    nheads: int = 8
    dim_feedforward: int = 2048
    dec_layers: int = 6
    dropout: float = 0.1
    # test-time pipeline: keep-ratio resize so that long side <= resize_long, short <= resize_short
    resize_long: int = 2048
    resize_short: int = 512
    mean: Tuple[float, ...] = ADE_MEAN
    std: Tuple[float, ...] = ADE_STD
    extra: Dict[str, Any] = field(default_factory=dict)

    def replace(self, **changes: Any) -> "MaskFormerConfig":
        return dataclasses.replace(self, **changes)

    def architecture(self) -> Dict[str, Any]:
        """The fields that shape the network, as JSON-friendly values (stored in the export)."""
        keys = ["embed_dim", "depths", "num_heads", "window_size", "patch_size", "mlp_ratio",
                "feats_channels", "mask_feats_channels", "pool_scales", "num_classes",
                "hidden_dim", "num_queries", "nheads", "dim_feedforward", "dec_layers"]
        out = {}
        for k in keys:
            v = getattr(self, k)
            out[k] = list(v) if isinstance(v, tuple) else v
        return out


VARIANTS: Dict[str, MaskFormerConfig] = {
    # the three ADE20k-150 models of the sssegmentation zoo
    "swin-tiny": MaskFormerConfig(),
    "swin-small": MaskFormerConfig(depths=(2, 2, 18, 2)),
    "swin-base": MaskFormerConfig(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32),
                                  window_size=12, resize_long=2560, resize_short=640),
    # same architecture, small enough to export and run in CI in seconds
    "test-tiny": MaskFormerConfig(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4),
                                  window_size=7, feats_channels=32, mask_feats_channels=32,
                                  hidden_dim=32, num_queries=12, nheads=4, dim_feedforward=64,
                                  dec_layers=2, resize_long=512, resize_short=128),
    # the bundled demo model trained by models/train.py on generated scenes; its test size (short
    # side 288) was chosen on the validation split after training (docs/models.md, "The demo model")
    "demo": MaskFormerConfig(embed_dim=32, depths=(2, 2, 4, 2), num_heads=(1, 2, 4, 8),
                             window_size=7, drop_path_rate=0.05, dropout=0.0, feats_channels=96,
                             mask_feats_channels=64, hidden_dim=96, num_queries=24, nheads=4,
                             dim_feedforward=384, dec_layers=3, resize_long=1152,
                             resize_short=288),
}

# how the zoo names its checkpoints, for messages and the README
ZOO_FILES = {
    "swin-tiny": "maskformer_swintiny_ade20k.pth",
    "swin-small": "maskformer_swinsmall_ade20k.pth",
    "swin-base": "maskformer_swinbase_ade20k.pth",
}
