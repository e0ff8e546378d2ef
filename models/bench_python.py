#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The Python side of `./maskformer bench --compare-python` and `--compare-onnxruntime`: the same
TorchScript file (or, with --onnx, an ONNX file of the same weights run by ONNX Runtime), the same
pipeline (keep-ratio resize with OpenCV, normalisation, forward, semantic inference, resize back,
argmax into a uint8/int32 label map), timed the same way, printed as the same JSON keys; then the
forward pass alone at the network input size (forward_p50_ms).

    /usr/bin/python3 models/bench_python.py --model F.pt --size 512x512 --iters 20
    /usr/bin/python3 models/bench_python.py --model F.pt --onnx F-512x512.onnx --size 512x512
"""
import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from maskformer import aoti  # noqa: E402
from maskformer.export import read_metadata  # noqa: E402
from maskformer.reference import target_size  # noqa: E402


def cpu_seconds() -> float:
    """CPU time of this process so far (user + system, all threads): on a machine shared with
    other work, wall time grows with the load, CPU time of a single-threaded run hardly."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--size", default="512x512")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"])
    p.add_argument("--scores", action="store_true", help="also keep the class scores on the host")
    p.add_argument("--onnx", help="run the network with ONNX Runtime from this file (made by "
                                   "models/export.py --format onnx from --model's weights, at "
                                   "this frame's network size); --model gives the metadata")
    p.add_argument("--resize", choices=["cv2", "torch"],
                   help="cv2: OpenCV on the host, as sssegmentation (default on the CPU); torch: "
                        "bilinear interpolation on the device (default on CUDA)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    w, h = (int(v) for v in args.size.lower().split("x"))
    package = aoti.is_package(args.model)  # a .pt2 runs compiled code from the file: trusted input
    meta = aoti.read_metadata(args.model) if package else read_metadata(args.model)
    device = torch.device(args.device)
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.precision]
    if args.onnx:
        if args.device != "cpu" or args.precision != "fp32":
            p.error("--onnx runs on the CPU in fp32")
        from maskformer import onnx_export
        try:
            session = onnx_export.session(args.onnx, args.threads)
        except ImportError:
            p.error("--onnx needs the onnxruntime package in this Python (pip install onnxruntime; "
                    "./maskformer setup --tests puts it into the project's .venv)")

        def module(x):
            logits, masks = session.run(None, {"images": x.contiguous().numpy()})
            return torch.from_numpy(logits), torch.from_numpy(masks)
    elif package:
        module = aoti.Package(args.model)  # compiled for one device and precision
    else:
        module = torch.jit.load(args.model, map_location=device).eval()
        if dtype != torch.float32:
            module = module.to(dtype)
    k = meta["num_classes"]
    th, tw = target_size(h, w, meta["resize"]["long_side"], meta["resize"]["short_side"])
    mean = torch.tensor(meta["input"]["mean"], device=device).view(1, 3, 1, 1)
    inv_std = 1 / torch.tensor(meta["input"]["std"], dtype=torch.float64).view(1, 3, 1, 1)
    inv_std = inv_std.float().to(device)
    resize = args.resize or ("cv2" if device.type == "cpu" else "torch")
    rng = np.random.default_rng(42)
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(args.batch)]
    label_dtype = np.uint8 if k <= 256 else np.int32
    labels = [np.empty((h, w), label_dtype) for _ in range(args.batch)]

    def call():
        with torch.inference_mode():
            if resize == "cv2":
                resized = [f if (th, tw) == (h, w) else
                           cv2.resize(f, (tw, th), interpolation=cv2.INTER_LINEAR) for f in frames]
                x = torch.from_numpy(np.stack(resized)).to(device).permute(0, 3, 1, 2).float()
            else:
                x = torch.from_numpy(np.stack(frames)).to(device).permute(0, 3, 1, 2).float()
                if (th, tw) != (h, w):
                    x = F.interpolate(x, size=(th, tw), mode="bilinear", align_corners=False)
            x = ((x - mean) * inv_std).to(dtype)
            logits, masks = module(x)
            logits, masks = logits.float(), masks.float()
            up = F.interpolate(masks, size=(th, tw), mode="bilinear", align_corners=False).sigmoid()
            probs = logits.softmax(-1)[..., :-1]
            scores = torch.einsum("bqc,bqhw->bchw", probs, up)
            if (th, tw) != (h, w):
                scores = F.interpolate(scores, size=(h, w), mode="bilinear", align_corners=False)
            out = scores.argmax(1).to(torch.uint8 if k <= 256 else torch.int32).cpu().numpy()
            if args.scores:
                scores.cpu()
            for i in range(args.batch):
                labels[i][...] = out[i]
            if device.type == "cuda":
                torch.cuda.synchronize()

    for _ in range(args.warmup):
        call()
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    cpu0 = cpu_seconds()
    ms = []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        call()
        ms.append((time.perf_counter() - t0) * 1e3)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
    cpu_per_call = (cpu_seconds() - cpu0) * 1e3 / args.iters
    s = sorted(ms)

    def pct(q, values=s):
        rank = int(np.ceil(q * len(values)))
        return values[max(0, min(len(values) - 1, rank - 1))]

    # the forward pass alone on zeros at the network input size, as the Java bench times it
    x = torch.zeros(args.batch, 3, th, tw, device=device, dtype=dtype)
    forward_ms = []
    with torch.inference_mode():
        module(x)
        cpu0 = cpu_seconds()
        for _ in range(max(3, min(args.iters, 10))):
            t0 = time.perf_counter()
            module(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            forward_ms.append((time.perf_counter() - t0) * 1e3)
        forward_cpu = (cpu_seconds() - cpu0) * 1e3 / len(forward_ms)
    extra = {}
    if args.onnx:
        import onnxruntime
        extra = {"onnxruntime": onnxruntime.__version__, "onnx_file": args.onnx}
    print(json.dumps({
        "runtime": "onnxruntime" if args.onnx else "python", "model": args.model,
        "variant": meta.get("variant", ""),
        "device": str(device), "precision": args.precision, "torch": torch.__version__,
        **extra, "resize": resize,
        "threads": torch.get_num_threads(), "size": f"{w}x{h}", "network_input": f"{tw}x{th}",
        "batch": args.batch, "iters": args.iters, "mean_ms": float(np.mean(ms)),
        "p50_ms": pct(0.5), "p90_ms": pct(0.9), "min_ms": s[0],
        "frames_per_s": args.batch * 1000.0 / float(np.mean(ms)),
        "page_faults_per_call": faults / args.iters,
        "cpu_ms_per_call": cpu_per_call,
        "forward_p50_ms": pct(0.5, sorted(forward_ms)),
        "forward_cpu_ms": forward_cpu,
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
