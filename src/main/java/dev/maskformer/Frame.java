// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * An image in caller-owned off-heap memory. The library reads the pixels during a call and never
 * copies them on the Java side or keeps them afterwards.
 *
 * <p>Ownership: the caller's; the memory must stay alive during calls that use the frame (closing
 * its arena meanwhile fails the call with an exception, it never reads freed memory).
 *
 * @param pixels off-heap memory holding at least {@code layout.byteSize()} bytes
 * @param layout geometry and pixel format
 */
public record Frame(MemorySegment pixels, ImageLayout layout) {
  public Frame {
    Objects.requireNonNull(pixels, "pixels");
    Objects.requireNonNull(layout, "layout");
    Checks.nativeSegment(pixels, "pixels");
    if (pixels.byteSize() < layout.byteSize()) {
      throw new IllegalArgumentException("pixels hold " + pixels.byteSize() + " bytes, " + layout
          + " needs " + layout.byteSize());
    }
  }

  /** A frame of tightly packed rows. */
  public static Frame of(MemorySegment pixels, int width, int height, PixelFormat format) {
    return new Frame(pixels, ImageLayout.packed(width, height, format));
  }

  public int width() {
    return layout.width();
  }

  public int height() {
    return layout.height();
  }
}
