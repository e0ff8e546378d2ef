// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

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
