# SPDX-License-Identifier: Apache-2.0
"""AOTInductor packages (.pt2) compute what the TorchScript export of the same weights computes,
carry the same metadata, and refuse what they cannot do with clear errors."""
import zipfile

import numpy as np
import pytest
import torch

import export as export_cli
from maskformer import aoti
from maskformer import export as exporter
from maskformer.reference import segment
from maskformer.scenes import generate

SIZE = (128, 128)  # (h, w): the network size of a 128x128 frame under test-tiny's resize rule


@pytest.fixture(scope="session")
def tiny_package(tiny_export, tmp_path_factory):
    """tiny_export's weights compiled for one size (about 50 s of AOTInductor compilation)."""
    path, model = tiny_export
    meta = exporter.read_metadata(path)
    out = str(tmp_path_factory.mktemp("aoti") / "tiny.pt2")
    aoti.export_aoti(model, meta, out, [SIZE], log=lambda *_: None)
    return out


def test_package_keeps_the_metadata_contract(tiny_export, tiny_package):
    meta = aoti.read_metadata(tiny_package)
    script_meta = exporter.read_metadata(tiny_export[0])
    assert {k: v for k, v in meta.items() if k != "aoti"} == script_meta
    assert meta["aoti"] == {"device": "cpu", "precision": "fp32", "batch": 0,
                            "models": [{"name": "s128x128", "height": 128, "width": 128}]}
    assert aoti.is_package(tiny_package) and not aoti.is_package(tiny_export[0])
    with zipfile.ZipFile(tiny_package) as z:  # a compiled shared library is inside: native code
        assert any(n.endswith(".so") for n in z.namelist())


def test_package_matches_torchscript_of_the_same_weights(tiny_export, tiny_package):
    path, _ = tiny_export
    meta = exporter.read_metadata(path)
    script = torch.jit.load(path, map_location="cpu").eval()
    package = aoti.Package(tiny_package)
    for seed in (1, 2, 3):
        rgb, _ = generate(np.random.default_rng([91, seed]), 128, 128)
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        labels_t, scores_t = segment(script, bgr, meta)
        labels_p, scores_p = segment(package, bgr, meta)
        assert (labels_t == labels_p).mean() >= 0.999
        assert (scores_t - scores_p).abs().max().item() <= 1e-4


def test_dynamic_batch_matches_single_images(tiny_package):
    package = aoti.Package(tiny_package)
    x = torch.randn(3, 3, *SIZE)
    with torch.no_grad():
        logits, masks = package(x)
        one_logits, one_masks = package(x[1:2])
    assert logits.shape[0] == 3
    assert (logits[1] - one_logits[0]).abs().max() <= 1e-5
    assert (masks[1] - one_masks[0]).abs().max() <= 1e-5


def test_a_size_outside_the_package_is_a_clear_error(tiny_package):
    with pytest.raises(ValueError, match=r"network size 100x64 is not among the package's sizes \(128x128\)"):
        aoti.Package(tiny_package)(torch.zeros(1, 3, 64, 100))


def test_swin_padding_keeps_height_and_width_from_being_dynamic(tiny_export):
    """Why packages list their sizes: torch.export refuses a dynamic height and width."""
    assert aoti.check_dynamic(tiny_export[1]) is not None


@pytest.mark.parametrize("text, message", [
    ("", "needs the network input sizes"),
    ("512", "is not WIDTHxHEIGHT"),
    ("512x", "is not WIDTHxHEIGHT"),
    ("0x512", "outside 1..8192"),
    ("512x-3", "is not WIDTHxHEIGHT"),
])
def test_bad_sizes_are_refused(text, message):
    with pytest.raises(aoti.ExportError, match=message):
        aoti.parse_sizes(text)


def test_sizes_are_width_by_height():
    assert aoti.parse_sizes("910x512, 512x512,910x512") == [(512, 910), (512, 512)]


@pytest.mark.parametrize("kwargs, message", [
    ({"out": "x.pt"}, "must end in .pt2"),
    ({"sizes": []}, "at least one size"),
    ({"precision": "fp16"}, "fp16 needs --device cuda"),
    ({"precision": "int8"}, "precision must be one of"),
    ({"sizes": [(2, 64)]}, "smaller than the network's stride"),
    ({"device": "tpu"}, "device must be"),
])
def test_export_errors(tiny_export, tmp_path, kwargs, message):
    path, model = tiny_export
    args = dict(out=str(tmp_path / "x.pt2"), sizes=[SIZE])
    args.update(kwargs)
    with pytest.raises(aoti.ExportError, match=message):
        aoti.export_aoti(model, exporter.read_metadata(path), args.pop("out"), args.pop("sizes"), **args)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible")
def test_cuda_export_without_a_gpu_is_refused(tiny_export, tmp_path):
    path, model = tiny_export
    with pytest.raises(aoti.ExportError, match="needs a torch with CUDA"):
        aoti.export_aoti(model, exporter.read_metadata(path), str(tmp_path / "x.pt2"), [SIZE],
                         device="cuda")


def test_cli_refuses_mixed_or_missing_options(tmp_path, capsys):
    common = ["--random-init", "--variant", "test-tiny"]
    assert export_cli.main(common + ["--out", str(tmp_path / "a.pt"), "--sizes", "64x64"]) == 2
    assert "apply to --format aoti only" in capsys.readouterr().err
    assert export_cli.main(common + ["--format", "aoti", "--out", str(tmp_path / "a.pt2")]) == 2
    assert "needs the network input sizes" in capsys.readouterr().err
