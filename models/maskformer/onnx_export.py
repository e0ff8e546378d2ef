# SPDX-License-Identifier: Apache-2.0
"""ONNX export of the network, for measuring ONNX Runtime against this library on the same
weights (``./maskformer bench --compare-onnxruntime``; docs/performance.md).

The ONNX file holds the network alone, as a TorchScript export does (normalised RGB images in,
``pred_logits`` and ``pred_masks`` out), made by ``torch.onnx.export(dynamo=True)`` at opset 18
for one network input size: torch.export specialises the Swin window padding on the height and
width (see aoti.py), so a file runs at the size it was made for. The ``maskformer.json`` of the
source export is stored in the model's metadata_props under ``maskformer.json``. This library does
not load ONNX files; they exist for comparison.
"""
import json
import time
from typing import Any, Dict, Optional, Tuple

import torch

from .network import MaskFormer

METADATA_KEY = "maskformer.json"
OPSET = 18


class ExportError(ValueError):
    """A request that cannot be exported (bad size, no onnx packages)."""


def export_onnx(model: MaskFormer, metadata: Dict[str, Any], out: str, size: Tuple[int, int],
                check: bool = True, log=print) -> float:
    """Writes ``model`` at network input size ``size`` (h, w) to ``out``; returns the largest
    difference between ONNX Runtime and eager outputs when ``check`` (0.0 otherwise)."""
    try:
        import onnx  # noqa: F401  (torch.onnx needs it, and onnxscript, at export time)
    except ImportError as e:
        raise ExportError("ONNX export needs the onnx and onnxscript packages "
                          "(pip install onnx onnxscript onnxruntime)") from e
    if not out.endswith(".onnx"):
        raise ExportError(f"an ONNX file must end in .onnx, got '{out}'")
    h, w = size
    stride = metadata["mask_stride"]
    if h < stride or w < stride:
        raise ExportError(f"size {w}x{h} is smaller than the network's stride {stride}")
    model = model.eval()
    x = torch.zeros(1, 3, h, w)
    t0 = time.time()
    with torch.no_grad():
        program = torch.onnx.export(model, (x,), dynamo=True, opset_version=OPSET,
                                    input_names=["images"],
                                    output_names=["pred_logits", "pred_masks"],
                                    verbose=False)
    program.optimize()
    proto = program.model_proto
    entry = proto.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps(dict(metadata, onnx={"opset": OPSET, "height": h, "width": w,
                                                  "torch": torch.__version__}),
                             ensure_ascii=False)
    import onnx
    onnx.save_model(proto, out)
    log(f"exported {w}x{h} to {out} in {time.time() - t0:.1f} s")
    return verify(model, out, size) if check else 0.0


def read_metadata(path: str) -> Dict[str, Any]:
    import onnx
    proto = onnx.load(path, load_external_data=False)
    for entry in proto.metadata_props:
        if entry.key == METADATA_KEY:
            return json.loads(entry.value)
    raise ValueError(f"{path} carries no {METADATA_KEY}: not exported by models/export.py")


def session(path: str, threads: int = 0):
    """An ONNX Runtime CPU session with the default graph optimisations (what a user gets)
    and ``threads`` intra-op threads (0: ONNX Runtime's default, one per core)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def verify(model: MaskFormer, path: str, size: Tuple[int, int], tol: float = 1e-3,
           seed: int = 0) -> float:
    """Largest difference between ONNX Runtime and eager outputs on a random input."""
    h, w = size
    x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        expected = model(x)
    got = session(path).run(None, {"images": x.numpy()})
    worst = max(float((torch.from_numpy(g) - e).abs().max()) for g, e in zip(got, expected))
    if worst > tol:
        raise RuntimeError(f"ONNX Runtime differs from eager by {worst} (> {tol})")
    return worst


def parse_size(text: Optional[str]) -> Tuple[int, int]:
    """'910x512' (width x height) -> (512, 910); ONNX files hold exactly one size."""
    from .aoti import ExportError as AotiError, parse_sizes
    try:
        sizes = parse_sizes(text or "")
    except AotiError as e:
        raise ExportError(str(e).replace("an AOTInductor export", "an ONNX export")) from e
    if len(sizes) != 1:
        raise ExportError("an ONNX file holds one network input size: give exactly one --sizes WxH")
    return sizes[0]
