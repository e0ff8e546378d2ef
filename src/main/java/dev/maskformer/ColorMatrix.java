// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/**
 * The colour matrix of a YUV frame (ignored for packed formats). {@link #BT601} is the default,
 * as in ffmpeg for a frame that does not say: SD video and JPEG use it, HD video is usually
 * {@link #BT709}. Take it from the stream (ffprobe's {@code color_space}: {@code bt709} is BT.709,
 * {@code bt470bg}, {@code smpte170m} and unknown are BT.601, {@code bt2020nc} is BT.2020).
 */
public enum ColorMatrix {
  /** ITU-R BT.601 (ffmpeg's bt470bg, smpte170m, and its default). */
  BT601(0),
  /** ITU-R BT.709. */
  BT709(1),
  /** ITU-R BT.2020, non-constant luminance, 8-bit samples. */
  BT2020(2);

  private final int code;

  ColorMatrix(int code) {
    this.code = code;
  }

  /** The native {@code mf_yuv_matrix} value. */
  public int code() {
    return code;
  }
}
