// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * Many calls and load/close cycles leak no native handles and do not grow the process. The number
 * of calls is -Dmaskformer.leakCalls (default 1500; a 100k run is described in the README).
 */
class LeakIT {
  @Test
  void repeatedCallsAndModelsDoNotLeak() throws Exception {
    long handles = MaskFormer.liveNativeHandles();
    int calls = Integer.getInteger("maskformer.leakCalls", 1500);
    try (MaskFormer model = MaskFormer.load(TestModels.tiny()); Arena arena = Arena.ofConfined()) {
      Frame frame = Images.read(TestModels.image("scene_97x61"), arena);
      Output out = Output.labels(arena.allocate(97 * 61), LabelType.U8)
          .withScores(arena.allocate(97L * 61 * 150 * 4, 4));
      for (int i = 0; i < 200; i++) { // settle allocator caches
        model.segment(frame, out);
      }
      long rss0 = residentKb();
      for (int i = 0; i < calls; i++) {
        model.segment(frame, out);
        if (i % 100 == 0) {
          model.segment(frame).close(); // the allocating path too
        }
      }
      long grown = residentKb() - rss0;
      System.out.printf("%d calls: resident set grew by %d KiB%n", calls, grown);
      assertTrue(grown < 64 * 1024, "resident set grew by " + grown + " KiB over " + calls + " calls");
    }
    for (int i = 0; i < 20; i++) {
      MaskFormer.load(TestModels.tiny()).close();
    }
    assertEquals(handles, MaskFormer.liveNativeHandles(), "native handles leaked");
  }

  private static long residentKb() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    return 0;
  }
}
