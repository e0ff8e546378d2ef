// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/**
 * Which of the model's queries become segments: MaskFormer's panoptic inference with every class
 * treated as "stuff", at the frame size.
 *
 * <p>A query takes part when its most probable class is not "no object" and that probability is
 * greater than {@code objectThreshold}. Each pixel belongs to the taking-part query with the
 * largest class probability x mask probability there. A query then survives when those pixels
 * are at least {@code overlapThreshold} of its own mask (mask probability &gt;= 0.5); its pixels
 * become one segment, or, with {@code mergeSameClass}, join the segment of the first surviving
 * query of the same class. Pixels of queries that did not survive belong to no segment (id 0).
 *
 * @param objectThreshold in [0, 1]; MaskFormer's default 0.8
 * @param overlapThreshold in [0, 1]; MaskFormer's default 0.8
 * @param mergeSameClass one segment per class (MaskFormer's rule for "stuff" classes) instead of
 *     one per query
 */
public record SegmentRule(double objectThreshold, double overlapThreshold, boolean mergeSameClass) {
  /** MaskFormer's thresholds (0.8, 0.8), one segment per query. */
  public static final SegmentRule DEFAULTS = new SegmentRule(0.8, 0.8, false);

  /** @throws IllegalArgumentException a threshold outside [0, 1] or NaN */
  public SegmentRule {
    SegmentOptions.checkThreshold(objectThreshold, "objectThreshold");
    SegmentOptions.checkThreshold(overlapThreshold, "overlapThreshold");
  }

  public SegmentRule withObjectThreshold(double threshold) {
    return new SegmentRule(threshold, overlapThreshold, mergeSameClass);
  }

  public SegmentRule withOverlapThreshold(double threshold) {
    return new SegmentRule(objectThreshold, threshold, mergeSameClass);
  }

  public SegmentRule withMergeSameClass(boolean merge) {
    return new SegmentRule(objectThreshold, overlapThreshold, merge);
  }
}
