# SPDX-License-Identifier: Apache-2.0
"""models/flops.py: the FLOP count `bench` divides by, on a real export."""
import pytest
import torch

from maskformer import export as exporter
from maskformer.config import VARIANTS
from maskformer.network import MaskFormer

import flops


def test_flops_scale_with_batch_and_area(tmp_path):
    pytest.importorskip("torch.utils.flop_counter", reason="torch without FlopCounterMode (older than 2.1)")
    torch.manual_seed(0)
    cfg = VARIANTS["test-tiny"]
    path = str(tmp_path / "tiny.pt")
    exporter.export(MaskFormer(cfg).eval(), cfg, "test-tiny", path, check=False, log=lambda *_: None)
    one = flops.forward_flops(path, 64, 64)
    assert one > 1e6
    assert flops.forward_flops(path, 64, 64, batch=2) == 2 * one
    assert flops.forward_flops(path, 128, 128) > 2 * one  # 4x the pixels; the query decoder does not grow
