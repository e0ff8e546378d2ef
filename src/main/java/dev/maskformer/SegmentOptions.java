// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/**
 * Options of a segmentation call.
 *
 * @param labelType element type of returned label maps; {@code null} picks the smallest type that
 *     holds the model's classes. Ignored by the zero-copy calls, whose {@link Output} says it.
 * @param scores whether returned {@link Segmentation}s carry per-class scores. Ignored by the
 *     zero-copy calls.
 * @param resize {@code true} (default): the model's test-time resize rule, as in sssegmentation;
 *     {@code false}: the network sees each frame at its own size. Results always have the frame's
 *     size.
 */
public record SegmentOptions(LabelType labelType, boolean scores, boolean resize) {
  /** Automatic label type, no scores, the model's resize rule. */
  public static final SegmentOptions DEFAULTS = new SegmentOptions(null, false, true);

  public SegmentOptions withLabelType(LabelType type) {
    return new SegmentOptions(type, scores, resize);
  }

  public SegmentOptions withScores(boolean wanted) {
    return new SegmentOptions(labelType, wanted, resize);
  }

  public SegmentOptions withResize(boolean enabled) {
    return new SegmentOptions(labelType, scores, enabled);
  }
}
