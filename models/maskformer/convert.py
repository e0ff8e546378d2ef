# SPDX-License-Identifier: Apache-2.0
"""Strict loading of sssegmentation MaskFormer checkpoints into our network.

A zoo checkpoint is ``{'model': state_dict}`` (training checkpoints add optimizer state and maybe
``model_ema``); keys carry no ``module.`` prefix. Loading is strict: every key must be consumed
and every shape must match, otherwise ``CheckpointError`` lists the missing, unexpected and
mis-shaped keys. Hyper-parameters come from the variant; those that tensor shapes determine
(embed dim, depths, window, heads, patch size, queries, classes, channel widths, decoder depth)
are inferred from the checkpoint and checked against the variant and any explicit overrides.
"""
import hashlib
import os
import re
import zipfile
from typing import Any, Dict, Mapping, Optional, Tuple

import torch

from .config import MaskFormerConfig
from .network import MaskFormer

# Keys a zoo state dict holds that the inference network does not: the loss's class weights.
IGNORED_KEYS = ("criterion.empty_weight",)


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded; the message says exactly why."""


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_checkpoint(path: str, use_ema: bool = False) -> Dict[str, torch.Tensor]:
    """The model state dict inside a checkpoint file, with clear errors for unusable files."""
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    size = os.path.getsize(path)
    if size == 0:
        raise CheckpointError(f"checkpoint is empty (0 bytes): {path}")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
            if bad is not None:
                raise CheckpointError(f"checkpoint is corrupt (bad CRC in {bad}): {path}")
        except zipfile.BadZipFile as e:
            raise CheckpointError(f"checkpoint is truncated or corrupt ({e}): {path}") from e
    try:
        obj = torch.load(path, map_location="cpu")
    except Exception as e:  # torch raises many types for bad files
        raise CheckpointError(
            f"cannot read {path} ({size} bytes) as a PyTorch checkpoint: "
            f"{type(e).__name__}: {e}. Is the download complete?") from e
    if isinstance(obj, torch.jit.ScriptModule):
        raise CheckpointError(f"{path} is a TorchScript export, not a training checkpoint")
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, expected a dict")
    if use_ema:
        if "model_ema" not in obj:
            raise CheckpointError(f"{path} has no 'model_ema' entry (keys: {sorted(obj)[:10]})")
        state = obj["model_ema"]
    elif "model" in obj:
        state = obj["model"]
    elif "state_dict" in obj:
        state = obj["state_dict"]
    elif obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        state = obj
    else:
        raise CheckpointError(
            f"{path} has no 'model' entry and is not a bare state dict (keys: {sorted(obj)[:10]})")
    if not isinstance(state, Mapping) or not state:
        raise CheckpointError(f"the model entry of {path} is not a non-empty state dict")
    out = {}
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            raise CheckpointError(f"entry {k!r} of {path} is a {type(v).__name__}, not a tensor")
        out[k[len("module."):] if k.startswith("module.") else k] = v
    return out


def _count(state: Mapping[str, torch.Tensor], pattern: str) -> int:
    found = {int(m.group(1)) for k in state for m in [re.match(pattern, k)] if m}
    return max(found) + 1 if found else 0


def infer_config(state: Mapping[str, torch.Tensor]) -> Dict[str, Any]:
    """The hyper-parameters that the tensors' shapes determine (absent ones are left out)."""
    def shape(key: str) -> Optional[Tuple[int, ...]]:
        t = state.get(key)
        return tuple(t.shape) if t is not None else None

    found: Dict[str, Any] = {}
    proj = shape("backbone_net.patch_embed.projection.weight")
    if proj and len(proj) == 4:
        found["embed_dim"] = proj[0]
        found["patch_size"] = proj[2]
    stages = _count(state, r"backbone_net\.stages\.(\d+)\.")
    if stages:
        found["depths"] = tuple(_count(state, rf"backbone_net\.stages\.{i}\.blocks\.(\d+)\.")
                                for i in range(stages))
        heads = []
        for i in range(stages):
            table = shape(f"backbone_net.stages.{i}.blocks.0.attn.w_msa.relative_position_bias_table")
            if table:
                heads.append(table[1])
        if len(heads) == stages:
            found["num_heads"] = tuple(heads)
        index = shape("backbone_net.stages.0.blocks.0.attn.w_msa.relative_position_index")
        if index:
            window = int(round(index[0] ** 0.5))
            if window * window == index[0]:
                found["window_size"] = window
    fc = shape("backbone_net.stages.0.blocks.0.ffn.layers.0.0.weight")
    if fc and "embed_dim" in found:
        found["mlp_ratio"] = fc[0] / found["embed_dim"]
    bottleneck = shape("ppm_net.bottleneck.0.weight")
    if bottleneck:
        found["feats_channels"] = bottleneck[0]
    branches = _count(state, r"ppm_net\.branches\.(\d+)\.")
    if branches:
        found["pool_scales_count"] = branches
    mask = shape("decoder_mask.0.weight")
    if mask:
        found["mask_feats_channels"] = mask[0]
    query = shape("decoder_predictor.query_embed.weight")
    if query:
        found["num_queries"], found["hidden_dim"] = query
    cls = shape("decoder_predictor.class_embed.weight")
    if cls:
        found["num_classes"] = cls[0] - 1
    layers = _count(state, r"decoder_predictor\.transformer\.decoder\.layers\.(\d+)\.")
    if layers:
        found["dec_layers"] = layers
    lin = shape("decoder_predictor.transformer.decoder.layers.0.linear1.weight")
    if lin:
        found["dim_feedforward"] = lin[0]
    return found


