// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import dev.maskformer.Frame;
import dev.maskformer.ImageLayout;
import dev.maskformer.PixelFormat;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Objects;
import org.apache.flink.api.common.typeinfo.TypeInfo;

/**
 * One frame of a stream, as it travels between Flink tasks: tightly packed 8-bit pixels on the
 * heap with their geometry, the stream it belongs to, its index in that stream and its timestamp.
 * Flink moves it with {@link FrameSerializers.VideoFrameSerializer} (never Kryo).
 *
 * <p>Thread-safety: immutable by contract; the pixel array is not copied on construction, so do
 * not change it afterwards.
 *
 * @param streamId the camera, file or folder the frame comes from
 * @param frameIndex 0-based position of the frame in its stream
 * @param timestamp event time in milliseconds
 * @param width pixels per row
 * @param height rows
 * @param format byte order of a pixel
 * @param pixels {@code width * height * format.channels()} bytes, rows without padding
 */
@TypeInfo(FrameSerializers.VideoFrameTypeInfoFactory.class)
public record VideoFrame(String streamId, long frameIndex, long timestamp, int width, int height,
    PixelFormat format, byte[] pixels) {
  public VideoFrame {
    Objects.requireNonNull(streamId, "streamId");
    Objects.requireNonNull(format, "format");
    Objects.requireNonNull(pixels, "pixels");
    ImageLayout layout = ImageLayout.packed(width, height, format); // checks the sizes
    if (pixels.length != layout.byteSize()) {
      throw new IllegalArgumentException(width + "x" + height + " " + format + " needs "
          + layout.byteSize() + " bytes, got " + pixels.length);
    }
    if (frameIndex < 0) {
      throw new IllegalArgumentException("frameIndex must be >= 0, got " + frameIndex);
    }
  }

  /** Copies a library frame (any row stride) into a record with packed rows. */
  public static VideoFrame of(String streamId, long frameIndex, long timestamp, Frame frame) {
    Objects.requireNonNull(frame, "frame");
    ImageLayout l = frame.layout();
    int row = l.width() * l.format().channels();
    byte[] pixels = new byte[Math.toIntExact((long) row * l.height())];
    for (int y = 0; y < l.height(); y++) {
      MemorySegment.copy(frame.pixels(), ValueLayout.JAVA_BYTE, y * l.stride(), pixels, y * row, row);
    }
    return new VideoFrame(streamId, frameIndex, timestamp, l.width(), l.height(), l.format(), pixels);
  }

  /** The geometry of the pixels. */
  public ImageLayout layout() {
    return ImageLayout.packed(width, height, format);
  }

  /** The key under which a result is unique: stream and frame index. */
  public String key() {
    return streamId + "#" + frameIndex;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof VideoFrame f && frameIndex == f.frameIndex && timestamp == f.timestamp
        && width == f.width && height == f.height && format == f.format
        && streamId.equals(f.streamId) && Arrays.equals(pixels, f.pixels);
  }

  @Override
  public int hashCode() {
    return Objects.hash(streamId, frameIndex, timestamp, width, height, format) * 31
        + Arrays.hashCode(pixels);
  }

  @Override
  public String toString() {
    return "VideoFrame[" + streamId + " #" + frameIndex + ", t=" + timestamp + " ms, " + width + "x"
        + height + " " + format + "]";
  }
}
