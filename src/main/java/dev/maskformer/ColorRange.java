// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/**
 * The value range of a YUV frame (ignored for packed formats). {@link #LIMITED} is the default, as
 * in ffmpeg: video is limited range unless the stream says otherwise (ffprobe's {@code
 * color_range=pc}, or a {@code yuvj420p} pixel format, which is full range).
 */
public enum ColorRange {
  /** Y in 16..235, U and V in 16..240 ("tv", MPEG). */
  LIMITED(0),
  /** 0..255 ("pc", JPEG). */
  FULL(1);

  private final int code;

  ColorRange(int code) {
    this.code = code;
  }

  /** The native {@code mf_yuv_range} value. */
  public int code() {
    return code;
  }
}
