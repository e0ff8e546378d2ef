// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.ImageLayout.ColorMatrix;
import dev.maskformer.ImageLayout.ColorRange;

/**
 * How a frame's pixels lie in memory, 8 bits per sample.
 *
 * <p>Packed formats ({@link #RGB}, {@link #BGR}, {@link #RGBA}, {@link #BGRA}): one plane of 3 or 4
 * bytes a pixel; alpha, where present, is ignored.
 *
 * <p>YUV 4:2:0 formats ({@link #NV12}, {@link #I420}, {@link #NV21}), as video decoders produce
 * them: a luma (Y) plane of {@code width x height} bytes, then chroma planes of {@code
 * ceil(width/2) x ceil(height/2)} samples (odd sizes round up, as in ffmpeg), each plane with its
 * own row stride (see {@link ImageLayout}). The library converts them to RGB on the model's device
 * exactly as ffmpeg's {@code -pix_fmt rgb24} would (see {@link ColorMatrix}, {@link ColorRange}).
 */
public enum PixelFormat {
  RGB(0, 3),
  BGR(1, 3),
  RGBA(2, 4),
  BGRA(3, 4),
  /** Y plane, then one plane of interleaved U,V byte pairs (hardware decoders, NVDEC, VA-API). */
  NV12(4, 1),
  /** Y plane, U plane, V plane (ffmpeg's {@code yuv420p}, JavaCV's {@code AV_PIX_FMT_YUV420P}). */
  I420(5, 1),
  /** As {@link #NV12} with V,U pairs (Android camera frames). */
  NV21(6, 1);

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

  /**
   * Bytes per pixel of the first (or only) plane: 3 or 4 for the packed formats, 1 (the luma
   * plane) for the YUV formats, whose frames take 1.5 bytes a pixel in all ({@link
   * ImageLayout#byteSize()}).
   */
  public int channels() {
    return channels;
  }

  /** Whether this is a YUV 4:2:0 format (luma and chroma planes). */
  public boolean isYuv() {
    return code >= NV12.code;
  }

  /** Chroma planes of a YUV format: 1 for NV12 and NV21 (interleaved), 2 for I420, 0 for packed. */
  public int chromaPlanes() {
    return this == I420 ? 2 : isYuv() ? 1 : 0;
  }

  /** Bytes of one chroma row of a frame {@code width} pixels wide: ceil(width/2), times 2 when interleaved. */
  long chromaRowBytes(int width) {
    long samples = (width + 1L) / 2;
    return this == I420 ? samples : 2 * samples;
  }
}
