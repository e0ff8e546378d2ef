// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.images.Images;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

/**
 * Frames from a decoder's or a library's ByteBuffer (README "Frames you already have"): a direct
 * buffer with padded rows is segmented in place, with the labels of the same pixels read from a
 * file; a heap buffer is refused.
 */
class BufferInteropIT {
  @Test
  void aDirectBufferWithPaddedRowsGivesTheLabelsOfTheFile() throws IOException {
    try (MaskFormer model = MaskFormer.load(TestModels.tiny()); Arena arena = Arena.ofConfined()) {
      Frame read = Images.read(TestModels.image("scene_333x517"), arena);
      int w = read.width(), h = read.height(), channels = read.layout().format().channels();
      int stride = w * channels + 40;  // a decoder's padded rows
      ByteBuffer buffer = ByteBuffer.allocateDirect(stride * h);
      MemorySegment dst = MemorySegment.ofBuffer(buffer);
      for (int y = 0; y < h; y++) {
        MemorySegment.copy(read.pixels(), y * read.layout().stride(), dst, (long) y * stride, (long) w * channels);
      }
      Frame frame = new Frame(MemorySegment.ofBuffer(buffer), new ImageLayout(w, h, stride, read.layout().format()));
      try (Segmentation fromFile = model.segment(read); Segmentation fromBuffer = model.segment(frame)) {
        assertArrayEquals(fromFile.toIntArray(), fromBuffer.toIntArray());
      }
      // the input is only read: a read-only view of the buffer works too
      Frame readOnly = new Frame(MemorySegment.ofBuffer(buffer.asReadOnlyBuffer()), frame.layout());
      try (Segmentation s = model.segment(readOnly)) {
        assertTrue(s.width() == w && s.height() == h);
      }
    }
  }

  @Test
  void aHeapBufferIsRefused() {
    ByteBuffer heap = ByteBuffer.allocate(64 * 64 * 3);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Frame.of(MemorySegment.ofBuffer(heap), 64, 64, PixelFormat.BGR));
    assertTrue(e.getMessage().contains("heap") || e.getMessage().contains("native"), e.getMessage());
  }
}
