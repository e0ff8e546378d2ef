// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/**
 * Whether and when a TorchScript network that runs on the CPU is rewritten for faster calls:
 * frozen, its linear layers and convolutions moved to oneDNN with their weights packed once and
 * each fused with the activation after it (Swin-T at 512x512: about 0.7x the time per call of the
 * network as exported). CUDA models and AOTInductor packages are never rewritten. {@link
 * ModelInfo#cpuRewrites()} says what a model runs; docs/performance.md measures each rewrite.
 */
public enum CpuRewrites {
  /**
   * The default. {@link MaskFormer#load} returns as soon as the network as exported has passed
   * the load's test forward pass (as fast as {@link #NONE}); a thread of the model's own then
   * rewrites it (on 2 idle cores about 0.3 s for the demo model, 1.1 s for Swin-T; at a lower
   * priority than the calls, so longer while they keep every core busy) and compares the
   * rewritten network's outputs with the exported one's on a test input. If they agree, calls
   * move to the rewritten network; a call in flight finishes on the one it started on. So the
   * scores of the same frame may differ by rounding (about 1e-6) between a call made before the
   * switch and one after; labels differ only where two classes tie that closely. {@link
   * MaskFormer#awaitCpuRewrites()} waits for the switch (benchmarks, tests that compare runs).
   * Closing the model during the rewrite waits for it to stop.
   *
   * <p>The first calls made during the rewrite run the slower exported network beside it: for a
   * large model called right after its load the first result comes later than with {@link
   * #AT_LOAD} (Swin-T at 512x384 on 2 cores: load plus first call 4.7 s, against 3.5 s with
   * {@code AT_LOAD} and 3.9 s with {@link #NONE}); for the demo model it comes sooner (0.84 s
   * against 0.94 s). A program that loads a large model and needs its first frame at once picks
   * {@code AT_LOAD}; one that does other work after the load (opening a stream, starting a server)
   * gets the rewrites for free.
   */
  IN_BACKGROUND(2),
  /**
   * The same rewrites, made before {@code load} returns: every call runs the rewritten network,
   * and the load takes longer (on 2 cores about +0.17 s for the demo model, +0.5 s for Swin-T).
   * The rewritten network's first run is the load's test forward pass; one that fails it runs as
   * exported instead.
   */
  AT_LOAD(0),
  /**
   * The network runs as exported: the fastest load and slower calls, for a process that segments
   * a few frames and exits.
   */
  NONE(1);

  private final int code;

  CpuRewrites(int code) {
    this.code = code;
  }

  /** The mf_cpu_rewrites value of the C ABI. */
  public int code() {
    return code;
  }
}
