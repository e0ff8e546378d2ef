// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.images.Images;
import dev.maskformer.MaskFormerRuntime.HostCacheStats;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The process-wide host cache: automatic limit, explicit limits, eviction and its counters. */
class HostCacheIT {
  @AfterEach
  void automaticAgain() {
    MaskFormerRuntime.setHostCacheLimit(MaskFormerRuntime.HOST_CACHE_AUTO);
  }

  @Test
  void countersLimitsAndEviction() throws Exception {
    MaskFormerRuntime.setHostCacheLimit(MaskFormerRuntime.HOST_CACHE_AUTO);
    try (MaskFormer m = MaskFormer.load(TestModels.tiny())) {
      for (int i = 0; i < 3; i++) {
        Images.segment(m, TestModels.image("scene_320x256"), SegmentOptions.DEFAULTS).close();
      }
      HostCacheStats warm = MaskFormerRuntime.hostCacheStats();
      assertTrue(warm.automatic());
      assertTrue(warm.largestCall() > 0, warm.toString());
      // the automatic limit follows the workload: twice the largest call (one caller so far
      // in this test, more if other tests ran calls at once), at least 32 MiB, at most 2 GiB
      assertTrue(warm.limit() >= Math.min(2L << 30, Math.max(32L << 20, 2 * warm.largestCall())), warm.toString());
      assertTrue(warm.limit() <= 2L << 30, warm.toString());
      assertTrue(warm.cachedBytes() <= warm.limit(), warm.toString());
      assertTrue(warm.inUse() > 0 && warm.peakInUse() >= warm.inUse(), warm.toString());

      // a steady state is served from the cache
      Images.segment(m, TestModels.image("scene_320x256"), SegmentOptions.DEFAULTS).close();
      HostCacheStats steady = MaskFormerRuntime.hostCacheStats();
      long hits = steady.hits() - warm.hits();
      long misses = steady.misses() - warm.misses();
      assertTrue(hits > 0, "no hits: " + steady);
      assertTrue(misses <= hits / 10, "a repeated call missed " + misses + " times, hit " + hits);

      // a small explicit limit evicts, least recently freed first, and holds
      MaskFormerRuntime.setHostCacheLimit(1 << 20);
      HostCacheStats small = MaskFormerRuntime.hostCacheStats();
      assertTrue(!small.automatic() && small.limit() == 1 << 20, small.toString());
      assertTrue(small.cachedBytes() <= 1 << 20, small.toString());
      assertTrue(small.evictions() > steady.evictions(), small.toString());
      Images.segment(m, TestModels.image("scene_320x256"), SegmentOptions.DEFAULTS).close();
      assertTrue(MaskFormerRuntime.hostCacheStats().cachedBytes() <= 1 << 20);

      // 0 disables it
      MaskFormerRuntime.setHostCacheLimit(0);
      Images.segment(m, TestModels.image("scene_320x256"), SegmentOptions.DEFAULTS).close();
      HostCacheStats off = MaskFormerRuntime.hostCacheStats();
      assertEquals(0, off.cachedBytes(), off.toString());
      assertEquals(0, off.cachedBlocks(), off.toString());
      assertTrue(off.returned() > small.returned(), off.toString());
    }
  }

  @Test
  void badLimitsAreRefused() {
    var e = assertThrows(IllegalArgumentException.class, () -> MaskFormerRuntime.setHostCacheLimit(-2));
    assertTrue(e.getMessage().contains("HOST_CACHE_AUTO"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> MaskFormerRuntime.setHostCacheLimit(Long.MIN_VALUE));
  }
}
