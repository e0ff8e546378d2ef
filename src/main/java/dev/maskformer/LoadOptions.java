// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import java.util.Objects;

/**
 * Options of {@link MaskFormer#load(java.nio.file.Path, LoadOptions)}.
 *
 * @param device where the model runs
 * @param precision numeric precision of the network (fp16: CUDA only)
 * @param intraOpThreads LibTorch's intra-op threads, process-wide; 0 keeps the current setting
 * @param jitOptimize {@code false} (default): the plain TorchScript interpreter, which never
 *     re-optimises when a new frame size arrives; {@code true}: LibTorch's profiling executor
 * @param asyncThreads threads serving {@link MaskFormer#segmentAsync}; 0 picks 1 on the CPU and 2
 *     on CUDA (calls from different threads overlap on separate CUDA streams)
 * @param trustedNativeCode {@code false} (default): AOTInductor packages ({@code .pt2}) are
 *     refused with a {@link ModelLoadException}; {@code true}: they load. <b>A .pt2 holds a
 *     compiled shared library: loading one runs native code from the file in this process</b>,
 *     with all its rights and no sandbox. Set it only for packages from a source you trust;
 *     TorchScript files, the format for files of unknown origin, load either way.
 * @param cpuRewrites whether and when a TorchScript network on the CPU is rewritten for faster
 *     calls: {@link CpuRewrites#IN_BACKGROUND} (default), {@link CpuRewrites#AT_LOAD} or {@link
 *     CpuRewrites#NONE}
 */
public record LoadOptions(
    Device device,
    Precision precision,
    int intraOpThreads,
    boolean jitOptimize,
    int asyncThreads,
    boolean trustedNativeCode,
    CpuRewrites cpuRewrites) {
  /**
   * CPU, fp32, threads unchanged, no JIT profiling, automatic async threads, no .pt2, CPU rewrites
   * in the background.
   */
  public static final LoadOptions DEFAULTS =
      new LoadOptions(Device.CPU, Precision.FP32, 0, false, 0, false, CpuRewrites.IN_BACKGROUND);

  /** The options without {@code trustedNativeCode} (false): TorchScript files only; CPU rewrites in the background. */
  public LoadOptions(
      Device device, Precision precision, int intraOpThreads, boolean jitOptimize, int asyncThreads) {
    this(device, precision, intraOpThreads, jitOptimize, asyncThreads, false, CpuRewrites.IN_BACKGROUND);
  }

  /** The options with the CPU rewrites in the background (the default). */
  public LoadOptions(
      Device device, Precision precision, int intraOpThreads, boolean jitOptimize, int asyncThreads,
      boolean trustedNativeCode) {
    this(device, precision, intraOpThreads, jitOptimize, asyncThreads, trustedNativeCode, CpuRewrites.IN_BACKGROUND);
  }

  public LoadOptions {
    Objects.requireNonNull(device, "device");
    Objects.requireNonNull(precision, "precision");
    Objects.requireNonNull(cpuRewrites, "cpuRewrites");
    if (intraOpThreads < 0) {
      throw new IllegalArgumentException("intraOpThreads must be >= 0, got " + intraOpThreads);
    }
    if (asyncThreads < 0) {
      throw new IllegalArgumentException("asyncThreads must be >= 0, got " + asyncThreads);
    }
  }

  public LoadOptions withDevice(Device d) {
    return new LoadOptions(d, precision, intraOpThreads, jitOptimize, asyncThreads, trustedNativeCode, cpuRewrites);
  }

  public LoadOptions withPrecision(Precision p) {
    return new LoadOptions(device, p, intraOpThreads, jitOptimize, asyncThreads, trustedNativeCode, cpuRewrites);
  }

  public LoadOptions withIntraOpThreads(int n) {
    return new LoadOptions(device, precision, n, jitOptimize, asyncThreads, trustedNativeCode, cpuRewrites);
  }

  public LoadOptions withJitOptimize(boolean enabled) {
    return new LoadOptions(device, precision, intraOpThreads, enabled, asyncThreads, trustedNativeCode, cpuRewrites);
  }

  /**
   * Whether AOTInductor packages ({@code .pt2}) may load. <b>Loading a package runs the compiled
   * native code it contains</b>: pass {@code true} only for packages you or a source you trust
   * exported.
   */
  public LoadOptions withTrustedNativeCode(boolean trusted) {
    return new LoadOptions(device, precision, intraOpThreads, jitOptimize, asyncThreads, trusted, cpuRewrites);
  }

  public LoadOptions withAsyncThreads(int n) {
    return new LoadOptions(device, precision, intraOpThreads, jitOptimize, n, trustedNativeCode, cpuRewrites);
  }

  /**
   * Whether and when a TorchScript network that runs on the CPU is rewritten for faster calls
   * (see {@link CpuRewrites}; default {@link CpuRewrites#IN_BACKGROUND}). The rewrites make each
   * call faster (Swin-T at 512x512: about 0.7x the time of the network as exported); made in the
   * background they cost the load nothing, at load about +0.17 s for the demo model and +0.5 s
   * for Swin-T on 2 cores (which to choose: {@link CpuRewrites#IN_BACKGROUND}). The two paths' class scores agree to within about 5e-6 (measured on the
   * demo model and Swin-T; labels can differ only where two classes tie that closely). {@link
   * ModelInfo#cpuRewrites()} says what a loaded model runs. The environment variable {@code
   * MASKFORMER_CPU_PASSES} narrows the set (docs/performance.md).
   */
  public LoadOptions withCpuRewrites(CpuRewrites when) {
    return new LoadOptions(device, precision, intraOpThreads, jitOptimize, asyncThreads, trustedNativeCode, when);
  }

  /**
   * {@code true}: the CPU rewrites in the background (the default, {@link
   * CpuRewrites#IN_BACKGROUND}); {@code false}: none ({@link CpuRewrites#NONE}), the network runs
   * as exported.
   */
  public LoadOptions withCpuRewrites(boolean enabled) {
    return withCpuRewrites(enabled ? CpuRewrites.IN_BACKGROUND : CpuRewrites.NONE);
  }
}
