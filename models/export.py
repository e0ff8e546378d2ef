#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Convert a sssegmentation MaskFormer checkpoint to a TorchScript file for maskformer-java.

    /usr/bin/python3 models/export.py --checkpoint maskformer_swintiny_ade20k.pth \
        --variant swin-tiny --out swin-tiny.pt
    /usr/bin/python3 models/export.py --random-init --seed 0 --variant test-tiny --out tiny.pt
    /usr/bin/python3 models/export.py --checkpoint maskformer_swintiny_ade20k.pth \
        --variant swin-tiny --format aoti --sizes 512x512,683x512 --out swin-tiny.pt2

--format aoti writes an AOTInductor package (.pt2): kernels compiled ahead of time for one
device, one precision and the listed network input sizes (WIDTHxHEIGHT). A .pt2 holds a compiled
shared library: loading it runs native code from the file (see docs/models.md, "AOTInductor packages").

--format onnx writes the network at one network input size as an ONNX file (opset 18), for
comparing ONNX Runtime with this library on the same weights (docs/performance.md):

    /usr/bin/python3 models/export.py --torchscript swin-tiny.pt --format onnx --sizes 512x512 \
        --out swin-tiny-512x512.onnx
"""
import argparse
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from maskformer.config import VARIANTS  # noqa: E402
from maskformer.convert import CheckpointError, load_checkpoint, sha256_file  # noqa: E402
from maskformer import aoti  # noqa: E402
from maskformer import onnx_export  # noqa: E402
from maskformer.export import build_metadata, default_classes, export  # noqa: E402
from maskformer.network import MaskFormer  # noqa: E402

INT_LIST = lambda s: tuple(int(x) for x in s.split(","))  # noqa: E731
OVERRIDES = {  # flag -> (config field, parser)
    "num-classes": ("num_classes", int), "embed-dim": ("embed_dim", int),
    "depths": ("depths", INT_LIST), "num-heads": ("num_heads", INT_LIST),
    "window-size": ("window_size", int), "num-queries": ("num_queries", int),
    "hidden-dim": ("hidden_dim", int), "nheads": ("nheads", int),
    "dec-layers": ("dec_layers", int), "dim-feedforward": ("dim_feedforward", int),
    "feats-channels": ("feats_channels", int), "mask-feats-channels": ("mask_feats_channels", int),
    "pool-scales": ("pool_scales", INT_LIST),
    "resize-long": ("resize_long", int), "resize-short": ("resize_short", int),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="sssegmentation checkpoint ({'model': state_dict})")
    src.add_argument("--random-init", action="store_true", help="random weights (tests, benchmarks)")
    src.add_argument("--torchscript", help="aoti, onnx: the weights and metadata of a TorchScript "
                                           "export (e.g. models/demo/demo.pt)")
    p.add_argument("--variant", choices=sorted(VARIANTS),
                   help="network variant (required unless --torchscript)")
    p.add_argument("--out", required=True, help="file to write (.pt TorchScript, .pt2 package)")
    p.add_argument("--format", choices=("torchscript", "aoti", "onnx"), default="torchscript",
                   help="torchscript (default, runs anywhere), aoti (AOTInductor .pt2) or onnx "
                        "(one network size, for comparisons with ONNX Runtime)")
    p.add_argument("--sizes", help="aoti: network input sizes WIDTHxHEIGHT[,...] to compile; "
                                   "onnx: the one size")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="aoti: device the package is compiled for")
    p.add_argument("--precision", choices=sorted(aoti.DTYPES), default="fp32",
                   help="aoti: precision the package is compiled for")
    p.add_argument("--seed", type=int, default=0, help="seed for --random-init")
    p.add_argument("--ema", action="store_true", help="use the checkpoint's 'model_ema' weights")
    p.add_argument("--no-verify", action="store_true", help="skip the TorchScript == eager check")
    for flag, (field, kind) in OVERRIDES.items():
        p.add_argument(f"--{flag}", type=kind, help=f"override {field}")
    args = p.parse_args(argv)

    if args.format == "onnx":
        return export_onnx(args, p)
    if args.torchscript:
        if args.format != "aoti":
            print("error: --torchscript is a source for --format aoti and onnx only",
                  file=sys.stderr)
            return 2
        try:
            sizes = aoti.parse_sizes(args.sizes or "")
            model, meta = aoti.from_torchscript(args.torchscript)
            t0 = time.time()
            aoti.export_aoti(model, meta, args.out, sizes, device=args.device,
                             precision=args.precision, check=not args.no_verify)
        except aoti.ExportError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"done in {time.time() - t0:.1f} s, {os.path.getsize(args.out) / 2**20:.1f} MiB on disk")
        return 0
    if args.variant is None:
        p.error("--variant is required with --checkpoint and --random-init")
    cfg = VARIANTS[args.variant]
    overrides = {field: getattr(args, flag.replace("-", "_"))
                 for flag, (field, _) in OVERRIDES.items()
                 if getattr(args, flag.replace("-", "_")) is not None}
    t0 = time.time()
    if args.checkpoint:
        try:
            model, cfg = load_checkpoint(args.checkpoint, cfg, overrides, use_ema=args.ema)
        except CheckpointError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        source, digest = os.path.basename(args.checkpoint), sha256_file(args.checkpoint)
        print(f"loaded {args.checkpoint} strictly ({sum(p.numel() for p in model.parameters()):,} "
              f"parameters) in {time.time() - t0:.1f} s")
    else:
        cfg = cfg.replace(**overrides)
        torch.manual_seed(args.seed)
        model = MaskFormer(cfg).eval()
        source, digest = None, None
        print(f"random {args.variant} (seed {args.seed}): "
              f"{sum(p.numel() for p in model.parameters()):,} parameters")
    if args.format == "aoti":
        try:
            sizes = aoti.parse_sizes(args.sizes or "")
            names, colours = default_classes(cfg.num_classes)
            meta = build_metadata(cfg, args.variant, names, colours, source, digest)
            aoti.export_aoti(model, meta, args.out, sizes, device=args.device,
                             precision=args.precision, check=not args.no_verify)
        except aoti.ExportError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"done in {time.time() - t0:.1f} s, "
              f"{os.path.getsize(args.out) / 2**20:.1f} MiB on disk")
        return 0
    else:
        if args.sizes or args.device != "cpu" or args.precision != "fp32":
            print("error: --sizes, --device and --precision apply to --format aoti only "
                  "(a TorchScript export runs at any size, device and precision)", file=sys.stderr)
            return 2
        export(model, cfg, args.variant, args.out, source, digest, check=not args.no_verify)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"done in {time.time() - t0:.1f} s, peak memory {peak:.0f} MiB, "
          f"{os.path.getsize(args.out) / 2**20:.1f} MiB on disk")
    return 0


def export_onnx(args, p) -> int:
    """--format onnx: from a TorchScript export's weights, a checkpoint or random weights."""
    t0 = time.time()
    try:
        size = onnx_export.parse_size(args.sizes)
        if args.device != "cpu" or args.precision != "fp32":
            raise onnx_export.ExportError("--device and --precision apply to --format aoti only "
                                          "(the ONNX file is fp32; ONNX Runtime picks its device)")
        if args.torchscript:
            model, meta = aoti.from_torchscript(args.torchscript)
        else:
            if args.variant is None:
                p.error("--variant is required with --checkpoint and --random-init")
            cfg = VARIANTS[args.variant]
            overrides = {field: getattr(args, flag.replace("-", "_"))
                         for flag, (field, _) in OVERRIDES.items()
                         if getattr(args, flag.replace("-", "_")) is not None}
            if args.checkpoint:
                model, cfg = load_checkpoint(args.checkpoint, cfg, overrides, use_ema=args.ema)
                source, digest = os.path.basename(args.checkpoint), sha256_file(args.checkpoint)
            else:
                cfg = cfg.replace(**overrides)
                torch.manual_seed(args.seed)
                model = MaskFormer(cfg).eval()
                source, digest = None, None
            names, colours = default_classes(cfg.num_classes)
            meta = build_metadata(cfg, args.variant, names, colours, source, digest)
        worst = onnx_export.export_onnx(model, meta, args.out, size, check=not args.no_verify)
    except (onnx_export.ExportError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not args.no_verify:
        print(f"ONNX Runtime == eager (max |diff| {worst:.2e})")
    print(f"done in {time.time() - t0:.1f} s, {os.path.getsize(args.out) / 2**20:.1f} MiB on disk")
    return 0


if __name__ == "__main__":
    sys.exit(main())
