// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
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

  @Test
  void closeWaitsForCallsInFlightAndLaterCallsFail() throws Exception {
    MaskFormer model = MaskFormer.load(TestModels.tiny());
    ExecutorService pool = Executors.newFixedThreadPool(4);
    AtomicInteger done = new AtomicInteger();
    AtomicInteger refused = new AtomicInteger();
    try (Arena arena = Arena.ofShared()) {
      Frame frame = Images.read(TestModels.image("scene_640x480"), arena);
      List<Future<?>> futures = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        futures.add(pool.submit(() -> {
          for (int i = 0; i < 20; i++) {
            try (Segmentation s = model.segment(frame)) {
              assertEquals(640, s.width());
              done.incrementAndGet();
            } catch (IllegalStateException e) {
              assertTrue(e.getMessage().contains("closed"), e.getMessage());
              refused.incrementAndGet();
            }
          }
          return null;
        }));
      }
      Thread.sleep(300);
      model.close();
      for (Future<?> f : futures) {
        f.get(5, TimeUnit.MINUTES);
      }
      assertEquals(80, done.get() + refused.get());
      assertTrue(refused.get() > 0, "no call came after close()");
    } finally {
      pool.shutdownNow();
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

  @Test
  void cancelledAndQueuedAsyncCallsDoNotRun() throws Exception {
    MaskFormer model = MaskFormer.load(TestModels.tiny(), LoadOptions.DEFAULTS.withAsyncThreads(1));
    try (Arena arena = Arena.ofShared()) {
      Frame frame = Images.read(TestModels.image("scene_640x480"), arena);
      List<CompletableFuture<Segmentation>> futures = new ArrayList<>();
      for (int i = 0; i < 6; i++) {
        futures.add(model.segmentAsync(frame, SegmentOptions.DEFAULTS));
      }
      assertTrue(futures.get(5).cancel(true));
      model.close(); // the first call may be running; the rest are queued
      int cancelled = 0;
      for (CompletableFuture<Segmentation> f : futures) {
        try {
          f.get(5, TimeUnit.MINUTES).close();
        } catch (CancellationException e) {
          cancelled++;
        } catch (ExecutionException e) {
          assertInstanceOf(CancellationException.class, e.getCause());
          cancelled++;
        }
      }
      assertTrue(cancelled >= 4, "cancelled " + cancelled);
      assertThrows(IllegalStateException.class, () -> model.segmentAsync(frame, SegmentOptions.DEFAULTS));
    }
  }
}
