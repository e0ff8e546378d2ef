// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import dev.maskformer.ImageLayout.ColorMatrix;
import dev.maskformer.ImageLayout.ColorRange;
import dev.maskformer.Frame;
import dev.maskformer.ImageLayout;
import dev.maskformer.PixelFormat;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Objects;
import org.apache.flink.api.common.typeinfo.TypeInfo;

/**
 * One frame of a stream, as it travels between Flink tasks: 8-bit pixels on the heap with their
 * geometry, the stream it belongs to, its index in that stream and its timestamp. Flink moves it
 * with {@link FrameSerializers.VideoFrameSerializer} (never Kryo).
 *
 * <p>Packed formats (RGB, BGR, RGBA, BGRA) are rows without padding. YUV 4:2:0 formats (NV12, I420,
 * NV21; what {@link FrameSource} reads from most videos) are the Y plane, then the chroma planes,
 * each with rows as wide as the image ({@code ImageLayout.packed(width, height, format)}, ffmpeg's
 * raw layout: 1.5 bytes a pixel), with the stream's colour matrix and range; the model converts
 * them to RGB as ffmpeg would. For packed formats the matrix and range are always the defaults.
 *
 * <p>Thread-safety: immutable by contract; the pixel array is not copied on construction, so do
 * not change it afterwards.
 *
 * @param streamId the camera, file or folder the frame comes from
 * @param frameIndex 0-based position of the frame in its stream
 * @param timestamp event time in milliseconds
 * @param width pixels per row
 * @param height rows
 * @param format how a pixel is stored
 * @param pixels {@code ImageLayout.packed(width, height, format).byteSize()} bytes
 * @param matrix YUV: the colour matrix (packed formats: {@link ColorMatrix#BT601})
 * @param range YUV: the value range (packed formats: {@link ColorRange#LIMITED})
 */
@TypeInfo(FrameSerializers.VideoFrameTypeInfoFactory.class)
public record VideoFrame(String streamId, long frameIndex, long timestamp, int width, int height,
    PixelFormat format, byte[] pixels, ColorMatrix matrix, ColorRange range) {
  public VideoFrame {
    Objects.requireNonNull(streamId, "streamId");
    Objects.requireNonNull(format, "format");
    Objects.requireNonNull(pixels, "pixels");
    Objects.requireNonNull(matrix, "matrix");
    Objects.requireNonNull(range, "range");
    if (!format.isYuv()) { // not used: one value, so that equal pixels are equal frames
      matrix = ColorMatrix.BT601;
      range = ColorRange.LIMITED;
    }
    ImageLayout layout = ImageLayout.packed(width, height, format); // checks the sizes
    if (pixels.length != layout.byteSize()) {
      throw new IllegalArgumentException(width + "x" + height + " " + format + " needs "
          + layout.byteSize() + " bytes, got " + pixels.length);
    }
    if (frameIndex < 0) {
      throw new IllegalArgumentException("frameIndex must be >= 0, got " + frameIndex);
    }
  }

  /** A frame with the default colours (BT.601, limited range: what a YUV frame means untagged). */
  public VideoFrame(String streamId, long frameIndex, long timestamp, int width, int height,
      PixelFormat format, byte[] pixels) {
    this(streamId, frameIndex, timestamp, width, height, format, pixels, ColorMatrix.BT601,
        ColorRange.LIMITED);
  }

  /**
   * Copies a library frame (any row stride; YUV planes anywhere, also in separate segments) into a
   * record with packed rows and planes, keeping its colours.
   */
  public static VideoFrame of(String streamId, long frameIndex, long timestamp, Frame frame) {
    Objects.requireNonNull(frame, "frame");
    ImageLayout from = frame.layout();
    ImageLayout to = ImageLayout.packed(from.width(), from.height(), from.format());
    byte[] pixels = new byte[Math.toIntExact(to.byteSize())];
    copyRows(frame.pixels(), 0, from.stride(), pixels, 0, to.stride(), to.stride(), from.height());
    long samples = (from.width() + 1L) / 2; // chroma samples a row
    long row = from.format() == PixelFormat.I420 ? samples : 2 * samples; // NV12/NV21: U,V pairs
    for (int i = 0; i < from.chroma().size(); i++) {
      copyRows(frame.chromaSegment(i), from.chroma().get(i).offset(), from.chroma().get(i).stride(),
          pixels, to.chroma().get(i).offset(), to.chroma().get(i).stride(), row, (from.height() + 1) / 2);
    }
    return new VideoFrame(streamId, frameIndex, timestamp, from.width(), from.height(), from.format(),
        pixels, from.matrix(), from.range());
  }

  private static void copyRows(MemorySegment src, long srcOffset, long srcStride, byte[] dst,
      long dstOffset, long dstStride, long row, int rows) {
    for (int y = 0; y < rows; y++) {
      MemorySegment.copy(src, ValueLayout.JAVA_BYTE, srcOffset + y * srcStride, dst,
          Math.toIntExact(dstOffset + y * dstStride), Math.toIntExact(row));
    }
  }

  /** The geometry of the pixels, with the colours. */
  public ImageLayout layout() {
    return ImageLayout.packed(width, height, format).withColor(matrix, range);
  }

  /** The key under which a result is unique: stream and frame index. */
  public String key() {
    return streamId + "#" + frameIndex;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof VideoFrame f && frameIndex == f.frameIndex && timestamp == f.timestamp
        && width == f.width && height == f.height && format == f.format && matrix == f.matrix
        && range == f.range && streamId.equals(f.streamId) && Arrays.equals(pixels, f.pixels);
  }

  @Override
  public int hashCode() {
    return Objects.hash(streamId, frameIndex, timestamp, width, height, format, matrix, range) * 31
        + Arrays.hashCode(pixels);
  }

  @Override
  public String toString() {
    return "VideoFrame[" + streamId + " #" + frameIndex + ", t=" + timestamp + " ms, " + width + "x"
        + height + " " + format + (format.isYuv() ? " " + matrix + " " + range : "") + "]";
  }
}
