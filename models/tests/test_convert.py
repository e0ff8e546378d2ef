# SPDX-License-Identifier: Apache-2.0
"""Strict loading of sssegmentation-format checkpoints."""
import os
import subprocess
import sys

import pytest
import torch

from maskformer.config import VARIANTS
from maskformer.convert import (CheckpointError, infer_config, load_checkpoint, read_checkpoint,
                                state_dict_for_zoo)
from maskformer.network import MaskFormer

HERE = os.path.dirname(os.path.abspath(__file__))


def reference_keys():
    keys = {}
    with open(os.path.join(HERE, "data", "ssseg_swin_tiny_keys.txt")) as f:
        for line in f:
            if line.startswith("#"):
                continue
            k, shape, _ = line.rstrip("\n").split("\t")
            keys[k] = tuple(int(x) for x in shape.strip("()").split(",") if x.strip())
    return keys


def test_swin_tiny_has_exactly_the_zoo_keys_and_shapes():
    ref = reference_keys()
    model = MaskFormer(VARIANTS["swin-tiny"])
    ours = {k: tuple(v.shape) for k, v in state_dict_for_zoo(model).items()}
    assert len(ref) == 379
    assert ours == ref
    assert sum(p.numel() for p in model.parameters()) == 60_614_481


@pytest.fixture(scope="module")
def zoo_checkpoint(tmp_path_factory):
    torch.manual_seed(3)
    model = MaskFormer(VARIANTS["swin-tiny"]).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(torch.randn_like(p) * 0.01)
        for name, b in model.named_buffers():
            if name.endswith("running_var"):
                b.uniform_(0.5, 1.5)
            elif name.endswith("running_mean"):
                b.normal_(0, 0.1)
    path = str(tmp_path_factory.mktemp("ckpt") / "maskformer_swintiny_ade20k.pth")
    torch.save({"model": state_dict_for_zoo(model)}, path)
    return path, model


def test_round_trip_is_exact(zoo_checkpoint):
    path, original = zoo_checkpoint
    loaded, cfg = load_checkpoint(path, VARIANTS["swin-tiny"])
    assert cfg.embed_dim == 96 and cfg.depths == (2, 2, 6, 2) and cfg.window_size == 7
    for (k, a), (_, b) in zip(original.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(original(x)[0], loaded(x)[0])


def test_hyper_parameters_are_inferred_from_shapes(zoo_checkpoint):
    state = read_checkpoint(zoo_checkpoint[0])
    found = infer_config(state)
    assert found["embed_dim"] == 96
    assert found["depths"] == (2, 2, 6, 2)
    assert found["num_heads"] == (3, 6, 12, 24)
    assert found["window_size"] == 7
    assert found["num_queries"] == 100 and found["hidden_dim"] == 256
    assert found["num_classes"] == 150
    assert found["dec_layers"] == 6 and found["dim_feedforward"] == 2048
    assert found["feats_channels"] == 512 and found["mask_feats_channels"] == 256


def test_wrong_variant_is_explained(zoo_checkpoint):
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(zoo_checkpoint[0], VARIANTS["swin-base"])
    text = str(e.value)
    assert "embed_dim: the variant says 128, the checkpoint's tensors say 96" in text
    assert "window_size" in text


def test_missing_unexpected_and_misshaped_keys_are_listed(tmp_path, zoo_checkpoint):
    state = dict(read_checkpoint(zoo_checkpoint[0]))
    del state["decoder_mask.0.bias"]
    state["decoder_predictor.extra.weight"] = torch.zeros(3)
    state["backbone_net.norm0.weight"] = torch.zeros(95)
    path = str(tmp_path / "broken.pth")
    torch.save({"model": state}, path)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path, VARIANTS["swin-tiny"])
    text = str(e.value)
    assert "1 missing key(s):\n    decoder_mask.0.bias" in text
    assert "1 unexpected key(s):\n    decoder_predictor.extra.weight" in text
    assert "backbone_net.norm0.weight: checkpoint (95,), model (96,)" in text


def test_override_that_contradicts_the_checkpoint(zoo_checkpoint):
    with pytest.raises(CheckpointError, match="--num-classes 19 contradicts"):
        load_checkpoint(zoo_checkpoint[0], VARIANTS["swin-tiny"], {"num_classes": 19})


def test_prefixes_and_layouts(tmp_path, zoo_checkpoint):
    state = read_checkpoint(zoo_checkpoint[0])
    for name, obj in (("bare.pth", dict(state)),
                      ("module.pth", {"model": {"module." + k: v for k, v in state.items()}}),
                      ("state_dict.pth", {"state_dict": dict(state)}),
                      ("training.pth", {"model": dict(state), "optimizer": {}, "cur_epoch": 130})):
        path = str(tmp_path / name)
        torch.save(obj, path)
        model, _ = load_checkpoint(path, VARIANTS["swin-tiny"])
        assert isinstance(model, MaskFormer)


@pytest.mark.parametrize("content,message", [
    (b"", "empty"),
    (b"not a checkpoint at all", "cannot read"),
])
def test_unreadable_files(tmp_path, content, message):
    path = tmp_path / "x.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        read_checkpoint(str(path))


def test_truncated_checkpoint(tmp_path, zoo_checkpoint):
    data = open(zoo_checkpoint[0], "rb").read()
    path = tmp_path / "truncated.pth"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="truncated or corrupt|cannot read"):
        read_checkpoint(str(path))


def test_missing_file():
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint("/nonexistent/ckpt.pth")


def test_export_command_line(tmp_path, zoo_checkpoint):
    script = os.path.join(os.path.dirname(HERE), "export.py")
    out = tmp_path / "swin-tiny.pt"
    r = subprocess.run([sys.executable, script, "--checkpoint", zoo_checkpoint[0], "--variant",
                        "swin-tiny", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "loaded" in r.stdout and "strictly" in r.stdout
    from maskformer.export import read_metadata
    from maskformer.convert import sha256_file
    meta = read_metadata(str(out))
    assert meta["source_checkpoint_sha256"] == sha256_file(zoo_checkpoint[0])
    assert meta["source_checkpoint"] == "maskformer_swintiny_ade20k.pth"
    bad = subprocess.run([sys.executable, script, "--checkpoint", zoo_checkpoint[0], "--variant",
                          "swin-base", "--out", str(tmp_path / "x.pt")], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "error: checkpoint does not fit" in bad.stderr
