# SPDX-License-Identifier: Apache-2.0
"""The synthetic dataset: deterministic, ADE-labelled, and not solvable by colour alone."""
import numpy as np

from maskformer import scenes
from maskformer.metrics import Accumulator


def test_generation_is_deterministic():
    a = scenes.generate(np.random.default_rng([3, 1]), 160, 120)
    b = scenes.generate(np.random.default_rng([3, 1]), 160, 120)
    c = scenes.generate(np.random.default_rng([3, 2]), 160, 120)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_labels_are_ade_ids_of_the_scene_classes():
    seen = set()
    for i in range(30):
        rgb, lab = scenes.generate(np.random.default_rng([5, i]))
        assert rgb.dtype == np.uint8 and rgb.shape[:2] == lab.shape
        seen |= set(np.unique(lab).tolist())
    assert seen <= set(scenes.SCENE_CLASSES) | {scenes.IGNORE}
    assert len(seen & set(scenes.SCENE_CLASSES)) == len(scenes.SCENE_CLASSES), "every class appears"


def test_split_layout(tmp_path):
    scenes.write_split(str(tmp_path), "validation", 3, seed=9)
    imgs = sorted((tmp_path / "images" / "validation").iterdir())
    anns = sorted((tmp_path / "annotations" / "validation").iterdir())
    assert [p.suffix for p in imgs] == [".jpg"] * 3 and [p.suffix for p in anns] == [".png"] * 3
    assert [p.stem for p in imgs] == [p.stem for p in anns]


def test_a_colour_rule_fails():
    """Nearest class colour (learned on training scenes) scores far below the demo model."""
    train = [scenes.generate(np.random.default_rng([11, i])) for i in range(40)]
    test = [scenes.generate(np.random.default_rng([12, i])) for i in range(20)]
    # quantised colour -> most frequent class, from the training scenes
    bins = 16
    votes = np.zeros((bins ** 3, 151), np.int64)
    for rgb, lab in train:
        q = (rgb // (256 // bins)).astype(np.int64)
        idx = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
        np.add.at(votes, (idx.ravel(), lab.ravel()), 1)
    votes[:, 0] = 0
    rule = votes.argmax(1)
    acc = Accumulator(150)
    for rgb, lab in test:
        q = (rgb // (256 // bins)).astype(np.int64)
        pred = rule[(q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]] - 1
        acc.add(np.clip(pred, 0, 149), lab)
    miou = acc.result()["mIoU"]
    assert miou < 0.55, f"a per-pixel colour rule reaches mIoU {miou:.3f}: scenes are too easy"
