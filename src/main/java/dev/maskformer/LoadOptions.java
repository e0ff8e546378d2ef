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
 */
public record LoadOptions(
    Device device, Precision precision, int intraOpThreads, boolean jitOptimize, int asyncThreads) {
  /** CPU, fp32, threads unchanged, no JIT profiling, automatic async threads. */
  public static final LoadOptions DEFAULTS = new LoadOptions(Device.CPU, Precision.FP32, 0, false, 0);

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
    return new LoadOptions(d, precision, intraOpThreads, jitOptimize, asyncThreads);
  }

  public LoadOptions withPrecision(Precision p) {
    return new LoadOptions(device, p, intraOpThreads, jitOptimize, asyncThreads);
  }

  public LoadOptions withIntraOpThreads(int n) {
    return new LoadOptions(device, precision, n, jitOptimize, asyncThreads);
  }

  public LoadOptions withJitOptimize(boolean enabled) {
    return new LoadOptions(device, precision, intraOpThreads, enabled, asyncThreads);
  }

  public LoadOptions withAsyncThreads(int n) {
    return new LoadOptions(device, precision, intraOpThreads, jitOptimize, n);
  }
}
