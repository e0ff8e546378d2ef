// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.internal;

import java.util.Objects;
import java.util.function.Function;

/**
 * Benchmark hooks for the command line's {@code bench} (not part of the API: this package is not
 * exported): the forward pass alone, and the matrix-multiply peak of the loaded LibTorch.
 */
public final class Benchmarks {
  /**
   * How the public side runs a benchmark: reaches the native side of {@code model} (a {@code
   * dev.maskformer.MaskFormer}, or null for none) and turns failures into its exception types.
   */
  public interface Runner {
    double[] run(Object model, Function<NativeModel, double[]> work);
  }

  private static volatile Runner runner;

  private Benchmarks() {}

  /** Called once by MaskFormer's class initialiser. */
  public static synchronized void register(Runner r) {
    if (runner != null) {
      throw new IllegalStateException("already registered");
    }
    runner = Objects.requireNonNull(r, "runner");
  }

  /** The registered runner; a call before any MaskFormer was used initialises that class first. */
  private static Runner runner() {
    if (runner == null) {
      try {
        Class.forName("dev.maskformer.MaskFormer", true, Benchmarks.class.getClassLoader());
      } catch (ClassNotFoundException e) {
        throw new IllegalStateException("dev.maskformer.MaskFormer is not on the class path", e);
      }
    }
    return runner;
  }

  /**
   * Times the forward pass alone (no pre- or post-processing) of {@code model} (a {@code
   * dev.maskformer.MaskFormer}) at a network input size: one untimed pass, then {@code iters}
   * timed ones.
   *
   * @return milliseconds of each timed pass
   */
  public static double[] forward(Object model, int width, int height, int batch, int iters) {
    Objects.requireNonNull(model, "model");
    if (width < 1 || height < 1 || width > 32768 || height > 32768) {
      throw new IllegalArgumentException("size " + width + "x" + height + " outside 1..32768");
    }
    if (batch < 1 || batch > 1024 || iters < 1 || iters > 100_000) {
      throw new IllegalArgumentException("batch must be 1..1024 and iters 1..100000, got " + batch + ", " + iters);
    }
    return runner().run(model, m -> m.benchmarkForward(width, height, batch, iters));
  }

  /**
   * Best measured matrix-multiply throughput of the loaded LibTorch in GFLOP/s: {@code n x n}
   * products on a device (-1: the CPU) in a precision (its code) at the current thread count.
   */
  public static double matmulGflops(int device, int precision, int n, int iters) {
    if (n < 64 || n > 8192 || iters < 1 || iters > 1000) {
      throw new IllegalArgumentException("n must be 64..8192 and iters 1..1000, got " + n + ", " + iters);
    }
    return runner().run(null, m -> new double[] {NativeRuntime.matmulGflops(device, precision, n, iters)})[0];
  }
}
