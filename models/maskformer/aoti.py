# SPDX-License-Identifier: Apache-2.0
"""AOTInductor export (a ``.pt2`` package): torch.export + ahead-of-time compiled kernels.

The package holds one compiled model per network input size (the Swin window padding makes
torch.export specialise on the input height and width, so dynamic sizes are refused; see
``export_aoti``), named ``s<H>x<W>``, and the same ``maskformer.json`` as a TorchScript export,
stored as the archive's extra file ``extra/maskformer.json``. That metadata carries one more
field, ``aoti``:

    {"device": "cpu" | "cuda", "precision": "fp32" | "bf16" | "fp16", "batch": 1 | 0,
     "models": [{"name": "s128x128", "height": 128, "width": 128}, ...]}

``batch`` 0 means a dynamic batch dimension; 1 means each compiled model runs one image.

A ``.pt2`` contains a compiled shared library: loading one runs native code from the file.
"""
import copy
import json
import time
import zipfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

import importlib.util

import torch

from .network import MaskFormer


def available() -> bool:
    """Whether this torch can make packages (torch.export and Inductor: torch 2.6 or later)."""
    return hasattr(torch, "export") and importlib.util.find_spec("torch._inductor") is not None

METADATA_FILE = "maskformer.json"
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class ExportError(ValueError):
    """A request that cannot be exported (bad sizes, device or precision)."""


def parse_sizes(text: str) -> List[Tuple[int, int]]:
    """'512x512,910x512' (width x height, as the CLI prints sizes) -> [(h, w), ...]."""
    if not text.strip():
        raise ExportError("an AOTInductor export needs the network input sizes to compile "
                          "(--sizes 512x512,683x512): torch.export cannot keep the input height "
                          "and width dynamic through the Swin window padding of this network")
    sizes = []
    for item in text.split(","):
        item = item.strip().lower()
        parts = item.split("x")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ExportError(f"size '{item}' is not WIDTHxHEIGHT (e.g. 512x512)")
        w, h = int(parts[0]), int(parts[1])
        if not (1 <= w <= 8192 and 1 <= h <= 8192):
            raise ExportError(f"size '{item}' is outside 1..8192 pixels per side")
        if (h, w) not in sizes:
            sizes.append((h, w))
    if not sizes:
        raise ExportError("--sizes names no size")
    return sizes


def is_package(path: str) -> bool:
    """Whether ``path`` is a PT2 archive (checked by content, not by name)."""
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("/archive_format") and z.read(n).strip() == b"pt2"
                       for n in z.namelist() if n.count("/") == 1)
    except (zipfile.BadZipFile, OSError):
        return False


def read_metadata(path: str) -> Dict[str, Any]:
    """maskformer.json of a package, without loading (or running) its compiled code."""
    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if n.count("/") == 2 and n.endswith("/extra/" + METADATA_FILE)]
        if not names:
            raise ValueError(f"{path} carries no {METADATA_FILE}: not exported by models/export.py")
        return json.loads(z.read(names[0]))


def from_torchscript(path: str) -> Tuple[MaskFormer, Dict[str, Any]]:
    """The eager network and metadata of a TorchScript export made by models/export.py: its
    weights loaded strictly into the architecture its metadata records (so that a package and
    the TorchScript file hold the same weights)."""
    from .config import VARIANTS
    from .export import read_metadata as read_script_metadata
    meta = read_script_metadata(path)
    arch = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["architecture"].items()}
    base = VARIANTS.get(meta.get("variant"), VARIANTS["swin-tiny"])
    cfg = base.replace(resize_long=meta["resize"]["long_side"], resize_short=meta["resize"]["short_side"],
                       **arch)
    model = MaskFormer(cfg).eval()
    state = torch.jit.load(path, map_location="cpu").state_dict()
    model.load_state_dict(state, strict=True)
    return model, meta


def model_name(h: int, w: int) -> str:
    return f"s{h}x{w}"


def _export_one(model: MaskFormer, h: int, w: int, dtype: torch.dtype, device: str):
    """torch.export at (h, w); the batch dimension is dynamic where torch.export allows it."""
    x = torch.zeros(2, 3, h, w, dtype=dtype, device=device)
    batch = torch.export.Dim("batch", min=1, max=64)
    try:
        return torch.export.export(model, (x,), dynamic_shapes=({0: batch},), strict=False), 0
    except Exception:  # noqa: BLE001 - any guard failure: fall back to one image per run
        return torch.export.export(model, (x[:1],), strict=False), 1


def check_dynamic(model: MaskFormer, dtype: torch.dtype = torch.float32) -> Optional[str]:
    """None when torch.export accepts a dynamic height and width, else its first complaint."""
    x = torch.zeros(1, 3, 128, 128, dtype=dtype)
    h = torch.export.Dim("height", min=32, max=2048)
    w = torch.export.Dim("width", min=32, max=2048)
    try:
        torch.export.export(model, (x,), dynamic_shapes=({2: h, 3: w},), strict=False)
        return None
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        return str(e).strip().splitlines()[0][:300]


