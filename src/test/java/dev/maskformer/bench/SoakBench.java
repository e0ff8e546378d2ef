// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.bench;

import dev.maskformer.MaskFormerRuntime;
import dev.maskformer.MaskFormerRuntime.HostCacheStats;
import dev.maskformer.Output.LabelType;
import dev.maskformer.Frame;
import dev.maskformer.MaskFormer;
import dev.maskformer.Output;
import dev.maskformer.PixelFormat;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The memory soak: many calls at a fixed frame size, or at sizes drawn from a range, printing
 * resident memory, the host cache's share of it and its counters every {@code --every} calls, and
 * the growth after warm-up per 10,000 calls (least-squares slope of RSS over the second half).
 *
 * <pre>src/test/bench/soak.sh [--model M] [--calls N] [--sizes fixed:WxH | range:MIN-MAX]</pre>
 */
public final class SoakBench {
  private SoakBench() {}

  public static void main(String[] args) throws Throwable {
    Path model = Path.of("models/demo/demo.pt");
    int calls = 10_000;
    int every = 1_000;
    String sizes = "fixed:256x192";
    long seed = 1;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--model" -> model = Path.of(args[++i]);
        case "--calls" -> calls = Integer.parseInt(args[++i]);
        case "--every" -> every = Integer.parseInt(args[++i]);
        case "--sizes" -> sizes = args[++i];
        case "--seed" -> seed = Long.parseLong(args[++i]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    int minSide;
    int maxSide;
    int fixedW = 0;
    int fixedH = 0;
    boolean fixed = sizes.startsWith("fixed:");
    if (fixed) {
      String[] wh = sizes.substring(6).split("x");
      fixedW = Integer.parseInt(wh[0]);
      fixedH = Integer.parseInt(wh[1]);
      minSide = Math.min(fixedW, fixedH);
      maxSide = Math.max(fixedW, fixedH);
    } else if (sizes.startsWith("range:")) {
      String[] r = sizes.substring(6).split("-");
      minSide = Integer.parseInt(r[0]);
      maxSide = Integer.parseInt(r[1]);
    } else {
      throw new IllegalArgumentException("--sizes fixed:WxH or range:MIN-MAX, got " + sizes);
    }
    Random random = new Random(seed);
    System.out.printf("soak: model %s, %d calls, sizes %s, seed %d%n", model, calls, sizes, seed);
    System.out.println("calls rss_mib cache_mib rss_minus_cache_mib tensors_mib malloc_mib limit_mib"
        + " hits misses evictions largest_call_mib ms_per_call");
    List<double[]> points = new ArrayList<>();
    try (MaskFormer m = MaskFormer.load(model); Arena arena = Arena.ofShared()) {
      long bytes = 4L * maxSide * maxSide;
      MemorySegment pixels = arena.allocate(3L * maxSide * maxSide, 64);
      MemorySegment labels = arena.allocate(bytes, 64);
      for (long i = 0; i < pixels.byteSize(); i++) {
        pixels.set(ValueLayout.JAVA_BYTE, i, (byte) random.nextInt(256));
      }
      long t0 = System.nanoTime();
      for (int call = 1; call <= calls; call++) {
        int w = fixed ? fixedW : minSide + random.nextInt(maxSide - minSide + 1);
        int h = fixed ? fixedH : minSide + random.nextInt(maxSide - minSide + 1);
        Frame frame = Frame.of(pixels.asSlice(0, 3L * w * h), w, h, PixelFormat.RGB);
        m.segment(frame, Output.labels(labels.asSlice(0, 4L * w * h), LabelType.I32));
        if (call % every == 0) {
          long t1 = System.nanoTime();
          System.gc(); // the Java heap's garbage is not what this measures
          HostCacheStats s = MaskFormerRuntime.hostCacheStats();
          double rss = rssMib();
          double cache = s.cachedBytes() / 1048576.0;
          // glibc's heap in use: native allocations other than the shim's large blocks (which it
          // maps itself), small tensors included
          double malloc = mallocInUse() / 1048576.0;
          points.add(new double[] {call, rss, rss - cache, malloc});
          System.out.printf("%d %.1f %.1f %.1f %.1f %.1f %.1f %d %d %d %.1f %.2f%n", call, rss, cache, rss - cache,
              s.inUse() / 1048576.0, malloc, s.limit() / 1048576.0, s.hits(), s.misses(), s.evictions(),
              s.largestCall() / 1048576.0, (t1 - t0) / 1e6 / every);
          t0 = System.nanoTime();
        }
      }
    }
    List<double[]> late = points.subList(points.size() / 2, points.size());
    System.out.printf("growth after warm-up (second half, per 10,000 calls): rss %+.2f MiB, rss minus cache"
        + " %+.2f MiB, glibc heap in use %+.2f MiB%n",
        10_000 * slope(late, 1), 10_000 * slope(late, 2), 10_000 * slope(late, 3));
  }

  /** Least-squares slope of column {@code y} over column 0. */
  private static double slope(List<double[]> points, int y) {
    int n = points.size();
    if (n < 2) {
      return Double.NaN;
    }
    double mx = 0;
    double my = 0;
    for (double[] p : points) {
      mx += p[0] / n;
      my += p[y] / n;
    }
    double sxy = 0;
    double sxx = 0;
    for (double[] p : points) {
      sxy += (p[0] - mx) * (p[y] - my);
      sxx += (p[0] - mx) * (p[0] - mx);
    }
    return sxy / sxx;
  }

  private static final java.util.Optional<java.lang.invoke.MethodHandle> MALLINFO2 =
      java.lang.foreign.Linker.nativeLinker().defaultLookup().find("mallinfo2")
          .map(a -> java.lang.foreign.Linker.nativeLinker().downcallHandle(a,
              java.lang.foreign.FunctionDescriptor.of(java.lang.foreign.MemoryLayout.structLayout(
                  java.lang.foreign.MemoryLayout.sequenceLayout(10, ValueLayout.JAVA_LONG)))));

  /** glibc's bytes in use (uordblks + hblkhd), NaN without mallinfo2. */
  private static double mallocInUse() throws Throwable {
    if (MALLINFO2.isEmpty()) {
      return Double.NaN;
    }
    try (Arena a = Arena.ofConfined()) {
      MemorySegment info = (MemorySegment) MALLINFO2.get().invokeExact((java.lang.foreign.SegmentAllocator) a);
      return info.getAtIndex(ValueLayout.JAVA_LONG, 7) + info.getAtIndex(ValueLayout.JAVA_LONG, 4);
    }
  }

  private static double rssMib() throws Exception {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
      }
    }
    return Double.NaN;
  }
}
