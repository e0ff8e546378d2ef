// SPDX-License-Identifier: Apache-2.0
import dev.maskformer.MaskFormer;
import dev.maskformer.Frame;
import dev.maskformer.ImageLayout;
import dev.maskformer.PixelFormat;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;

/**
 * Time from the first call to a ready model, in a fresh JVM (src/test/bench/loadtime.sh): finding
 * and loading LibTorch and the shim (MaskFormerRuntime.info()), then MaskFormer.load(model) with its
 * test forward pass, then the first and the second segment call on a 512x384 RGB frame (the first
 * result is what a user waits for), then the median of six more calls. Prints wall and main-thread
 * CPU milliseconds of each part as one line. MASKFORMER_LOADTIME_REWRITES=AT_LOAD (a CpuRewrites
 * name) loads with that choice instead of the default (builds that have it);
 * MASKFORMER_LOADTIME_AWAIT=1 makes the first call wait for the rewrites (awaitCpuRewrites).
 */
public class LoadTime {
  /** MaskFormerRuntime.info() (MaskFormer.runtime() in builds before the API had that type). */
  static void loadNative() throws Exception {
    try {
      Class.forName("dev.maskformer.MaskFormerRuntime").getMethod("info").invoke(null);
    } catch (ClassNotFoundException e) {
      MaskFormer.class.getMethod("runtime").invoke(null);
    }
  }

  public static void main(String[] args) throws Exception {
    var mx = ManagementFactory.getThreadMXBean();
    long t0 = System.nanoTime(), c0 = mx.getCurrentThreadCpuTime();
    loadNative();                             // finds and loads LibTorch and the shim
    long t1 = System.nanoTime(), c1 = mx.getCurrentThreadCpuTime();
    String rewrites = System.getenv("MASKFORMER_LOADTIME_REWRITES");
    try (MaskFormer m = rewrites == null ? MaskFormer.load(Path.of(args[0]))
            : MaskFormer.load(Path.of(args[0]), dev.maskformer.LoadOptions.DEFAULTS.withCpuRewrites(
                dev.maskformer.CpuRewrites.valueOf(rewrites)));
         Arena arena = Arena.ofConfined()) {
      long t2 = System.nanoTime(), c2 = mx.getCurrentThreadCpuTime();
      int w = 512, h = 384;
      MemorySegment pixels = arena.allocate((long) w * h * 3);
      for (long i = 0; i < pixels.byteSize(); i++) pixels.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) (i * 7 % 251));
      Frame frame = new Frame(pixels, new ImageLayout(w, h, w * 3L, PixelFormat.RGB));
      long t3 = System.nanoTime();
      if (System.getenv("MASKFORMER_LOADTIME_AWAIT") != null) {
        m.awaitCpuRewrites();  // the first call waits for the rewritten network (builds that have it)
      }
      m.segment(frame).close();
      long t4 = System.nanoTime();
      m.segment(frame).close();
      long t5 = System.nanoTime();
      double[] later = new double[6];
      for (int i = 0; i < later.length; i++) {
        long a = System.nanoTime();
        m.segment(frame).close();
        later[i] = (System.nanoTime() - a) / 1e6;
      }
      java.util.Arrays.sort(later);
      System.out.printf("native %.1f %.1f load %.1f %.1f total %.1f %.1f first %.1f second %.1f later %.1f%n", (t1 - t0) / 1e6,
          (c1 - c0) / 1e6, (t2 - t1) / 1e6, (c2 - c1) / 1e6, (t2 - t0) / 1e6, (c2 - c0) / 1e6, (t4 - t3) / 1e6,
          (t5 - t4) / 1e6, (later[2] + later[3]) / 2);
    }
  }
}
