# SPDX-License-Identifier: Apache-2.0
"""TorchScript export with the metadata the Java library relies on (``maskformer.json``).

The export is ``torch.jit.script`` of the network, so it runs at any input size; the metadata is
stored inside the archive as a TorchScript extra file. Format version 1 holds:

    format, format_version, variant, num_classes, classes, palette, dataset,
    input {channel_order, value_range, mean, std}, resize {mode, long_side, short_side,
    interpolation}, size_divisibility, num_queries, no_object_index, mask_stride, outputs,
    architecture, source_checkpoint, source_checkpoint_sha256, exported_with
"""
import datetime
import json
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from . import ade20k
from .config import MaskFormerConfig
from .network import MaskFormer

METADATA_FILE = "maskformer.json"
FORMAT = "maskformer-java"
FORMAT_VERSION = 1


def default_classes(num_classes: int) -> Tuple[List[str], List[List[int]]]:
    """ADE20k names and palette for 150 classes; numbered names and a spread palette otherwise."""
    if num_classes == len(ade20k.CLASSES):
        return list(ade20k.CLASSES), [list(c) for c in ade20k.PALETTE]
    names = [f"class_{i}" for i in range(num_classes)]
    palette = []
    for i in range(num_classes):
        # golden-angle hues, fixed saturation/value: distinct, deterministic colours
        h = (i * 0.618033988749895) % 1.0
        k = int(h * 6)
        f = h * 6 - k
        v, p, q, t = 230, 40, int(230 - 190 * f), int(40 + 190 * f)
        palette.append([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][k % 6])
        palette[-1] = list(palette[-1])
    return names, palette


def build_metadata(cfg: MaskFormerConfig, variant: str, classes: Sequence[str],
                   palette: Sequence[Sequence[int]], source: Optional[str],
                   source_sha256: Optional[str]) -> Dict[str, Any]:
    if len(classes) != cfg.num_classes or len(palette) != cfg.num_classes:
        raise ValueError(f"{cfg.num_classes} classes need as many names and colours, "
                         f"got {len(classes)} and {len(palette)}")
    for c in palette:
        if len(c) != 3 or not all(0 <= int(v) <= 255 for v in c):
            raise ValueError(f"palette entries must be three values in 0..255, got {c}")
    ade = cfg.num_classes == 150 and list(classes) == list(ade20k.CLASSES)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "variant": variant,
        "num_classes": cfg.num_classes,
        "classes": list(classes),
        "palette": [[int(v) for v in c] for c in palette],
        "dataset": {"name": "ADE20k-150" if ade else "custom",
                    "label_id_offset": 1, "ignore_id": 0},
        "input": {"channel_order": "RGB", "value_range": [0, 255],
                  "mean": list(cfg.mean), "std": list(cfg.std)},
        "resize": {"mode": "keep_ratio", "long_side": cfg.resize_long,
                   "short_side": cfg.resize_short, "interpolation": "bilinear-opencv"},
        "size_divisibility": 0,
        "num_queries": cfg.num_queries,
        "no_object_index": cfg.num_classes,
        "mask_stride": cfg.patch_size,
        "outputs": ["pred_logits", "pred_masks"],
        "architecture": cfg.architecture(),
        "source_checkpoint": source,
        "source_checkpoint_sha256": source_sha256,
        "exported_with": {"torch": torch.__version__, "tool": "models/export.py",
                          "date": datetime.date.today().isoformat()},
    }


def script(model: MaskFormer) -> torch.jit.ScriptModule:
    return torch.jit.script(model.eval())


def verify(model: MaskFormer, scripted: torch.jit.ScriptModule,
           sizes: Sequence[Tuple[int, int]] = ((61, 83),), tol: float = 1e-5) -> float:
    """Largest difference between eager and TorchScript outputs over ``sizes``."""
    worst = 0.0
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for h, w in sizes:
            x = torch.randn(1, 3, h, w, generator=gen)
            for a, b in zip(model(x), scripted(x)):
                worst = max(worst, (a - b).abs().max().item())
    if worst > tol:
        raise RuntimeError(f"TorchScript differs from eager by {worst} (> {tol})")
    return worst


def save(scripted: torch.jit.ScriptModule, metadata: Dict[str, Any], path: str) -> None:
    text = json.dumps(metadata, indent=1, ensure_ascii=False)
    torch.jit.save(scripted, path, _extra_files={METADATA_FILE: text})


def read_metadata(path: str) -> Dict[str, Any]:
    """Loads only the metadata of an export (fast: the weights are not deserialised twice)."""
    files = {METADATA_FILE: ""}
    torch.jit.load(path, map_location="cpu", _extra_files=files)
    if not files[METADATA_FILE]:
        raise ValueError(f"{path} carries no {METADATA_FILE}: not exported by models/export.py")
    return json.loads(files[METADATA_FILE])


def export(model: MaskFormer, cfg: MaskFormerConfig, variant: str, out: str,
           source: Optional[str] = None, source_sha256: Optional[str] = None,
           classes: Optional[Sequence[str]] = None,
           palette: Optional[Sequence[Sequence[int]]] = None,
           check: bool = True, log=print) -> Dict[str, Any]:
    if classes is None or palette is None:
        names, colours = default_classes(cfg.num_classes)
        classes = classes if classes is not None else names
        palette = palette if palette is not None else colours
    metadata = build_metadata(cfg, variant, classes, palette, source, source_sha256)
    t0 = time.time()
    scripted = script(model)
    if check:
        worst = verify(model, scripted)
        log(f"TorchScript == eager (max |diff| {worst:.2e})")
    save(scripted, metadata, out)
    log(f"wrote {out} in {time.time() - t0:.1f} s")
    return metadata
