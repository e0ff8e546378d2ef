// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.Output.ConfidenceType;
import dev.maskformer.Output.LabelType;

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
 * @param regions {@code null} (default): no segments; else the rule that makes them (returned
 *     {@link Segmentation}s then carry a segment-id map and {@link Segmentation#regions()}; the
 *     zero-copy calls return the segments and fill {@link Output#regionIds()} when given)
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
    RegionRule regions,
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

  /** Options without regions, confidence or the iterative rule (the first three components). */
  public SegmentOptions(LabelType labelType, boolean scores, boolean resize) {
    this(labelType, scores, resize, null, SemanticRule.PROBABILISTIC, 0.8, null);
  }

  public SegmentOptions withLabelType(LabelType type) {
    return new SegmentOptions(type, scores, resize, regions, semanticRule, iterativeOverlap, confidence);
  }

  public SegmentOptions withScores(boolean wanted) {
    return new SegmentOptions(labelType, wanted, resize, regions, semanticRule, iterativeOverlap, confidence);
  }

  public SegmentOptions withResize(boolean enabled) {
    return new SegmentOptions(labelType, scores, enabled, regions, semanticRule, iterativeOverlap, confidence);
  }

  /** Segments by {@code rule} ({@code null}: none), from the same forward pass as the labels. */
  public SegmentOptions withRegions(RegionRule rule) {
    return new SegmentOptions(labelType, scores, resize, rule, semanticRule, iterativeOverlap, confidence);
  }

  /** Segments with MaskFormer's thresholds ({@link RegionRule#DEFAULTS}), or none. */
  public SegmentOptions withRegions(boolean wanted) {
    return withRegions(wanted ? RegionRule.DEFAULTS : null);
  }

  /** Segments with these thresholds, one per query. */
  public SegmentOptions withRegions(double objectThreshold, double overlapThreshold) {
    return withRegions(new RegionRule(objectThreshold, overlapThreshold, false));
  }

  public SegmentOptions withSemanticRule(SemanticRule rule) {
    return new SegmentOptions(labelType, scores, resize, regions, rule, iterativeOverlap, confidence);
  }

  /** The iterative rule with this overlap threshold. */
  public SegmentOptions withIterativeRule(double overlapThreshold) {
    return new SegmentOptions(labelType, scores, resize, regions, SemanticRule.ITERATIVE,
        overlapThreshold, confidence);
  }

  /** A confidence map of this type in returned {@link Segmentation}s ({@code null}: none). */
  public SegmentOptions withConfidence(ConfidenceType type) {
    return new SegmentOptions(labelType, scores, resize, regions, semanticRule, iterativeOverlap, type);
  }

  static void checkThreshold(double value, String name) {
    if (!(value >= 0 && value <= 1)) { // NaN fails too
      throw new IllegalArgumentException(name + " must be in [0, 1], got " + value);
    }
  }

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
  public record RegionRule(double objectThreshold, double overlapThreshold, boolean mergeSameClass) {
    /** MaskFormer's thresholds (0.8, 0.8), one segment per query. */
    public static final RegionRule DEFAULTS = new RegionRule(0.8, 0.8, false);

    /** @throws IllegalArgumentException a threshold outside [0, 1] or NaN */
    public RegionRule {
      SegmentOptions.checkThreshold(objectThreshold, "objectThreshold");
      SegmentOptions.checkThreshold(overlapThreshold, "overlapThreshold");
    }

    public RegionRule withObjectThreshold(double threshold) {
      return new RegionRule(threshold, overlapThreshold, mergeSameClass);
    }

    public RegionRule withOverlapThreshold(double threshold) {
      return new RegionRule(objectThreshold, threshold, mergeSameClass);
    }

    public RegionRule withMergeSameClass(boolean merge) {
      return new RegionRule(objectThreshold, overlapThreshold, merge);
    }
  }

  /** How the class scores that labels are argmaxed from are made from the model's queries. */
  public enum SemanticRule {
    /**
     * sssegmentation's rule (the default): scores = sum over every query of its class probabilities
     * times its mask probabilities.
     */
    PROBABILISTIC(0),
    /**
     * The official MaskFormer's "iterative" rule: at the network input size, a query of class c
     * (its most probable of the K classes) is dropped when less than {@link
     * SegmentOptions#iterativeOverlap()} of its binary mask (mask probability &gt;= 0.5) is labelled
     * c by the probabilistic rule (a query with an empty mask is kept); the scores are then summed
     * over the kept queries only (all zero, so every label 0, when none is kept).
     */
    ITERATIVE(1);

    private final int code;

    SemanticRule(int code) {
      this.code = code;
    }

    /** The native {@code mf_semantic_rule} value. */
    public int code() {
      return code;
    }
  }
}
