// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.internal.Limits;
import java.util.Objects;

/**
 * Geometry of an image in memory: rows of {@code stride} bytes, {@code format.channels()} bytes
 * per pixel. A stride larger than {@code width * channels} describes padded rows (as many video
 * decoders produce); they are read as they are.
 *
 * @param width pixels per row, 1..{@link #MAX_SIDE}
 * @param height rows, 1..{@link #MAX_SIDE}
 * @param stride bytes from the start of one row to the next, at least {@code width * channels}
 * @param format byte order of a pixel
 */
public record ImageLayout(int width, int height, long stride, PixelFormat format) {
  /** Largest accepted width or height (the C ABI's MF_MAX_IMAGE_SIDE). */
  public static final int MAX_SIDE = Limits.MAX_IMAGE_SIDE;

  public ImageLayout {
    Objects.requireNonNull(format, "format");
    if (width < 1 || width > MAX_SIDE || height < 1 || height > MAX_SIDE) {
      throw new IllegalArgumentException(
          "image size " + width + "x" + height + " outside 1.." + MAX_SIDE);
    }
    if (stride < (long) width * format.channels()) {
      throw new IllegalArgumentException("stride " + stride + " < width * channels = "
          + (long) width * format.channels() + " for " + width + "x" + height + " " + format);
    }
    try {
      Math.addExact(Math.multiplyExact(height - 1L, stride), (long) width * format.channels());
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException("stride " + stride + " for " + height
          + " rows spans more than Long.MAX_VALUE bytes (" + width + "x" + height + " " + format + ")");
    }
  }

  /** Tightly packed rows. */
  public static ImageLayout packed(int width, int height, PixelFormat format) {
    return new ImageLayout(width, height, (long) width * format.channels(), format);
  }

  /** Bytes the image spans: every row's stride except the last row's padding. */
  public long byteSize() {
    return (height - 1L) * stride + (long) width * format.channels();
  }

  /** width * height. */
  public long pixels() {
    return (long) width * height;
  }

  @Override
  public String toString() {
    return width + "x" + height + " " + format + " (stride " + stride + ")";
  }
}
