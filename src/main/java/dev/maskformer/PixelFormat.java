// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/** Byte order of one pixel, 8 bits per channel. Alpha, where present, is ignored. */
public enum PixelFormat {
  RGB(0, 3),
  BGR(1, 3),
  RGBA(2, 4),
  BGRA(3, 4);

  private final int code;
  private final int channels;

  PixelFormat(int code, int channels) {
    this.code = code;
    this.channels = channels;
  }

  /** The native {@code mf_pixel_format} value. */
  public int code() {
    return code;
  }

  /** Bytes per pixel. */
  public int channels() {
    return channels;
  }
}
