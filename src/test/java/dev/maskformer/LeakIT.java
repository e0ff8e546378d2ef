// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.images.Images;
import dev.maskformer.MaskFormerRuntime.HostCacheStats;
import dev.maskformer.Output.LabelType;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

/**
 * Calls and load/close cycles leave the shim's own counters where they were: the bytes of CPU
 * tensors alive ({@link HostCacheStats#inUse()}: the shim's CPU allocator counts every byte
 * LibTorch allocates for tensors, exactly) and the live native handles. These counters move only
 * with the shim's memory, never with glibc's arenas or the JIT, so the bounds are exact: a call
 * that keeps one tensor alive (a label map, a score map, a cached intermediate) or a handle that
 * is never freed fails here. Leaks of bytes outside tensors (a string, a vector) are the
 * sanitizer stage's job (LeakSanitizer on the smoke test and the fuzz targets); steady-state page
 * faults are PageFaultIT's; growth over hours is the soak in docs/performance.md.
 */
class LeakIT {
  @Test
  void callsLeaveNoTensorAlive() throws Exception {
    int calls = Integer.getInteger("maskformer.leakCalls", 600);
    try (MaskFormer model = MaskFormer.load(TestModels.tiny()); Arena arena = Arena.ofConfined()) {
      Frame frame = Images.read(TestModels.image("scene_97x61"), arena);
      Output out = Output.labels(arena.allocate(97 * 61), LabelType.U8)
          .withScores(arena.allocate(97L * 61 * 150 * 4, 4));
      SegmentOptions segments = SegmentOptions.DEFAULTS.withRegions(true);
      for (int i = 0; i < 20; i++) { // the first calls fill LibTorch's own one-time caches
        round(model, frame, out, segments, 1);
      }
      long handles = MaskFormerRuntime.liveNativeHandles();
      HostCacheStats before = MaskFormerRuntime.hostCacheStats();
      round(model, frame, out, segments, calls);
      HostCacheStats after = MaskFormerRuntime.hostCacheStats();
      assertEquals(before.inUse(), after.inUse(), "bytes of CPU tensors alive after " + calls + " calls");
      assertEquals(handles, MaskFormerRuntime.liveNativeHandles(), "native handles after " + calls + " calls");
      assertTrue(after.cachedBytes() <= after.limit(), "the cache holds " + after.cachedBytes()
          + " B over its limit " + after.limit());
      // every call's memory came back: the cache served the steady calls (misses only while warming)
      assertTrue(after.hits() - before.hits() >= calls, "cache hits " + (after.hits() - before.hits()));
    }
  }

  /** The four kinds of call: into the caller's buffers, allocating a result, batched, with segments. */
  private static void round(MaskFormer model, Frame frame, Output out, SegmentOptions segments, int n) {
    for (int i = 0; i < n; i++) {
      switch (i % 4) {
        case 0 -> model.segment(frame, out);
        case 1 -> model.segment(frame).close();
        case 2 -> model.segment(java.util.List.of(frame, frame), SegmentOptions.DEFAULTS).forEach(Segmentation::close);
        default -> model.segment(frame, segments).close();
      }
    }
  }

  @Test
  void loadAndCloseFreeEverything() throws Exception {
    try (MaskFormer warm = MaskFormer.load(TestModels.tiny())) {
      warm.warmup();
    }
    long handles = MaskFormerRuntime.liveNativeHandles();
    long inUse = MaskFormerRuntime.hostCacheStats().inUse();
    for (int i = 0; i < 20; i++) {
      try (MaskFormer model = MaskFormer.load(TestModels.tiny())) {
        assertTrue(MaskFormerRuntime.hostCacheStats().inUse() > inUse, "a loaded model's weights are counted");
        assertEquals(handles + 1, MaskFormerRuntime.liveNativeHandles(), "one handle per model");
      }
      assertEquals(inUse, MaskFormerRuntime.hostCacheStats().inUse(), "bytes of CPU tensors alive after close " + (i + 1));
      assertEquals(handles, MaskFormerRuntime.liveNativeHandles(), "native handles after close " + (i + 1));
    }
  }
}
