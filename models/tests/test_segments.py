# SPDX-License-Identifier: Apache-2.0
"""The segment, iterative-rule and confidence reference (maskformer/segments.py) on cases whose
answers are worked out by hand, and its consistency with the label pipeline."""
import math

import numpy as np
import torch
import torch.nn.functional as F

from maskformer import segments as seg
from maskformer.reference import segment as reference_segment

BIG = 20.0  # a logit that makes a probability ~1


def logits_for(classes, k, confidence=BIG):
    """(Q, K+1) logits whose query q prefers class classes[q] (k = no object)."""
    out = torch.zeros(len(classes), k + 1)
    for q, c in enumerate(classes):
        out[q, c] = confidence
    return out


def test_segments_by_hand():
    k = 3
    # query 0: class 0 on the left half; query 1: class 1 on the right half;
    # query 2: class 2, weak (filtered by the object threshold); query 3: "no object"
    logits = logits_for([0, 1, 2, 3], k)
    logits[2, 2] = 0.5
    masks = torch.zeros(4, 4, 6)
    masks[0, :, :3] = 0.9
    masks[1, :, 3:] = 0.7
    masks[2] = 0.99
    masks[3] = 0.99
    ids, found, counts = seg.segments(logits, masks, 0.8, 0.8)
    assert counts["scored"] == 2 and counts["dropped"] == 0
    assert [s["class"] for s in found] == [0, 1]
    assert [s["area"] for s in found] == [12, 12]
    assert found[0]["bbox"] == [0, 0, 3, 4] and found[1]["bbox"] == [3, 0, 6, 4]
    p0 = torch.softmax(logits[0], -1).max().item()
    assert math.isclose(found[0]["score"], p0 * 0.9, rel_tol=1e-6)
    assert (ids[:, :3] == 1).all() and (ids[:, 3:] == 2).all()


def test_overlap_threshold_drops_a_query_that_loses_its_mask():
    k = 2
    logits = logits_for([0, 1], k)
    masks = torch.zeros(2, 2, 10)
    masks[0, :, :] = 0.9   # everywhere, and stronger
    masks[1, :, 6:] = 0.6  # its own mask is taken by query 0
    ids, found, counts = seg.segments(logits, masks, 0.5, 0.8)
    assert [s["class"] for s in found] == [0] and counts["dropped"] == 1
    assert found[0]["area"] == 20 and (ids == 1).all()
    # at overlap 0 the loser still has no pixels: area 0 never survives
    _, found, _ = seg.segments(logits, masks, 0.5, 0.0)
    assert len(found) == 1


def test_dropped_query_pixels_have_no_segment():
    k = 2
    logits = logits_for([0, 1], k)
    masks = torch.zeros(2, 1, 10)
    masks[0, 0, :8] = 0.9      # mask of 8 pixels, wins only 5 of them
    masks[1, 0, 5:] = 0.95     # wins 5 of its 5
    ids, found, counts = seg.segments(logits, masks, 0.5, 0.7)
    assert [s["class"] for s in found] == [1]
    assert ids[0].tolist() == [0] * 5 + [1] * 5


def test_merge_joins_segments_of_one_class():
    k = 2
    logits = logits_for([1, 1], k)
    masks = torch.zeros(2, 3, 4)
    masks[0, :, :2] = 0.8
    masks[1, :, 2:] = 0.6
    _, apart, _ = seg.segments(logits, masks, 0.5, 0.8, merge=False)
    ids, merged, _ = seg.segments(logits, masks, 0.5, 0.8, merge=True)
    assert len(apart) == 2 and len(merged) == 1
    assert merged[0]["area"] == 12 and merged[0]["query"] == 0 and (ids == 1).all()
    p = torch.softmax(logits[0], -1).max().item()
    assert math.isclose(merged[0]["score"], p * (0.8 + 0.6) / 2, rel_tol=1e-6)


def test_iterative_rule_drops_queries_outside_their_class_region():
    k = 2
    # queries 0 and 1 own the left and right halves; query 2 says class 0 but its mask lies on
    # the right half, where class 1 wins; query 3 has an empty mask (kept)
    logits = logits_for([0, 1, 0, 0], k)
    logits[2, 0] = 2.0
    probs = torch.zeros(4, 4, 8)
    probs[0, :, :4] = 0.9
    probs[1, :, 4:] = 0.9
    probs[2, :, 4:] = 0.6
    keep = seg.iterative_keep(logits, probs, 0.8)
    assert keep.tolist() == [True, True, False, True]
    ratios = seg.iterative_ratios(logits, probs)
    assert ratios[0] == 1.0 and ratios[2] == 0.0 and ratios[3] is None
    scores = seg.class_scores(logits, probs, keep)
    expected = torch.einsum("qc,qhw->chw", torch.softmax(logits, -1)[[0, 1, 3], :k], probs[[0, 1, 3]])
    assert torch.allclose(scores, expected, atol=1e-7)


def test_frame_mask_probs_reproduce_the_label_scores(tiny_export):
    """einsum(class probabilities, frame-size mask probabilities) = the label path's scores."""
    path, _ = tiny_export
    from maskformer.export import read_metadata
    meta = read_metadata(path)
    module = torch.jit.load(path)
    bgr = np.random.default_rng(3).integers(0, 256, (61, 97, 3), dtype=np.uint8)
    labels, scores = reference_segment(module, bgr, meta)
    logits, masks, net = seg.forward(module, bgr, meta)
    frame = seg.frame_mask_probs(masks, net, (61, 97))
    mine = torch.einsum("qc,qhw->chw", F.softmax(logits, -1)[:, :-1], frame)
    assert (mine - scores).abs().max() < 1e-5
    r = seg.run(module, bgr, meta, object_threshold=0.0, overlap_threshold=0.5)
    assert np.array_equal(r["labels"], labels)
    assert torch.allclose(r["confidence"], scores.max(0).values)
    # ids and segment areas agree
    for s in r["segments"]:
        assert (r["ids"] == s["id"]).sum() == s["area"]
    assert set(np.unique(r["ids"])) <= {0} | {s["id"] for s in r["segments"]}


def test_confidence_u8_saturates():
    c = torch.tensor([-0.1, 0.0, 0.5, 1.0, 1.7, 0.999])
    assert seg.confidence_u8(c).tolist() == [0, 0, 128, 255, 255, 255]
