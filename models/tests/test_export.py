# SPDX-License-Identifier: Apache-2.0
"""TorchScript exports compute what the eager network computes, at any input size."""
import pytest
import torch

from maskformer import ade20k
from maskformer import export as exporter
from maskformer.config import VARIANTS
from maskformer.network import MaskFormer

# odd sizes, sizes that are not multiples of 4, 32 or the window, tall and wide
SIZES = [(61, 83), (64, 64), (97, 131), (128, 100), (33, 250), (230, 161)]


@pytest.mark.parametrize("variant", ["test-tiny", "demo", "swin-tiny", "swin-small", "swin-base"])
def test_script_equals_eager(variant):
    torch.manual_seed(1)
    model = MaskFormer(VARIANTS[variant]).eval()
    scripted = exporter.script(model)
    sizes = SIZES if variant in ("test-tiny", "demo") else SIZES[:3]
    with torch.no_grad():
        for h, w in sizes:
            x = torch.randn(2, 3, h, w)
            logits, masks = model(x)
            s_logits, s_masks = scripted(x)
            cfg = VARIANTS[variant]
            assert logits.shape == (2, cfg.num_queries, cfg.num_classes + 1)
            assert masks.shape == (2, cfg.num_queries, (h + 3) // 4, (w + 3) // 4)
            assert (logits - s_logits).abs().max() <= 1e-5
            assert (masks - s_masks).abs().max() <= 1e-5


def test_batch_items_are_independent():
    model = MaskFormer(VARIANTS["test-tiny"]).eval()
    x = torch.randn(3, 3, 70, 90)
    with torch.no_grad():
        batched = model(x)
        single = model(x[1:2])
    assert (batched[0][1] - single[0][0]).abs().max() <= 1e-5
    assert (batched[1][1] - single[1][0]).abs().max() <= 1e-5


def test_metadata_is_complete(tiny_export):
    path, _ = tiny_export
    meta = exporter.read_metadata(path)
    for key in ("format", "format_version", "variant", "num_classes", "classes", "palette",
                "dataset", "input", "resize", "size_divisibility", "num_queries",
                "no_object_index", "mask_stride", "architecture", "source_checkpoint_sha256"):
        assert key in meta, key
    assert meta["format"] == "maskformer-java" and meta["format_version"] == 1
    assert meta["classes"] == list(ade20k.CLASSES)
    assert meta["palette"][0] == [120, 120, 120]
    assert meta["input"] == {"channel_order": "RGB", "value_range": [0, 255],
                             "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375]}
    assert meta["resize"]["long_side"] == 512 and meta["resize"]["short_side"] == 128
    assert meta["no_object_index"] == meta["num_classes"] == 150
    assert meta["source_checkpoint_sha256"] == "ab" * 32
    assert meta["dataset"]["name"] == "ADE20k-150"


def test_zoo_variants_carry_their_resize_rule():
    assert (VARIANTS["swin-tiny"].resize_long, VARIANTS["swin-tiny"].resize_short) == (2048, 512)
    assert (VARIANTS["swin-small"].resize_long, VARIANTS["swin-small"].resize_short) == (2048, 512)
    assert (VARIANTS["swin-base"].resize_long, VARIANTS["swin-base"].resize_short) == (2560, 640)


def test_export_reloads_and_does_not_mutate(tiny_export):
    path, model = tiny_export
    loaded = torch.jit.load(path)
    before = {k: v.clone() for k, v in loaded.state_dict().items()}
    x = torch.randn(1, 3, 50, 70)
    with torch.no_grad():
        a = loaded(x)
        b = model(x)
        c = loaded(x)
    assert (a[0] - b[0]).abs().max() <= 1e-5 and (a[1] - b[1]).abs().max() <= 1e-5
    assert torch.equal(a[0], c[0]) and torch.equal(a[1], c[1])
    after = loaded.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "forward mutated module state"


def test_custom_class_counts_get_names_and_colours(tmp_path):
    cfg = VARIANTS["test-tiny"].replace(num_classes=7)
    model = MaskFormer(cfg).eval()
    path = str(tmp_path / "k7.pt")
    exporter.export(model, cfg, "test-tiny", path, log=lambda *_: None)
    meta = exporter.read_metadata(path)
    assert meta["classes"] == [f"class_{i}" for i in range(7)]
    assert len({tuple(c) for c in meta["palette"]}) == 7
    assert meta["dataset"]["name"] == "custom"


def test_metadata_is_required(tmp_path):
    path = str(tmp_path / "plain.pt")
    torch.jit.save(torch.jit.script(MaskFormer(VARIANTS["test-tiny"]).eval()), path)
    with pytest.raises(ValueError, match="carries no maskformer.json"):
        exporter.read_metadata(path)