def resolve_config(base: MaskFormerConfig, state: Mapping[str, torch.Tensor],
                   overrides: Optional[Dict[str, Any]] = None) -> MaskFormerConfig:
    """Variant defaults, then values inferred from the checkpoint, then explicit overrides.

    An explicit override that contradicts the checkpoint is an error; so is an inferred value that
    contradicts the variant, unless the variant value was overridden to match.
    """
    overrides = dict(overrides or {})
    inferred = infer_config(state)
    problems = []
    count = inferred.pop("pool_scales_count", None)
    scales = tuple(overrides.get("pool_scales", base.pool_scales))
    if count is not None and count != len(scales):
        problems.append(f"pool_scales: checkpoint has {count} pyramid branches, "
                        f"configuration has {len(scales)} scales {scales}")
    changes: Dict[str, Any] = {}
    for key, value in inferred.items():
        current = getattr(base, key)
        if isinstance(current, tuple):
            value = tuple(value)
        if key in overrides and _normalise(overrides[key]) != _normalise(value):
            problems.append(f"{key}: --{key.replace('_', '-')} {overrides[key]} contradicts the "
                            f"checkpoint, whose tensors say {value}")
        elif _normalise(current) != _normalise(value) and key not in overrides:
            problems.append(f"{key}: the variant says {current}, the checkpoint's tensors say "
                            f"{value} (wrong --variant? or pass --{key.replace('_', '-')})")
        changes[key] = value
    for key, value in overrides.items():
        if key not in changes:
            changes[key] = tuple(value) if isinstance(getattr(base, key), tuple) else value
    if problems:
        raise CheckpointError("checkpoint does not fit the configuration:\n  " +
                              "\n  ".join(problems))
    return base.replace(**changes)


def _normalise(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(_normalise(x) for x in v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def load_state_strict(model: MaskFormer, state: Mapping[str, torch.Tensor]) -> None:
    """Copies every tensor of ``state`` into ``model``; any gap or surplus is an error."""
    expected = model.state_dict()
    given = {k: v for k, v in state.items() if k not in IGNORED_KEYS}
    missing = sorted(k for k in expected if k not in given)
    unexpected = sorted(k for k in given if k not in expected)
    misshaped = sorted(f"{k}: checkpoint {tuple(given[k].shape)}, model {tuple(expected[k].shape)}"
                       for k in given if k in expected and given[k].shape != expected[k].shape)
    for k in IGNORED_KEYS:
        if k in state and state[k].dim() != 1:
            misshaped.append(f"{k}: expected a vector, got {tuple(state[k].shape)}")
    if missing or unexpected or misshaped:
        parts = []
        for title, keys in (("missing", missing), ("unexpected", unexpected),
                            ("mis-shaped", misshaped)):
            if keys:
                shown = "\n    ".join(keys[:40])
                more = f"\n    ... and {len(keys) - 40} more" if len(keys) > 40 else ""
                parts.append(f"{len(keys)} {title} key(s):\n    {shown}{more}")
        raise CheckpointError("checkpoint does not match the MaskFormer architecture:\n  " +
                              "\n  ".join(parts))
    with torch.no_grad():
        for k, t in expected.items():
            src = given[k]
            if src.dtype != t.dtype and not (src.is_floating_point() and t.is_floating_point()):
                raise CheckpointError(f"{k}: dtype {src.dtype}, expected {t.dtype}")
            t.copy_(src)


def load_checkpoint(path: str, base: MaskFormerConfig,
                    overrides: Optional[Dict[str, Any]] = None,
                    use_ema: bool = False) -> Tuple[MaskFormer, MaskFormerConfig]:
    """Builds the network a checkpoint describes and loads it strictly; returns it in eval mode."""
    state = read_checkpoint(path, use_ema)
    cfg = resolve_config(base, state, overrides)
    model = MaskFormer(cfg)
    load_state_strict(model, state)
    return model.eval(), cfg


def state_dict_for_zoo(model: MaskFormer) -> Dict[str, torch.Tensor]:
    """Our weights in the zoo's checkpoint layout (adds the loss weights the zoo stores)."""
    state = dict(model.state_dict())
    weights = torch.ones(model.num_classes + 1)
    weights[-1] = 0.1
    state["criterion.empty_weight"] = weights
    return state