def export_aoti(model: MaskFormer, metadata: Dict[str, Any], out: str,
                sizes: Sequence[Tuple[int, int]], device: str = "cpu", precision: str = "fp32",
                check: bool = True, log=print) -> Dict[str, Any]:
    """Compiles ``model`` once per (h, w) in ``sizes`` into the package ``out`` (.pt2)."""
    if not out.endswith(".pt2"):
        raise ExportError(f"an AOTInductor package must end in .pt2, got '{out}'")
    if not available():
        raise ExportError(f"AOTInductor packages need torch 2.6 or later (torch.export and Inductor); "
                          f"this is torch {torch.__version__}: export TorchScript instead")
    if not sizes:
        raise ExportError("an AOTInductor export needs at least one size (--sizes 512x512): "
                          "torch.export cannot make the input height and width dynamic for the "
                          "Swin window padding of this network")
    if precision not in DTYPES:
        raise ExportError(f"precision must be one of {sorted(DTYPES)}, got '{precision}'")
    if device not in ("cpu", "cuda"):
        raise ExportError(f"device must be 'cpu' or 'cuda', got '{device}'")
    if device == "cuda" and not torch.cuda.is_available():
        raise ExportError("--device cuda needs a torch with CUDA and a visible GPU "
                          f"(this is torch {torch.__version__})")
    if precision == "fp16" and device == "cpu":
        raise ExportError("fp16 needs --device cuda; on the CPU use fp32 or bf16")
    stride = metadata["mask_stride"]
    for h, w in sizes:
        if h < stride or w < stride:
            raise ExportError(f"size {w}x{h} is smaller than the network's stride {stride}")
    dtype = DTYPES[precision]
    if dtype != torch.float32 or device != "cpu":
        model = copy.deepcopy(model)  # the caller's model stays as it was
    model = model.eval().to(device=device, dtype=dtype)
    entries, files, batch_kinds = [], {}, set()
    for h, w in sizes:
        t0 = time.time()
        with torch.no_grad():
            ep, batch = _export_one(model, h, w, dtype, device)
        name = model_name(h, w)
        options = {"aot_inductor.package": True}
        files[name] = torch._inductor.aot_compile(ep.module(), ep.example_inputs[0],
                                                  options=options)
        batch_kinds.add(batch)
        entries.append({"name": name, "height": h, "width": w})
        log(f"compiled {w}x{h} ({'batch 1' if batch else 'dynamic batch'}) "
            f"in {time.time() - t0:.1f} s")
    # the kernels were compiled by this torch, whatever exported the weights before
    compiled_with = dict(metadata.get("exported_with") or {}, torch=torch.__version__)
    meta = dict(metadata, exported_with=compiled_with, aoti={"device": device, "precision": precision,
                                "batch": max(batch_kinds), "models": entries})
    text = json.dumps(meta, indent=1, ensure_ascii=False)
    # imported here: torch older than 2.6 (Debian's 1.13) has neither, and must still import this
    # module to export TorchScript
    from torch.export.pt2_archive._package import package_pt2

    package_pt2(out, aoti_files=files, extra_files={METADATA_FILE: text})
    if check:
        worst = verify(model, out, sizes, dtype, device)
        log(f"package == eager (max |diff| {worst:.2e})")
    return meta


class Package:
    """A loaded package, callable like the network on inputs of its sizes (Python tests and the
    reference pipeline). Loading it runs the compiled code inside."""

    def __init__(self, path: str):
        self.metadata = read_metadata(path)
        spec = self.metadata["aoti"]
        self.batch = spec["batch"]
        from torch._inductor.package import load_package

        self.models = {(m["height"], m["width"]): load_package(path, m["name"])
                       for m in spec["models"]}

    def __call__(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        key = (x.shape[2], x.shape[3])
        if key not in self.models:
            have = ", ".join(f"{w}x{h}" for h, w in self.models)
            raise ValueError(f"network size {key[1]}x{key[0]} is not among the package's sizes ({have})")
        run = self.models[key]
        if self.batch == 1 and x.shape[0] != 1:
            parts = [run(x[i:i + 1]) for i in range(x.shape[0])]
            return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
        logits, masks = run(x)
        return logits, masks


def verify(model: MaskFormer, path: str, sizes: Sequence[Tuple[int, int]], dtype: torch.dtype,
           device: str) -> float:
    """Largest difference between eager and the package's outputs over ``sizes``."""
    package = Package(path)
    gen = torch.Generator().manual_seed(0)
    worst = 0.0
    tol = 1e-4 if dtype == torch.float32 else 5e-1
    with torch.no_grad():
        for h, w in sizes:
            x = torch.randn(1, 3, h, w, generator=gen).to(device=device, dtype=dtype)
            for a, b in zip(model(x), package(x)):
                worst = max(worst, (a.float() - b.float()).abs().max().item())
    if worst > tol:
        raise RuntimeError(f"the package differs from eager by {worst} (> {tol})")
    return worst


