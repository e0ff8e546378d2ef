#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Floating-point operations of one forward pass of an export at a network input size, counted
by PyTorch's FlopCounterMode (matmuls and convolutions, 2 per multiply-add), as JSON. `bench`
uses it to print the achieved GFLOP/s of the forward pass.

    ./maskformer python models/flops.py --model swin-tiny.pt --size 512x512
"""
import argparse
import json
import sys

import torch


def forward_flops(model_path: str, width: int, height: int, batch: int = 1) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    module = torch.jit.load(model_path, map_location="cpu").eval()
    x = torch.zeros(batch, 3, height, width)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        module(x)
    return int(counter.get_total_flops())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--size", required=True, help="network input WxH")
    p.add_argument("--batch", type=int, default=1)
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    flops = forward_flops(args.model, w, h, args.batch)
    print(json.dumps({"model": args.model, "network_input": f"{w}x{h}", "batch": args.batch,
                      "gflop": flops / 1e9, "torch": torch.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
