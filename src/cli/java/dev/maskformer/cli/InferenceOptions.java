// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import dev.maskformer.SegmentOptions.RegionRule;
import dev.maskformer.SegmentOptions.SemanticRule;
import dev.maskformer.SegmentOptions;
import java.util.Locale;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** The semantic rule and the segment thresholds, shared by segment and video. */
final class InferenceOptions {
  @Spec(Spec.Target.MIXEE) CommandSpec spec;

  /** Names of the semantic rules on the command line. */
  enum Rule {
    probabilistic(SemanticRule.PROBABILISTIC),
    iterative(SemanticRule.ITERATIVE);

    final SemanticRule rule;

    Rule(SemanticRule rule) {
      this.rule = rule;
    }
  }

  @Option(names = "--semantic-rule", defaultValue = "probabilistic", paramLabel = "RULE",
      description = "labels by sssegmentation's 'probabilistic' rule or MaskFormer's 'iterative' one"
          + " (default: ${DEFAULT-VALUE})")
  Rule semanticRule;

  double iterativeOverlap = 0.8;

  @Option(names = "--iterative-overlap", paramLabel = "T",
      description = "overlap threshold of the iterative rule, 0..1 (default: 0.8)")
  void iterativeOverlap(double t) {
    iterativeOverlap = threshold("--iterative-overlap", t);
  }

  double objectThreshold = 0.8;

  @Option(names = "--object-threshold", paramLabel = "T",
      description = "segments: smallest class probability of a query, 0..1 (default: 0.8)")
  void objectThreshold(double t) {
    objectThreshold = threshold("--object-threshold", t);
  }

  double overlapThreshold = 0.8;

  @Option(names = "--overlap-threshold", paramLabel = "T",
      description = "segments: smallest share of a query's mask it must keep, 0..1 (default: 0.8)")
  void overlapThreshold(double t) {
    overlapThreshold = threshold("--overlap-threshold", t);
  }

  @Option(names = "--merge-same-class", description = "segments: one segment per class instead of one per query")
  boolean merge;

  private double threshold(String name, double t) {
    if (!(t >= 0 && t <= 1)) {
      throw new ParameterException(spec.commandLine(),
          String.format(Locale.ROOT, "%s must be in 0..1, got %s", name, t));
    }
    return t;
  }

  RegionRule segmentRule() {
    return new RegionRule(objectThreshold, overlapThreshold, merge);
  }

  /** {@code base} with the semantic rule; with segments when {@code segments}. */
  SegmentOptions apply(SegmentOptions base, boolean segments) {
    SegmentOptions o = base.withSemanticRule(semanticRule.rule);
    if (semanticRule.rule == SemanticRule.ITERATIVE) {
      o = o.withIterativeRule(iterativeOverlap);
    }
    return segments ? o.withRegions(segmentRule()) : o;
  }
}
