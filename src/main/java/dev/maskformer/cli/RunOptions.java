// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import dev.maskformer.Device;
import dev.maskformer.LoadOptions;
import dev.maskformer.Precision;
import picocli.CommandLine.Option;

/** Where and how a model runs: shared by every command that loads one. */
final class RunOptions {
  @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda or cuda:N (default: ${DEFAULT-VALUE})")
  Device device;

  @Option(names = "--precision", defaultValue = "fp32", description = "fp32, fp16 or bf16 (default: ${DEFAULT-VALUE})")
  Precision precision;

  @Option(names = "--threads", defaultValue = "0",
      description = "LibTorch intra-op threads (default: all cores)")
  int threads;

  @Option(names = "--jit-optimize", description = {
      "use LibTorch's profiling JIT executor (re-optimises for each new input size);",
      "default: the plain interpreter"})
  boolean jitOptimize;

  LoadOptions loadOptions() {
    int n = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
    return LoadOptions.DEFAULTS
        .withDevice(device)
        .withPrecision(precision)
        .withIntraOpThreads(n)
        .withJitOptimize(jitOptimize);
  }
}
