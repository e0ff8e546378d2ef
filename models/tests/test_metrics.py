# SPDX-License-Identifier: Apache-2.0
"""mIoU as sssegmentation computes it."""
import math

import numpy as np

from maskformer.metrics import Accumulator


def test_accumulates_over_images_and_ignores_id_zero():
    acc = Accumulator(3)
    acc.add(np.array([[0, 0, 1]]), np.array([[1, 2, 2]]))
    acc.add(np.array([[1, 2, 0]]), np.array([[2, 0, 1]]))
    r = acc.result(["a", "b", "c"])
    # class a: I=2 (one per image), pred 3, label 2 -> U=3; class b: I=2, pred 2, label 3 -> U=3
    assert math.isclose(r["per_class_iou"]["a"], 2 / 3)
    assert math.isclose(r["per_class_iou"]["b"], 2 / 3)
    assert "c" not in r["per_class_iou"]  # predicted only where the id is 0 (ignored)
    assert math.isclose(r["mIoU"], 2 / 3)
    assert math.isclose(r["pixel_accuracy"], 4 / 5)
    assert r["images"] == 2
