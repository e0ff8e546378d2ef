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
 */
public record LoadOptions(
    Device device,
    Precision precision,
    int intraOpThreads,
    boolean jitOptimize,
    int asyncThreads,
    boolean trustedNativeCode) {
  /** CPU, fp32, threads unchanged, no JIT profiling, automatic async threads, no .pt2. */
  public static final LoadOptions DEFAULTS =
      new LoadOptions(Device.CPU, Precision.FP32, 0, false, 0, false);

  /** The options without {@code trustedNativeCode} (false): TorchScript files only. */
  public LoadOptions(
      Device device, Precision precision, int intraOpThreads, boolean jitOptimize, int asyncThreads) {
    this(device, precision, intraOpThreads, jitOptimize, asyncThreads, false);
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
    return new LoadOptions(d, precision, intraOpThreads, jitOptimize, asyncThreads, trustedNativeCode);
  }

  public LoadOptions withPrecision(Precision p) {
    return new LoadOptions(device, p, intraOpThreads, jitOptimize, asyncThreads, trustedNativeCode);
  }

  public LoadOptions withIntraOpThreads(int n) {
    return new LoadOptions(device, precision, n, jitOptimize, asyncThreads, trustedNativeCode);
  }

  public LoadOptions withJitOptimize(boolean enabled) {
    return new LoadOptions(device, precision, intraOpThreads, enabled, asyncThreads, trustedNativeCode);
  }

  /**
   * Whether AOTInductor packages ({@code .pt2}) may load. <b>Loading a package runs the compiled
   * native code it contains</b>: pass {@code true} only for packages you or a source you trust
   * exported.
   */
  public LoadOptions withTrustedNativeCode(boolean trusted) {
    return new LoadOptions(device, precision, intraOpThreads, jitOptimize, asyncThreads, trusted);
  }

  public LoadOptions withAsyncThreads(int n) {
    return new LoadOptions(device, precision, intraOpThreads, jitOptimize, n, trustedNativeCode);
  }
}
