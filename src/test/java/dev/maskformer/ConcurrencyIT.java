// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.images.Images;
import dev.maskformer.Output.LabelType;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** One model, many threads: the results of sequential calls, and close() that waits. */
class ConcurrencyIT {
  @Test
  void eightThreadsGiveTheSequentialResults() throws Exception {
    String[] names = TestModels.IMAGES;
    try (MaskFormer model = MaskFormer.load(TestModels.tiny()); Arena arena = Arena.ofShared()) {
      List<Frame> frames = new ArrayList<>();
      List<int[]> sequential = new ArrayList<>();
      for (String n : names) {
        Frame f = Images.read(TestModels.image(n), arena);
        frames.add(f);
        try (Segmentation s = model.segment(f)) {
          sequential.add(s.toIntArray());
        }
      }
      ExecutorService pool = Executors.newFixedThreadPool(8);
      try {
        List<Future<?>> futures = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
          int seed = t;
          futures.add(pool.submit(() -> {
            for (int i = 0; i < 6; i++) {
              int k = (seed + i) % frames.size();
              try (Segmentation s = model.segment(frames.get(k))) {
                assertArrayEquals(sequential.get(k), s.toIntArray(), "thread " + seed + " frame " + k);
              }
            }
            return null;
          }));
        }
        for (Future<?> f : futures) {
          f.get(5, TimeUnit.MINUTES); // rethrows any assertion failure of a worker
        }
      } finally {
        pool.shutdownNow();
      }
    }
  }

  /**
   * Four threads call without pause; once each has finished one call, close() runs. It must wait
   * for the calls in flight: right after it returns, the frame's shared arena closes, which fails
   * while any native call still holds the frame. Every call either gives the sequential labels or
   * is refused with its output untouched, and no call that began after close() returned succeeds.
   */
  @Test
  void closeWaitsForCallsInFlightAndLaterCallsFail() throws Exception {
    MaskFormer model = MaskFormer.load(TestModels.tiny());
    ExecutorService pool = Executors.newFixedThreadPool(4);
    AtomicInteger done = new AtomicInteger();
    AtomicInteger refused = new AtomicInteger();
    AtomicLong closeReturned = new AtomicLong(Long.MAX_VALUE);
    CountDownLatch eachDidOne = new CountDownLatch(4);
    Arena frameArena = Arena.ofShared();
    try (Arena outputs = Arena.ofShared()) {
      Frame frame = Images.read(TestModels.image("scene_320x256"), frameArena);
      int[] expected = TestModels.goldenLabels("tiny", "scene_320x256");
      List<Future<?>> futures = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        MemorySegment labels = outputs.allocate(4L * expected.length, 4);
        Output out = Output.labels(labels, LabelType.I32);
        futures.add(pool.submit(() -> {
          boolean first = true;
          while (true) {
            labels.fill((byte) 0x7F); // 0x7F7F7F7F is no label
            long start = System.nanoTime();
            try {
              model.segment(frame, out);
            } catch (IllegalStateException e) {
              assertTrue(e.getMessage().contains("closed"), e.getMessage());
              for (int v : labels.toArray(ValueLayout.JAVA_INT)) {
                assertEquals(0x7F7F7F7F, v, "a refused call wrote its output");
              }
              refused.incrementAndGet();
              return null;
            }
            assertTrue(start < closeReturned.get(), "a call that began after close() returned succeeded");
            assertArrayEquals(expected, labels.toArray(ValueLayout.JAVA_INT));
            done.incrementAndGet();
            if (first) {
              eachDidOne.countDown();
              first = false;
            }
          }
        }));
      }
      assertTrue(eachDidOne.await(5, TimeUnit.MINUTES), "the workers did not start");
      model.close();
      closeReturned.set(System.nanoTime());
      frameArena.close(); // throws IllegalStateException if a native call still reads the frame
      for (Future<?> f : futures) {
        f.get(5, TimeUnit.MINUTES); // rethrows a worker's assertion failure
      }
      assertEquals(4, refused.get(), "each worker ends with a refused call");
      assertTrue(done.get() >= 4, "calls done " + done.get());
    } finally {
      pool.shutdownNow();
      if (frameArena.scope().isAlive()) {
        frameArena.close();
      }
    }
  }

  @Test
  void asyncCallsMatchSyncCalls() throws Exception {
    try (MaskFormer model = MaskFormer.load(TestModels.tiny(), LoadOptions.DEFAULTS.withAsyncThreads(2));
        Arena arena = Arena.ofShared()) {
      Frame frame = Images.read(TestModels.image("scene_333x517"), arena);
      int[] expected = TestModels.goldenLabels("tiny", "scene_333x517");
      List<CompletableFuture<Segmentation>> futures = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        futures.add(model.segmentAsync(frame, SegmentOptions.DEFAULTS));
      }
      for (CompletableFuture<Segmentation> f : futures) {
        try (Segmentation s = f.get(5, TimeUnit.MINUTES)) {
          assertArrayEquals(expected, s.toIntArray());
        }
      }
      Output out = Output.labels(arena.allocate(333L * 517 * 4, 4), LabelType.I32);
      model.segmentAsync(frame, out).get(5, TimeUnit.MINUTES);
      int[] direct = new int[expected.length];
      java.lang.foreign.MemorySegment.copy(out.labels(), java.lang.foreign.ValueLayout.JAVA_INT, 0, direct, 0, direct.length);
      assertArrayEquals(expected, direct);
    }
  }

  /**
   * One async worker, six zero-copy calls queued behind each other, the last cancelled, then
   * close(): every call either completed with the right labels or was cancelled with its output
   * untouched (it never ran), the cancelled one among them; a call after close() is refused.
   */
  @Test
  void cancelledAndQueuedAsyncCallsDoNotRun() throws Exception {
    MaskFormer model = MaskFormer.load(TestModels.tiny(), LoadOptions.DEFAULTS.withAsyncThreads(1));
    try (Arena arena = Arena.ofShared()) {
      Frame frame = Images.read(TestModels.image("scene_640x480"), arena);
      int[] expected = TestModels.goldenLabels("tiny", "scene_640x480");
      List<CompletableFuture<Void>> futures = new ArrayList<>();
      List<MemorySegment> labels = new ArrayList<>();
      for (int i = 0; i < 7; i++) {
        MemorySegment l = arena.allocate(4L * expected.length, 4);
        l.fill((byte) 0x7F);
        labels.add(l);
      }
      for (int i = 0; i < 6; i++) {
        futures.add(model.segmentAsync(frame, Output.labels(labels.get(i), LabelType.I32)));
      }
      assertTrue(futures.get(5).cancel(true));
      model.close(); // the first call may be running; the rest are queued
      int cancelled = 0;
      for (int i = 0; i < futures.size(); i++) {
        CompletableFuture<Void> f = futures.get(i);
        boolean ran;
        try {
          f.get(5, TimeUnit.MINUTES);
          ran = true;
        } catch (CancellationException e) {
          ran = false;
        } catch (ExecutionException e) {
          assertInstanceOf(CancellationException.class, e.getCause());
          ran = false;
        }
        int[] got = labels.get(i).toArray(ValueLayout.JAVA_INT);
        if (ran) {
          assertArrayEquals(expected, got, "call " + i);
        } else {
          cancelled++;
          for (int v : got) {
            assertEquals(0x7F7F7F7F, v, "cancelled call " + i + " wrote its output");
          }
        }
      }
      assertTrue(futures.get(5).isCancelled());
      assertTrue(cancelled >= 1, "cancelled " + cancelled);
      System.out.printf("async close: %d of 6 queued calls cancelled%n", cancelled);
      assertThrows(IllegalStateException.class,
          () -> model.segmentAsync(frame, Output.labels(labels.get(6), LabelType.I32)));
      for (int v : labels.get(6).toArray(ValueLayout.JAVA_INT)) {
        assertEquals(0x7F7F7F7F, v, "a call after close() wrote its output");
      }
    }
  }
}
