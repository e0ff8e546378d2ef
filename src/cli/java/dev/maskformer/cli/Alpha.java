// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;

/** The overlay opacity option: 0..1, anything else a usage error (exit 2). */
final class Alpha {
  private Alpha() {}

  static double check(CommandSpec spec, double alpha) {
    if (!(alpha >= 0 && alpha <= 1)) {
      throw new ParameterException(spec.commandLine(), "--alpha must be between 0 and 1, got " + alpha);
    }
    return alpha;
  }
}
