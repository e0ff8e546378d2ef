// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.maskformer.LoadOptions;
import dev.maskformer.MaskFormer;
import dev.maskformer.ModelLoadException;
import dev.maskformer.SegmentOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The per-JVM model registry the Flink operators share: one load per key, failures not cached. */
class SharedModelsIT {
  private static final Path MODELS = Path.of(System.getProperty("maskformer.testModels", "target/test-models"));
  private static final int CALLERS = 8;

  /** Starts CALLERS acquires of one file at once; each result is a lease or the exception. */
  private static List<Object> acquireAtOnce(Path model) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(CALLERS);
    try {
      CountDownLatch start = new CountDownLatch(1);
      List<Future<Object>> results = new ArrayList<>();
      for (int i = 0; i < CALLERS; i++) {
        results.add(pool.submit(() -> {
          start.await();
          try {
            return SharedModels.acquire(model, LoadOptions.DEFAULTS);
          } catch (RuntimeException e) {
            return e;
          }
        }));
      }
      start.countDown();
      List<Object> out = new ArrayList<>();
      for (Future<Object> f : results) {
        out.add(f.get(120, TimeUnit.SECONDS));
      }
      return out;
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void concurrentCallersShareOneLoadAndTheLastCloseFreesIt(@TempDir Path dir) throws Exception {
    Path model = Files.copy(MODELS.resolve("tiny.pt"), dir.resolve("shared.pt"));
    long loads = SharedModels.loads();
    List<Object> leases = acquireAtOnce(model);
    MaskFormer first = ((SharedModels.Lease) leases.get(0)).model();
    for (Object l : leases) {
      assertTrue(l instanceof SharedModels.Lease, "every caller gets a lease: " + l);
      assertSame(first, ((SharedModels.Lease) l).model(), "one model for every caller");
    }
    assertEquals(1, SharedModels.loads() - loads, "loaded once");
    assertEquals(1, SharedModels.openModels());
    assertEquals(CALLERS, SharedModels.leases());
    for (int i = 0; i < CALLERS - 1; i++) {
      ((SharedModels.Lease) leases.get(i)).close();
      ((SharedModels.Lease) leases.get(i)).close(); // idempotent: still one user fewer
    }
    assertEquals(1, SharedModels.leases());
    assertEquals(List.of(), first.segment(List.of(), List.of(), SegmentOptions.DEFAULTS), "still open");
    ((SharedModels.Lease) leases.get(CALLERS - 1)).close();
    assertEquals(0, SharedModels.openModels());
    assertEquals(0, SharedModels.leases());
    assertThrows(IllegalStateException.class,
        () -> first.segment(List.of(), List.of(), SegmentOptions.DEFAULTS), "closed with its last lease");
  }

  @Test
  void aFailedLoadReachesEveryWaiterAndIsNotCached(@TempDir Path dir) throws Exception {
    Path model = dir.resolve("broken.pt");
    Files.write(model, new byte[] {'P', 'K', 3, 4, 0, 0, 0, 0});
    long loads = SharedModels.loads();
    List<Object> results = acquireAtOnce(model);
    for (Object r : results) {
      assertTrue(r instanceof ModelLoadException, "every caller gets the load's exception: " + r);
      assertTrue(((Exception) r).getMessage().contains("broken.pt"), ((Exception) r).getMessage());
    }
    assertEquals(0, SharedModels.loads() - loads);
    assertEquals(0, SharedModels.openModels(), "a failed load leaves no entry");
    assertEquals(0, SharedModels.leases());
    // fixed on disk: the next acquire loads it
    Files.copy(MODELS.resolve("tiny.pt"), model, StandardCopyOption.REPLACE_EXISTING);
    try (SharedModels.Lease lease = SharedModels.acquire(model, LoadOptions.DEFAULTS)) {
      assertTrue(lease.model().numClasses() > 0);
      assertEquals(1, SharedModels.loads() - loads);
    }
    assertEquals(0, SharedModels.openModels());
  }

  @Test
  void optionsThatChangeTheModelAreSeparateEntries(@TempDir Path dir) throws Exception {
    Path model = Files.copy(MODELS.resolve("tiny.pt"), dir.resolve("keyed.pt"));
    try (SharedModels.Lease plain = SharedModels.acquire(model, LoadOptions.DEFAULTS);
        SharedModels.Lease viaOtherName = SharedModels.acquire(dir.resolve(".").resolve("keyed.pt"), LoadOptions.DEFAULTS);
        SharedModels.Lease jit = SharedModels.acquire(model, LoadOptions.DEFAULTS.withJitOptimize(true));
        SharedModels.Lease unrewritten = SharedModels.acquire(model, LoadOptions.DEFAULTS.withCpuRewrites(false))) {
      assertSame(plain.model(), viaOtherName.model(), "the same file under another spelling");
      assertTrue(plain.model() != jit.model(), "another executor is another model");
      assertTrue(plain.model() != unrewritten.model(), "the module as exported is another model");
      assertEquals("none (turned off in the load options)", unrewritten.model().info().cpuRewrites());
      assertEquals(3, SharedModels.openModels());
    }
    assertEquals(0, SharedModels.openModels());
  }
}
