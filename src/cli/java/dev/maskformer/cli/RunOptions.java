// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import dev.maskformer.CpuRewrites;
import dev.maskformer.Device;
import dev.maskformer.LoadOptions;
import dev.maskformer.Precision;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** Where and how a model runs: shared by every command that loads one. */
final class RunOptions {
  @Spec(Spec.Target.MIXEE) CommandSpec mixee;

  @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda (= cuda:0), gpu (= cuda:0) or cuda:N (default: ${DEFAULT-VALUE})")
  Device device;

  @Option(names = "--precision", defaultValue = "fp32", description = {
      "fp32, fp16 (CUDA) or bf16 (CUDA, and CPUs with AVX512-BF16 or AMX; "
          + "`maskformer info` says which) (default: ${DEFAULT-VALUE})"})
  Precision precision;

  int threads;

  @Option(names = "--jit-optimize", description = {
      "use LibTorch's profiling JIT executor (re-optimises for each new input size); "
          + "default: the plain interpreter"})
  boolean jitOptimize;

  @Option(names = "--allow-native-code", description = {
      "allow AOTInductor packages (.pt2): loading one RUNS THE NATIVE CODE compiled into it; "
          + "use only for packages from a source you trust (TorchScript .pt needs no flag)"})
  boolean allowNativeCode;

  @Option(names = "--cpu-rewrites", paramLabel = "WHEN", description = {
      "when a TorchScript network on the CPU is rewritten for faster calls (frozen, oneDNN "
          + "layers): background (default: calls start on the network as exported and move to "
          + "the rewritten one once it is checked), at-load, or none"})
  void cpuRewrites(String when) {
    cpuRewrites = switch (when) {
      case "background" -> CpuRewrites.IN_BACKGROUND;
      case "at-load" -> CpuRewrites.AT_LOAD;
      case "none" -> CpuRewrites.NONE;
      default -> throw new ParameterException(mixee.commandLine(),
          "--cpu-rewrites must be background, at-load or none, got '" + when + "'");
    };
  }

  CpuRewrites cpuRewrites = CpuRewrites.IN_BACKGROUND;

  @Option(names = "--no-cpu-rewrites", description = {"the same as --cpu-rewrites none"})
  void noCpuRewrites(boolean none) {
    if (none) {
      cpuRewrites = CpuRewrites.NONE;
    }
  }

  @Option(names = "--threads", defaultValue = "0", paramLabel = "N", description = {
      "LibTorch intra-op threads, 1..4 x cores; default: the library's default, one per CPU "
          + "this process may use (the same as the Java API's)"})
  void threads(int n) {
    if (n < 0) {
      throw new ParameterException(mixee.commandLine(), "--threads must be >= 1 (0: the default), got " + n);
    }
    threads = n;
  }

  LoadOptions loadOptions() {
    return LoadOptions.DEFAULTS
        .withDevice(device)
        .withPrecision(precision)
        .withIntraOpThreads(threads)
        .withJitOptimize(jitOptimize)
        .withTrustedNativeCode(allowNativeCode)
        .withCpuRewrites(cpuRewrites);
  }
}
