# SPDX-License-Identifier: Apache-2.0
"""ONNX files made by models/export.py --format onnx (for bench --compare-onnxruntime) compute
what the TorchScript export of the same weights computes, under ONNX Runtime."""
import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

import export as export_cli  # noqa: E402
from maskformer import aoti, onnx_export  # noqa: E402
from maskformer import export as exporter  # noqa: E402

SIZE = (96, 128)  # (h, w)


@pytest.fixture(scope="session")
def tiny_onnx(tiny_export, tmp_path_factory):
    path, _ = tiny_export
    out = str(tmp_path_factory.mktemp("onnx") / "tiny.onnx")
    assert export_cli.main(["--torchscript", path, "--format", "onnx", "--sizes",
                            f"{SIZE[1]}x{SIZE[0]}", "--out", out]) == 0
    return out


def test_onnx_runtime_matches_torchscript(tiny_export, tiny_onnx):
    path, _ = tiny_export
    script = torch.jit.load(path, map_location="cpu").eval()
    session = onnx_export.session(tiny_onnx, threads=1)
    x = torch.randn(1, 3, *SIZE, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = script(x)
    got = session.run(None, {"images": x.numpy()})
    for g, e in zip(got, expected):
        assert g.shape == tuple(e.shape)
        assert np.abs(g - e.numpy()).max() <= 1e-4


def test_onnx_file_keeps_the_metadata(tiny_export, tiny_onnx):
    meta = onnx_export.read_metadata(tiny_onnx)
    script_meta = exporter.read_metadata(tiny_export[0])
    assert meta["onnx"]["height"] == SIZE[0] and meta["onnx"]["width"] == SIZE[1]
    assert meta["onnx"]["opset"] == onnx_export.OPSET
    assert {k: v for k, v in meta.items() if k not in ("onnx", "exported_with")} == \
        {k: v for k, v in script_meta.items() if k != "exported_with"}


def test_one_size_only(tiny_export, tmp_path):
    path, _ = tiny_export
    out = str(tmp_path / "two.onnx")
    assert export_cli.main(["--torchscript", path, "--format", "onnx", "--sizes", "128x96,64x64",
                            "--out", out]) == 2
    with pytest.raises(onnx_export.ExportError, match="one network input size"):
        onnx_export.parse_size("128x96,64x64")
    with pytest.raises(onnx_export.ExportError, match="ONNX export"):
        onnx_export.parse_size("")
    model, meta = aoti.from_torchscript(path)
    with pytest.raises(onnx_export.ExportError, match=r"\.onnx"):
        onnx_export.export_onnx(model, meta, str(tmp_path / "x.bin"), SIZE)
