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
 * @param cpuRewrites {@code true} (default): a TorchScript network that runs on the CPU is
 *     rewritten once at load for faster calls (frozen; linear and convolution layers on oneDNN
 *     with packed weights and fused activations; checked against the module as it is), which
 *     makes the load slower; {@code false}: it runs as it is, the fastest load. See {@link
 *     #withCpuRewrites(boolean)}.
 */
public record LoadOptions(
    Device device,
    Precision precision,
    int intraOpThreads,
    boolean jitOptimize,
    int asyncThreads,
    boolean trustedNativeCode,
    boolean cpuRewrites) {
  /** CPU, fp32, threads unchanged, no JIT profiling, automatic async threads, no .pt2, CPU rewrites. */
  public static final LoadOptions DEFAULTS =
      new LoadOptions(Device.CPU, Precision.FP32, 0, false, 0, false, true);

  /** The options without {@code trustedNativeCode} (false): TorchScript files only; CPU rewrites on. */
  public LoadOptions(
      Device device, Precision precision, int intraOpThreads, boolean jitOptimize, int asyncThreads) {
    this(device, precision, intraOpThreads, jitOptimize, asyncThreads, false, true);
  }

  /** The options with the CPU rewrites on (the default). */
  public LoadOptions(
      Device device, Precision precision, int intraOpThreads, boolean jitOptimize, int asyncThreads,
      boolean trustedNativeCode) {
    this(device, precision, intraOpThreads, jitOptimize, asyncThreads, trustedNativeCode, true);
  }

  public LoadOptions {
    Objects.requireNonNull(device, "device");
    Objects.requireNonNull(precision, "precision");
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
   * Whether a TorchScript network that runs on the CPU is rewritten at load (default {@code true}).
   * The rewrites make each call faster (Swin-T at 512x512: about 0.7x the time of the plain
   * module) and cost time once, at load: on 2 cores about 0.45 s for the demo model and 1.9 s for
   * Swin-T. Turn them off where the load matters more than the calls: a process that segments a
   * few frames and exits, or a service that must answer its first request soon after starting.
   * The two paths' class scores agree to within about 5e-6 (measured on the demo model and
   * Swin-T; labels can differ only where two classes tie that closely). {@link ModelInfo#cpuRewrites()} says what a loaded model runs; CUDA models
   * and AOTInductor packages are never rewritten. The environment variable {@code
   * MASKFORMER_CPU_PASSES} narrows the set when they are on (docs/performance.md).
   */
  public LoadOptions withCpuRewrites(boolean enabled) {
    return new LoadOptions(device, precision, intraOpThreads, jitOptimize, asyncThreads, trustedNativeCode, enabled);
  }
}
