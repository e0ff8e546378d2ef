#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Test fixtures for the Java and C tests, made by our own models/ code (Maven runs this in
pre-integration-test):

  tiny.pt            test-tiny export, random weights (150 ADE classes)
  tiny-k300.pt       the same architecture with 300 classes (int32 labels, 16-bit PNGs) and a
                     pixel decoder 384 channels wide, like the zoo's 512 (its 3x3 convolutions
                     run as Winograd in the shim's CPU rewrites; ParityIT compares them)
  tiny.pt2           tiny.pt's weights as an AOTInductor package for the CPU, fp32, compiled
                     for the network size 128x128 (the size of scene_128x128) with a dynamic
                     batch (about 50 s of compilation on one core)
  images/*.png       generated scenes of several sizes (lossless, so Java and Python see the
                     same pixels)
  golden/<model>/<image>.labels.i32, .scores.f32   labels (and, for images of at most
                     128x128 pixels, scores) from the reference pipeline (OpenCV resize,
                     torch.jit.load of the same file)
  golden/segments/   segments, segment ids, iterative-rule labels and confidence from
                     maskformer/segments.py for several thresholds (cases.txt lists them)
  bad/*.pt2          packages that must be refused before their code runs: no metadata, built
                     for CUDA, by a newer torch, a truncated file
  bad/*.pt           broken models: empty, truncated, not an archive, no metadata, invalid
                     metadata, metadata of a newer format, wrong outputs, and hostile ones
                     (endless loops, NaN/meta/sparse/integer outputs, a forward that raises or
                     asks for 1 PiB, absurd resize metadata)
  video.mp4          12 frames of a panning scene (when ffmpeg is installed)
  eval/              a small ADE20k-layout split, and eval/expected.json: the Python evaluator's
                     numbers for the bundled demo model (when models/demo/demo.pt exists)
  manifest.json      what is where

Everything is seeded and skipped when already present and newer than this script.
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import time
from typing import List, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from evaluate import evaluate  # noqa: E402
try:  # AOTInductor packages need torch >= 2.6; Debian's 1.13 (the compatibility stage) has none
    from maskformer import aoti  # noqa: E402
except ImportError:
    aoti = None
from maskformer import export as exporter  # noqa: E402
from maskformer.config import VARIANTS  # noqa: E402
from maskformer.network import MaskFormer  # noqa: E402
from maskformer.reference import segment  # noqa: E402
from maskformer.scenes import generate, write_split  # noqa: E402
from maskformer import segments as seg  # noqa: E402

IMAGES = {  # name: (width, height, seed)
    "scene_97x61": (97, 61, 1),
    "scene_320x256": (320, 256, 2),
    "scene_333x517": (333, 517, 3),
    "scene_640x480": (640, 480, 4),
    "scene_128x128": (128, 128, 5),
}
HERE = os.path.dirname(os.path.abspath(__file__))
DEMO = os.path.join(HERE, "demo", "demo.pt")


class Wrong(torch.nn.Module):
    """A valid TorchScript module that does not keep the MaskFormer output contract."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1)


class Greedy(torch.nn.Module):
    """A valid export whose forward asks for 2**50 bytes (more than any address space) on inputs
    taller than `above` rows: out of memory inside the TorchScript interpreter."""

    def __init__(self, inner: torch.nn.Module, above: int):
        super().__init__()
        self.inner = inner
        self.above = above

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if x.shape[2] > self.above:
            x = x + torch.empty(281474976710656, dtype=torch.float32)[0]  # 2**48 floats
        return self.inner(x)


class Hostile(torch.nn.Module):
    """A valid export that misbehaves in one way on inputs taller than `above` rows: loops without
    end, returns NaN, infinity, meta, sparse or integer tensors, or raises (one subclass each)."""

    def __init__(self, inner: torch.nn.Module, above: int):
        super().__init__()
        self.inner = inner
        self.above = above


class EndlessWhile(Hostile):
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if x.shape[2] > self.above:
            while bool(x.sum() > -1.0):  # stays true
                x = x + 1.0
        return self.inner(x)


class CountFromValues(Hostile):
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if x.shape[2] > self.above:
            for _ in range(int(x.sum().item()) + 1000000000000):  # a trip count read from data
                x = x + 1.0
        return self.inner(x)


class NanMasks(Hostile):
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        logits, masks = self.inner(x)
        if x.shape[2] > self.above:
            masks = masks * float("nan")
        return logits, masks


class InfLogits(Hostile):
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        logits, masks = self.inner(x)
        if x.shape[2] > self.above:
            logits = logits / 0.0
        return logits, masks


class MetaLogits(Hostile):
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        logits, masks = self.inner(x)
        if x.shape[2] > self.above:
            logits = torch.empty(logits.shape, device="meta")
        return logits, masks


class SparseMasks(Hostile):
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        logits, masks = self.inner(x)
        if x.shape[2] > self.above:
            masks = masks.to_sparse()
        return logits, masks


class IntLogits(Hostile):
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        logits, masks = self.inner(x)
        if x.shape[2] > self.above:
            logits = logits.to(torch.int32)
        return logits, masks


class Raises(Hostile):
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if x.shape[2] > self.above:
            raise RuntimeError("this model refuses to run")
        return self.inner(x)


class Slow(Hostile):
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if x.shape[2] > self.above:
            for _ in range(60000):  # bounded, but seconds long
                x = x * 1.0
        return self.inner(x)


def _spin(x: torch.Tensor) -> torch.Tensor:
    while bool(x.sum() > -1.0):
        x = x + 1.0
    return x


class Forks(Hostile):
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if x.shape[2] > self.above:
            x = torch.jit.wait(torch.jit.fork(_spin, x))  # the endless loop in forked code
        return self.inner(x)


class GrownList(Hostile):
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if x.shape[2] > self.above:
            n: List[int] = [1]
            n.append(int(x.sum().item()) + 1000000000000)
            for _ in range(len(n) * n[1]):  # a length and an element of a list changed in place
                x = x + 1.0
        return self.inner(x)


class Nested(Hostile):
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if x.shape[2] > self.above:
            for _ in range(1 << 20):  # each bounded, 2^60 together
                for _ in range(1 << 20):
                    for _ in range(1 << 20):
                        x = x + 1.0
        return self.inner(x)


class SizeCount(Hostile):
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if x.shape[2] > self.above:
            for _ in range(x.view(-1)[:1].expand(1 << 40).size(0)):  # a size costs nothing
                x = x + 1.0
        return self.inner(x)


class SetState(Hostile):
    @torch.jit.export
    def __getstate__(self) -> Tuple[int, bool]:
        return self.above, self.training

    @torch.jit.export
    def __setstate__(self, state: Tuple[int, bool]) -> None:
        self.above = state[0]
        self.training = state[1]
        n = state[0]
        while n > -1:  # runs while the archive is unpickled
            n = n + 1

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.inner(x)


class UnbatchedConv(torch.nn.Module):
    """A valid export whose CPU rewrite cannot run: an identity 3x3 convolution on the unbatched
    (C, H, W) image before the network (oneDNN's pointwise convolution takes batches only), so
    the load falls back to the module as exported."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner
        self.same = torch.nn.Conv2d(3, 3, 3, padding=1)
        with torch.no_grad():
            self.same.weight.zero_()
            self.same.bias.zero_()
            for c in range(3):
                self.same.weight[c, c, 1, 1] = 1.0

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.inner(self.same(x[0]).unsqueeze(0))


HOSTILE = {"slow": Slow, "fork": Forks, "grown": GrownList, "nested": Nested, "size": SizeCount,
           "setstate": SetState, "while": EndlessWhile, "count": CountFromValues, "nan": NanMasks, "inf": InfLogits,
           "meta": MetaLogits, "sparse": SparseMasks, "int": IntLogits, "raise": Raises}


def export_random(variant: str, path: str, seed: int, **overrides) -> dict:
    torch.manual_seed(seed)
    cfg = VARIANTS[variant].replace(**overrides)
    model = MaskFormer(cfg).eval()
    return exporter.export(model, cfg, variant, path, check=False, log=lambda *_: None)


AOTI_SIZE = (128, 128)  # (h, w): scene_128x128's network size under test-tiny's resize rule


def export_random_aoti(variant: str, path: str, seed: int, sizes) -> dict:
    """The same weights as export_random(variant, ..., seed) as a package of ``sizes``."""
    torch.manual_seed(seed)
    cfg = VARIANTS[variant]
    model = MaskFormer(cfg).eval()
    names, colours = exporter.default_classes(cfg.num_classes)
    meta = exporter.build_metadata(cfg, variant, names, colours, None, None)
    return aoti.export_aoti(model, meta, path, sizes, check=False, log=lambda *_: None)


def rewrite_package(src: str, dst: str, edit) -> None:
    """A copy of package ``src`` whose maskformer.json is ``edit(metadata)`` (None: left out)."""
    import zipfile
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith("/extra/" + aoti.METADATA_FILE):
                meta = edit(json.loads(data))
                if meta is None:
                    continue
                data = json.dumps(meta).encode()
            zout.writestr(item, data)


def broken_packages(bad: str, good: str, add) -> None:
    rewrite_package(good, add("no-metadata.pt2", "package without maskformer.json"), lambda m: None)
    rewrite_package(good, add("cuda.pt2", "package compiled for CUDA (metadata says so)"),
                    lambda m: dict(m, aoti=dict(m["aoti"], device="cuda")))
    rewrite_package(good, add("future-torch.pt2", "package exported by torch 99.0"),
                    lambda m: dict(m, exported_with=dict(m["exported_with"], torch="99.0.0")))
    data = open(good, "rb").read()
    open(add("truncated.pt2", "first half of a package"), "wb").write(data[: len(data) // 2])


def write_goldens(model_path: str, images: dict, out_dir: str) -> None:
    meta = exporter.read_metadata(model_path)
    module = torch.jit.load(model_path, map_location="cpu").eval()
    os.makedirs(out_dir, exist_ok=True)
    for name, path in images.items():
        labels, scores = segment(module, cv2.imread(path, cv2.IMREAD_COLOR), meta)
        labels.astype("<i4").tofile(os.path.join(out_dir, name + ".labels.i32"))
        if labels.size <= 128 * 128:  # scores are K x H x W floats: kept for the small images only
            scores.numpy().astype("<f4").tofile(os.path.join(out_dir, name + ".scores.f32"))


# segment cases: name -> (model, object threshold, overlap threshold, merge, iterative overlap or
# None); thresholds are moved to the middle of the gap between the values they are compared with,
# so that float rounding (Java vs Python) cannot flip a decision
SEGMENT_CASES = {
    "default": ("demo", 0.8, 0.8, False, None),
    "loose-merge": ("demo", 0.3, 0.5, True, None),
    "strict": ("demo", 0.97, 0.8, False, None),
    "iterative": ("demo", 0.8, 0.8, False, 0.8),
    "iterative-low": ("demo", 0.5, 0.7, True, 0.3),
    "tiny": ("tiny", 0.02, 0.8, False, 0.9),
    "tiny-merge": ("tiny", 0.02, 0.5, True, None),
}
SEGMENT_IMAGES = ("scene_97x61", "scene_320x256", "scene_128x128")


def away_from(threshold: float, values) -> float:
    """The middle of the gap between sorted `values` that holds `threshold` (unchanged when no
    value lies within 1e-3 of it)."""
    below = max([v for v in values if v <= threshold], default=None)
    above = min([v for v in values if v > threshold], default=None)
    if all(v is None or abs(v - threshold) > 1e-3 for v in (below, above)):
        return threshold
    if below is None:
        return max(0.0, above - 0.01)
    if above is None:
        return min(1.0, below + 0.01)
    return (below + above) / 2


def write_segment_goldens(models: dict, images: dict, out_dir: str) -> None:
    """golden/segments/cases.txt: 'case model image object overlap merge iterative' lines
    (iterative -1: the probabilistic rule); per case and image <case>.<image>.segments.txt
    ('id class query area x0 y0 x1 y1 score' lines) and .ids.i32, .labels.i32, .confidence.f32."""
    os.makedirs(out_dir, exist_ok=True)
    lines = []
    merges_seen = False
    for case, (model_name, obj, overlap, merge, iterative) in SEGMENT_CASES.items():
        path = models[model_name]
        meta = exporter.read_metadata(path)
        module = torch.jit.load(path, map_location="cpu").eval()
        bgrs = {n: cv2.imread(images[n], cv2.IMREAD_COLOR) for n in SEGMENT_IMAGES}
        outs = {n: seg.forward(module, bgrs[n], meta) for n in SEGMENT_IMAGES}
        # thresholds away from what they are compared with, on every image of the case
        runs = {n: seg.run(module, bgrs[n], meta, object_threshold=1.0, overlap_threshold=1.0,
                           outputs=outs[n]) for n in SEGMENT_IMAGES}
        scores = [float(v) for r in runs.values()
                  for v in torch.softmax(r["logits"], -1).max(-1).values]
        obj = away_from(obj, scores)
        ratios = []
        iter_ratios = []
        for n in SEGMENT_IMAGES:
            ratios += seg.run(module, bgrs[n], meta, object_threshold=obj, overlap_threshold=1.0,
                              outputs=outs[n])["counts"]["ratios"]
            iter_ratios += [v for v in seg.iterative_ratios(runs[n]["logits"], runs[n]["net_probs"])
                            if v is not None]
        overlap = away_from(overlap, ratios)
        if iterative is not None:
            iterative = away_from(iterative, iter_ratios)
        dropped = scored = kept_segments = merged = 0
        kept = []
        queries = meta["num_queries"] * len(SEGMENT_IMAGES)
        for n in SEGMENT_IMAGES:
            r = seg.run(module, bgrs[n], meta, iterative=iterative, object_threshold=obj,
                        overlap_threshold=overlap, merge=merge, outputs=outs[n])
            stem = os.path.join(out_dir, f"{case}.{n}")
            with open(stem + ".segments.txt", "w") as f:
                for s in r["segments"]:
                    f.write("%d %d %d %d %d %d %d %d %.9g\n" % (
                        s["id"], s["class"], s["query"], s["area"], *s["bbox"], s["score"]))
            r["ids"].astype("<i4").tofile(stem + ".ids.i32")
            r["labels"].astype("<i4").tofile(stem + ".labels.i32")
            r["confidence"].numpy().astype("<f4").tofile(stem + ".confidence.f32")
            lines.append(f"{case} {model_name} {n} {obj!r} {overlap!r} {int(merge)} "
                         f"{-1 if iterative is None else repr(iterative)}")
            dropped += r["counts"]["dropped"]
            scored += r["counts"]["scored"]
            kept_segments += len(r["segments"])
            merged += r["counts"]["scored"] - r["counts"]["dropped"] - len(r["segments"])
            kept.append(r["kept"])
        # every case must decide something: segments kept, and queries dropped by a threshold
        summary = (f"{scored} of {queries} queries scored, {dropped} dropped by overlap, "
                   f"{kept_segments} segments, {merged} queries merged into others, queries kept "
                   f"by the iterative rule per image {kept}")
        merges_seen = merges_seen or merged > 0
        if (kept_segments == 0 or (scored == queries and dropped == 0)
                or (iterative is not None and sum(kept) in (0, queries))):
            raise SystemExit(f"segment case {case} is degenerate: {summary}")
        print(f"segment case {case}: {summary}")
    if not merges_seen:
        raise SystemExit("no segment case merges segments of one class")
    with open(os.path.join(out_dir, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def rewrite_pickle(src: str, dst: str, suffix: str, opcode: str, patch) -> None:
    """A copy of export ``src`` whose first record ending in ``suffix`` has its first ``opcode``
    (a pickletools name) replaced by ``patch(opcode_bytes)``; the rest is byte for byte the same."""
    import pickletools
    import zipfile
    done = False
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if not done and item.filename.endswith(suffix):
                ops = list(pickletools.genops(data))
                for i, (op, _arg, pos) in enumerate(ops):
                    if op.name == opcode:
                        end = ops[i + 1][2] if i + 1 < len(ops) else len(data)
                        data = data[:pos] + patch(data[pos:end]) + data[end:]
                        done = True
                        break
            zout.writestr(item, data)
    if not done:
        raise SystemExit(f"no {opcode} in a record ending in {suffix} of {src}")


def hostile_pickles(good: str, add) -> None:
    # LibTorch's unpickler grows its memo table to any index a PUT names and sizes a string by its
    # length field before reading it: each of these would make it allocate (and fill) GBs
    rewrite_pickle(good, add("pickle-memo.pt", "data.pkl: LONG_BINPUT index 2^31-1 (a 32 GiB memo table)"),
                   "/data.pkl", "BINPUT", lambda b: b"r" + struct.pack("<I", 0x7FFFFFFF))
    rewrite_pickle(good, add("pickle-length.pt", "data.pkl: BINUNICODE length 2^31-16, past the record's end"),
                   "/data.pkl", "BINUNICODE", lambda b: b"X" + struct.pack("<I", 0x7FFFFFF0) + b[5:])
    # a code file's debug_pkl is unpickled only when an error message quotes the code: found by
    # fuzz_archive, a 20 GB memo table from a mutated archive whose code also failed to parse
    rewrite_pickle(good, add("pickle-debug-memo.pt", "a debug_pkl: LONG_BINPUT index 2^30"),
                   ".debug_pkl", "BINPUT", lambda b: b"r" + struct.pack("<I", 0x40000000))


def broken_models(out: str, good: str, package: str) -> dict:
    bad = os.path.join(out, "bad")
    os.makedirs(bad, exist_ok=True)
    files = {}

    def add(name, description):
        files[name] = {"path": os.path.join(bad, name), "problem": description}
        return os.path.join(bad, name)

    open(add("empty.pt", "0 bytes"), "wb").close()
    data = open(good, "rb").read()
    open(add("truncated.pt", "first half of a valid export"), "wb").write(data[: len(data) // 2])
    open(add("text.pt", "a text file"), "w").write("this is not a model\n")
    # weights from training, as the zoo publishes them ({'model': state_dict}), in torch.save's zip
    # format and its legacy (pre-1.6) one: not exports, and the loader must say so
    weights = {"model": MaskFormer(VARIANTS["test-tiny"]).state_dict()}
    torch.save(weights, add("checkpoint.pth", "a training checkpoint (torch.save zip)"))
    torch.save(weights, add("checkpoint-legacy.pth", "a training checkpoint (torch.save legacy format)"),
               _use_new_zipfile_serialization=False)
    scripted = torch.jit.script(MaskFormer(VARIANTS["test-tiny"]).eval())
    torch.jit.save(scripted, add("no-metadata.pt", "TorchScript without maskformer.json"))
    torch.jit.save(scripted, add("bad-json.pt", "maskformer.json is not JSON"),
                   _extra_files={"maskformer.json": "{\"format\": \"maskformer-java\", "})
    meta = exporter.read_metadata(good)
    missing = dict(meta)
    del missing["classes"]
    torch.jit.save(scripted, add("missing-field.pt", "metadata without classes"),
                   _extra_files={"maskformer.json": json.dumps(missing)})
    future = dict(meta, format_version=99)
    torch.jit.save(scripted, add("future-format.pt", "metadata format 99"),
                   _extra_files={"maskformer.json": json.dumps(future)})
    torch.jit.save(torch.jit.script(Wrong()), add("wrong-outputs.pt", "forward returns one tensor"),
                   _extra_files={"maskformer.json": json.dumps(meta)})
    inner = MaskFormer(VARIANTS["test-tiny"]).eval()
    torch.jit.save(torch.jit.script(Greedy(inner, 0)), add("greedy-always.pt", "forward asks for 1 PiB"),
                   _extra_files={"maskformer.json": json.dumps(meta)})
    torch.jit.save(torch.jit.script(Greedy(inner, 100)),
                   add("greedy-large.pt", "forward asks for 1 PiB on inputs taller than 100 rows"),
                   _extra_files={"maskformer.json": json.dumps(meta)})
    torch.jit.save(torch.jit.script(UnbatchedConv(inner)),
                   add("unbatched-conv.pt", "valid, but its CPU-rewritten form fails (a convolution on an unbatched input)"),
                   _extra_files={"maskformer.json": json.dumps(meta)})
    for mode, kind in HOSTILE.items():
        # -always: misbehaves in the load probe as well; -large: only on inputs over 100 rows
        for suffix, above in (("always", 0), ("large", 100)):
            torch.jit.save(torch.jit.script(kind(inner, above)),
                           add(f"{mode}-{suffix}.pt", f"forward misbehaves ({mode}) on inputs over {above} rows"),
                           _extra_files={"maskformer.json": json.dumps(meta)})
    hostile_pickles(good, add)
    for side in ("long_side", "short_side"):
        huge = json.loads(json.dumps(meta))
        huge["resize"][side] = 32768
        torch.jit.save(scripted, add(f"huge-{side}.pt", f"metadata resize {side} 32768"),
                       _extra_files={"maskformer.json": json.dumps(huge)})
    if package is not None:
        broken_packages(bad, package, add)
    return files


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = p.parse_args(argv)
    out = args.out
    manifest_path = os.path.join(out, "manifest.json")
    inputs = [os.path.abspath(__file__), DEMO] + [
        os.path.join(HERE, "maskformer", f) for f in os.listdir(os.path.join(HERE, "maskformer"))
        if f.endswith(".py")]
    newest = max(os.path.getmtime(f) for f in inputs if os.path.exists(f))
    if (not args.force and os.path.exists(manifest_path)
            and os.path.getmtime(manifest_path) > newest):
        print(f"fixtures in {out} are up to date")
        return 0
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for stale in ("golden", "bad", "eval", "images"):  # nothing from an older layout survives
        shutil.rmtree(os.path.join(out, stale), ignore_errors=True)
    os.makedirs(os.path.join(out, "images"), exist_ok=True)

    models = {"tiny": os.path.join(out, "tiny.pt"), "tiny-k300": os.path.join(out, "tiny-k300.pt")}
    export_random("test-tiny", models["tiny"], seed=0)
    export_random("test-tiny", models["tiny-k300"], seed=1, num_classes=300, feats_channels=384,
                  mask_feats_channels=384)
    package = None
    if aoti is not None and aoti.available():
        package = os.path.join(out, "tiny.pt2")
        t0 = time.time()
        export_random_aoti("test-tiny", package, seed=0, sizes=[AOTI_SIZE])
        print(f"compiled {package} in {time.time() - t0:.0f} s")
    else:
        print(f"torch {torch.__version__} cannot export AOTInductor packages: no tiny.pt2")

    images = {}
    for name, (w, h, seed) in IMAGES.items():
        rgb, _ = generate(np.random.default_rng([77, seed]), w, h)
        path = os.path.join(out, "images", name + ".png")
        cv2.imwrite(path, rgb[:, :, ::-1])
        images[name] = path
    for model_name, model_path in models.items():
        write_goldens(model_path, images, os.path.join(out, "golden", model_name))

    video = None
    if shutil.which("ffmpeg"):
        rgb, _ = generate(np.random.default_rng([78, 1]), 400, 160)
        video = os.path.join(out, "video.mp4")
        frames = b"".join(np.ascontiguousarray(rgb[:, 8 * i:8 * i + 160, ::-1]).tobytes()
                          for i in range(12))
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
                        "-s", "160x160", "-r", "12", "-i", "-", "-pix_fmt", "yuv420p", video],
                       input=frames, check=True)

    if os.path.exists(DEMO):
        write_segment_goldens(dict(models, demo=DEMO), images, os.path.join(out, "golden", "segments"))

    manifest = {
        "video": video,
        "models": models,
        "images": {n: {"path": p, "width": IMAGES[n][0], "height": IMAGES[n][1]}
                   for n, p in images.items()},
        "golden": {m: os.path.join(out, "golden", m) for m in models},
        "packages": {"tiny": {"path": package, "sizes": [[AOTI_SIZE[1], AOTI_SIZE[0]]],
                              "weights_of": models["tiny"]}},
        "bad": broken_models(out, models["tiny"], package),
    }
    if os.path.exists(DEMO):
        eval_root = os.path.join(out, "eval")
        write_split(eval_root, "validation", 12, seed=4242)
        meta = exporter.read_metadata(DEMO)
        module = torch.jit.load(DEMO, map_location="cpu").eval()
        result = evaluate(module, meta, eval_root, "validation")
        with open(os.path.join(eval_root, "expected.json"), "w") as f:
            json.dump(result, f, indent=1)
        manifest["eval"] = {"root": eval_root, "model": DEMO,
                            "expected": os.path.join(eval_root, "expected.json")}
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"wrote fixtures to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
