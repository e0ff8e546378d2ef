#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Train a small MaskFormer on generated scenes and export it with its metadata.

The bundled demo model was made with exactly:

    /usr/bin/python3 models/scenes.py --out /tmp/scenes --train 4000 --val 200 --seed 1
    /usr/bin/python3 models/train.py --data /tmp/scenes --out models/demo/demo.pt \
        --log models/demo/train.log

Everything is seeded; on a 2-core CPU it takes about 42 minutes.
"""
import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from evaluate import evaluate  # noqa: E402
from maskformer import export as exporter  # noqa: E402
from maskformer import training  # noqa: E402
from maskformer.config import VARIANTS  # noqa: E402
from maskformer.network import MaskFormer  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", required=True, help="ADE20k-layout root with a training split")
    p.add_argument("--out", required=True, help="TorchScript file to write")
    p.add_argument("--log", help="append the training log here too")
    p.add_argument("--variant", default="demo", choices=sorted(VARIANTS))
    p.add_argument("--iters", type=int, default=2400)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=192)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--eval-every", type=int, default=1200)
    p.add_argument("--eval-images", type=int, default=50)
    p.add_argument("--train-short", type=int, default=320,
                   help="short side the training scales are relative to (long side 4x); the "
                        "test-time size in the metadata comes from the variant")
    p.add_argument("--amp", choices=["none", "bf16"], default="none",
                   help="bf16: forward pass under CPU/CUDA autocast in bfloat16 (weights, optimiser "
                        "state and losses stay fp32); about 2x faster on CPUs with AVX512-BF16/AMX")
    p.add_argument("--drop-path", type=float, help="stochastic depth rate (default: the variant's)")
    p.add_argument("--dropout", type=float, help="decoder dropout (default: the variant's)")
    p.add_argument("--init", help="start from the weights of this export (TorchScript .pt of the "
                                   "same variant), e.g. to train on where an earlier run ended")
    p.add_argument("--rare-crops", type=float, default=0.5,
                   help="share of crops centred on a rarely seen class present in the image")
    args = p.parse_args(argv)

    log_file = open(args.log, "a") if args.log else None

    def log(msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        if log_file:
            log_file.write(line + "\n")
            log_file.flush()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    cfg = VARIANTS[args.variant]
    if args.drop_path is not None:
        cfg = cfg.replace(drop_path_rate=args.drop_path)
    if args.dropout is not None:
        cfg = cfg.replace(dropout=args.dropout)
    log(f"command: {' '.join(sys.argv)}")
    log(f"torch {torch.__version__}, {args.threads} threads, autocast {args.amp}, variant "
        f"{args.variant}: {cfg}")
    data = training.load_split(args.data, "training")
    has_val = os.path.isdir(os.path.join(args.data, "images", "validation"))
    log(f"{len(data)} training images")
    model = MaskFormer(cfg)
    if args.init:
        model.load_state_dict(torch.jit.load(args.init, map_location="cpu").state_dict())
        log(f"weights from {args.init}")
    log(f"{sum(p.numel() for p in model.parameters()):,} parameters")
    opt = torch.optim.AdamW(training.param_groups(model, args.weight_decay), lr=args.lr)
    # scales relative to a 320 px short side: views from 0.5x to 1.2x of it, which validated
    # better for thin objects than centring on 1x; the demo variant is then tested at 288 px,
    # the scale chosen on the validation split after training (docs/models.md, "The demo model")
    freq = training.class_frequencies(data)
    aug = training.Augmenter(args.crop, 4 * args.train_short, args.train_short, (0.5, 1.2),
                             frequencies=freq, rare_share=args.rare_crops)
    names, palette = exporter.default_classes(cfg.num_classes)
    meta = exporter.build_metadata(cfg, args.variant, names, palette, None, None)

    t0 = time.time()
    smooth = None
    for it in range(1, args.iters + 1):
        # linear warmup, then poly (power 1) decay to 0
        if it <= args.warmup:
            lr = args.lr * it / args.warmup
        else:
            lr = args.lr * (1 - (it - args.warmup) / (args.iters - args.warmup + 1))
        for g in opt.param_groups:
            g["lr"] = lr
        model.train()
        images, labels = training.make_batch(rng, data, aug, args.batch, cfg.mean, cfg.std)
        targets = training.targets_from_labels(labels)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.amp == "bf16"):
            logits, masks = model.forward_all_layers(images)
        loss, parts = training.total_loss(logits.float(), masks.float(), targets, cfg.num_classes)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        value = float(loss)
        if not math.isfinite(value):
            log(f"iteration {it}: loss is {value}, stopping")
            return 1
        smooth = value if smooth is None else 0.95 * smooth + 0.05 * value
        if it % 20 == 0 or it == 1:
            el = time.time() - t0
            log(f"iter {it}/{args.iters} loss {value:.3f} (avg {smooth:.3f}) ce {parts['ce']:.3f} "
                f"focal {parts['mask']:.4f} dice {parts['dice']:.3f} lr {lr:.2e} "
                f"{el / it:.2f} s/iter, {el / 60:.1f} min")
        if has_val and args.eval_every and (it % args.eval_every == 0 or it == args.iters):
            model.eval()
            r = evaluate(model, meta, args.data, "validation", args.eval_images)
            log(f"iter {it}: validation mIoU {r['mIoU']:.4f} pixel acc "
                f"{r['pixel_accuracy']:.4f} on {r['images']} images")
    log(f"training took {(time.time() - t0) / 60:.1f} min")
    model.eval()
    exporter.export(model, cfg, args.variant, args.out, source="models/train.py",
                    source_sha256=None, check=True, log=log)
    if has_val:
        r = evaluate(torch.jit.load(args.out), meta, args.data, "validation")
        log(f"exported model: validation mIoU {r['mIoU']:.4f}, pixel accuracy "
            f"{r['pixel_accuracy']:.4f} on {r['images']} images; per class "
            + ", ".join(f"{k.split(',')[0]} {v:.3f}" for k, v in r["per_class_iou"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
