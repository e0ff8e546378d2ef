// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * Many calls at one frame size, after a warm-up, leave the native heap where it was and fault in no
 * new pages; load/close cycles leak no handles. The number of calls is -Dmaskformer.leakCalls
 * (default 1500; a 100k run is described in the README).
 *
 * <p>The native heap is glibc's own count of bytes in use (mallinfo2: small blocks plus mmapped
 * ones), which the Java heap does not move; the resident set and the page faults (from /proc/self)
 * are measured as well. The bounds (1 KiB of native heap per call, 4 MiB of resident set over the
 * measured rounds, 20 minor faults per call, no major faults) are broken by a call that leaks any
 * buffer of the pipeline or hands its tensor memory back to the kernel (about 900 faults per call
 * for these scores); leaks of a few bytes per call need the long run.
 */
class LeakIT {
  @Test
  void repeatedCallsAndModelsDoNotLeak() throws Exception {
    long handles = MaskFormer.liveNativeHandles();
    int calls = Integer.getInteger("maskformer.leakCalls", 1500);
    int rounds = 3;
    try (MaskFormer model = MaskFormer.load(TestModels.tiny()); Arena arena = Arena.ofConfined()) {
      Frame frame = Images.read(TestModels.image("scene_97x61"), arena);
      Output out = Output.labels(arena.allocate(97 * 61), LabelType.U8)
          .withScores(arena.allocate(97L * 61 * 150 * 4, 4));
      for (int i = 0; i < 500; i++) { // settle allocator caches and the JIT
        model.segment(frame, out);
        if (i % 100 == 0) {
          model.segment(frame).close();
        }
      }
      Sample[] samples = new Sample[rounds + 1];
      samples[0] = Sample.now();
      for (int r = 1; r <= rounds; r++) {
        for (int i = 0; i < calls / rounds; i++) {
          model.segment(frame, out);
          if (i % 100 == 0) {
            model.segment(frame).close(); // the allocating path too
          }
        }
        samples[r] = Sample.now();
      }
      int perRound = calls / rounds;
      for (int r = 1; r <= rounds; r++) {
        Sample a = samples[r - 1];
        Sample b = samples[r];
        System.out.printf(Locale.ROOT, "round %d (%d calls): native heap %+d B (%+.1f B/call), resident %+d KiB,"
            + " minor faults %.2f/call, major faults %d%n", r, perRound, b.heap - a.heap,
            (double) (b.heap - a.heap) / perRound, b.rssKb - a.rssKb, (double) (b.minor - a.minor) / perRound,
            b.major - a.major);
      }
      Sample first = samples[1];
      Sample last = samples[rounds];
      int measured = perRound * (rounds - 1);
      if (first.heap >= 0) {
        // the JVM's own mallocs (C2 compiler arenas, GC tables) move the count by up to ~11 MiB
        // in one round and back in the next (measured), with the resident set flat; a leak grows
        // in every round, so the smaller of the measured rounds' growths must stay under 1 KiB per
        // call (a label map here is 6 KiB, the scores 3.5 MiB)
        long grown = Long.MAX_VALUE;
        for (int r = 2; r <= rounds; r++) {
          grown = Math.min(grown, samples[r].heap - samples[r - 1].heap);
        }
        assertTrue(grown < 1024L * perRound, "native heap grew by at least " + grown + " B in every round of "
            + perRound + " calls");
      }
      long rss = last.rssKb - first.rssKb;
      assertTrue(rss < 4 * 1024, "resident set grew by " + rss + " KiB over " + measured + " calls");
      double faults = (double) (last.minor - first.minor) / measured;
      assertTrue(faults < 20, faults + " minor page faults per call after warm-up");
      assertTrue(last.major - first.major <= 2, (last.major - first.major) + " major page faults after warm-up");
    }
    for (int i = 0; i < 20; i++) {
      MaskFormer.load(TestModels.tiny()).close();
    }
    assertEquals(handles, MaskFormer.liveNativeHandles(), "native handles leaked");
  }

  /** Native heap bytes in use (-1 without mallinfo2), resident KiB, minor and major faults. */
  record Sample(long heap, long rssKb, long minor, long major) {
    static Sample now() throws IOException {
      // a full collection empties the young generation, whose regions the next round then reuses:
      // without it the Java garbage of the calls (a few KiB each) touches new pages all the time
      System.gc();
      long rss = 0;
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmRSS:")) {
          rss = Long.parseLong(line.replaceAll("[^0-9]", ""));
        }
      }
      // /proc/self/stat: the fields after the command's closing parenthesis; minflt is field 10,
      // majflt field 12 of the whole line
      String stat = Files.readString(Path.of("/proc/self/stat"));
      String[] f = stat.substring(stat.lastIndexOf(')') + 2).trim().split(" ");
      return new Sample(nativeHeap(), rss, Long.parseLong(f[7]), Long.parseLong(f[9]));
    }
  }

  private static final Optional<MethodHandle> MALLINFO2 = Linker.nativeLinker().defaultLookup()
      .find("mallinfo2")
      .map(address -> Linker.nativeLinker().downcallHandle(address,
          FunctionDescriptor.of(MemoryLayout.structLayout(MemoryLayout.sequenceLayout(10, ValueLayout.JAVA_LONG)))));

  /** glibc's bytes in use: uordblks (allocated small blocks) + hblkhd (mmapped blocks). */
  private static long nativeHeap() {
    if (MALLINFO2.isEmpty()) {
      return -1;
    }
    try (Arena a = Arena.ofConfined()) {
      MemorySegment info = (MemorySegment) MALLINFO2.get().invokeExact((java.lang.foreign.SegmentAllocator) a);
      return info.getAtIndex(ValueLayout.JAVA_LONG, 7) + info.getAtIndex(ValueLayout.JAVA_LONG, 4);
    } catch (Throwable t) {
      throw new AssertionError("mallinfo2 failed", t);
    }
  }
}
