// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.Output.LabelType;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

/** Frames and outputs are checked in Java before anything reaches native code. */
class SegmentCheckTest {
  private final ImageLayout layout = ImageLayout.packed(8, 4, PixelFormat.RGB);

  @Test
  void heapMemoryIsRejected() {
    var e = assertThrows(IllegalArgumentException.class,
        () -> new Frame(MemorySegment.ofArray(new byte[96]), layout));
    assertTrue(e.getMessage().contains("off-heap"), e.getMessage());
    assertThrows(IllegalArgumentException.class,
        () -> Output.labels(MemorySegment.ofArray(new byte[32]), LabelType.U8));
  }

  @Test
  void closedMemoryIsRejected() {
    Arena arena = Arena.ofConfined();
    MemorySegment pixels = arena.allocate(96);
    arena.close();
    var e = assertThrows(IllegalStateException.class, () -> new Frame(pixels, layout));
    assertTrue(e.getMessage().contains("closed"), e.getMessage());
  }

  @Test
  void shortMemoryIsRejected() {
    try (Arena arena = Arena.ofConfined()) {
      var e = assertThrows(IllegalArgumentException.class,
          () -> new Frame(arena.allocate(95), layout));
      assertTrue(e.getMessage().contains("needs 96"), e.getMessage());
      Output small = Output.labels(arena.allocate(31), LabelType.U8);
      assertThrows(IllegalArgumentException.class, () -> small.checkFits(layout, 150, 0));
      Output scores = Output.labels(arena.allocate(32), LabelType.U8).withScores(arena.allocate(32 * 4));
      assertThrows(IllegalArgumentException.class, () -> scores.checkFits(layout, 2, 0));
      Output bytes = Output.labels(arena.allocate(32), LabelType.U8);
      var k = assertThrows(IllegalArgumentException.class, () -> bytes.checkFits(layout, 300, 0));
      assertTrue(k.getMessage().contains("I32"), k.getMessage());
    }
  }

  @Test
  void misalignedMemoryIsRejected() {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment base = arena.allocate(256, 64);
      assertThrows(IllegalArgumentException.class,
          () -> Output.labels(base.asSlice(1, 128), LabelType.I32));
      assertThrows(IllegalArgumentException.class,
          () -> Output.labels(base.asSlice(0, 32), LabelType.U8).withScores(base.asSlice(2, 128)));
    }
  }
}
