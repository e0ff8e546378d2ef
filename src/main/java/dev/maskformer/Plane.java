// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/**
 * Where a chroma plane of a YUV frame lies: {@code offset} bytes from the start of the memory that
 * holds it (the frame's one segment, or the plane's own segment, see {@link Frame#ofPlanes}), rows
 * {@code stride} bytes apart.
 *
 * @param offset bytes from the start of the segment to the plane's first row, {@code >= 0}
 * @param stride bytes from one row to the next, at least the row's bytes ({@code ceil(width/2)}
 *     for I420, {@code 2 * ceil(width/2)} for NV12 and NV21)
 */
public record Plane(long offset, long stride) {
  public Plane {
    if (offset < 0) {
      throw new IllegalArgumentException("plane offset " + offset + " < 0");
    }
    if (stride < 1) {
      throw new IllegalArgumentException("plane stride " + stride + " < 1");
    }
  }
}
