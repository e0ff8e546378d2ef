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
 * @param segments {@code null} (default): no segments; else the rule that makes them (returned
 *     {@link Segmentation}s then carry a segment-id map and {@link Segmentation#segments()}; the
 *     zero-copy calls return the segments and fill {@link Output#segmentIds()} when given)
 * @param semanticRule how the class scores behind the labels are made (default {@link
 *     SemanticRule#PROBABILISTIC}, sssegmentation's)
 * @param iterativeOverlap the overlap threshold of {@link SemanticRule#ITERATIVE}, in [0, 1]
 *     (default 0.8, MaskFormer's)
 * @param confidence {@code null} (default): no confidence map in returned {@link Segmentation}s;
 *     else its element type. Ignored by the zero-copy calls, whose {@link Output} says it.
 */
public record SegmentOptions(
    LabelType labelType,
    boolean scores,
    boolean resize,
    SegmentRule segments,
    SemanticRule semanticRule,
    double iterativeOverlap,
    ConfidenceType confidence) {
  /** Automatic label type, no scores, the model's resize rule, labels only. */
  public static final SegmentOptions DEFAULTS = new SegmentOptions(null, false, true);

  /**
   * @throws NullPointerException semanticRule is null
   * @throws IllegalArgumentException iterativeOverlap outside [0, 1] or NaN
   */
  public SegmentOptions {
    java.util.Objects.requireNonNull(semanticRule, "semanticRule");
    checkThreshold(iterativeOverlap, "iterativeOverlap");
  }

  /** Options without segments, confidence or the iterative rule (the first three components). */
  public SegmentOptions(LabelType labelType, boolean scores, boolean resize) {
    this(labelType, scores, resize, null, SemanticRule.PROBABILISTIC, 0.8, null);
  }

  public SegmentOptions withLabelType(LabelType type) {
    return new SegmentOptions(type, scores, resize, segments, semanticRule, iterativeOverlap, confidence);
  }

  public SegmentOptions withScores(boolean wanted) {
    return new SegmentOptions(labelType, wanted, resize, segments, semanticRule, iterativeOverlap, confidence);
  }

  public SegmentOptions withResize(boolean enabled) {
    return new SegmentOptions(labelType, scores, enabled, segments, semanticRule, iterativeOverlap, confidence);
  }

  /** Segments by {@code rule} ({@code null}: none), from the same forward pass as the labels. */
  public SegmentOptions withSegments(SegmentRule rule) {
    return new SegmentOptions(labelType, scores, resize, rule, semanticRule, iterativeOverlap, confidence);
  }

  /** Segments with MaskFormer's thresholds ({@link SegmentRule#DEFAULTS}), or none. */
  public SegmentOptions withSegments(boolean wanted) {
    return withSegments(wanted ? SegmentRule.DEFAULTS : null);
  }

  /** Segments with these thresholds, one per query. */
  public SegmentOptions withSegments(double objectThreshold, double overlapThreshold) {
    return withSegments(new SegmentRule(objectThreshold, overlapThreshold, false));
  }

  public SegmentOptions withSemanticRule(SemanticRule rule) {
    return new SegmentOptions(labelType, scores, resize, segments, rule, iterativeOverlap, confidence);
  }

  /** The iterative rule with this overlap threshold. */
  public SegmentOptions withIterativeRule(double overlapThreshold) {
    return new SegmentOptions(labelType, scores, resize, segments, SemanticRule.ITERATIVE,
        overlapThreshold, confidence);
  }

  /** A confidence map of this type in returned {@link Segmentation}s ({@code null}: none). */
  public SegmentOptions withConfidence(ConfidenceType type) {
    return new SegmentOptions(labelType, scores, resize, segments, semanticRule, iterativeOverlap, type);
  }

  /** Whether a call needs the extended native entry point. */
  boolean extended() {
    return segments != null || semanticRule != SemanticRule.PROBABILISTIC;
  }

  static void checkThreshold(double value, String name) {
    if (!(value >= 0 && value <= 1)) { // NaN fails too
      throw new IllegalArgumentException(name + " must be in [0, 1], got " + value);
    }
  }
}
