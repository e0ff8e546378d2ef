# SPDX-License-Identifier: Apache-2.0
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory):
    from maskformer import export as exporter
    from maskformer.config import VARIANTS
    from maskformer.network import MaskFormer
    path = str(tmp_path_factory.mktemp("export") / "tiny.pt")
    torch.manual_seed(0)
    cfg = VARIANTS["test-tiny"]
    model = MaskFormer(cfg).eval()
    exporter.export(model, cfg, "test-tiny", path, source="test.pth", source_sha256="ab" * 32,
                    log=lambda *_: None)
    return path, model
