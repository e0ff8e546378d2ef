// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import dev.maskformer.Output.LabelType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Objects;
import org.apache.flink.api.common.typeinfo.TypeInfo;

/**
 * The segmentation of one {@link VideoFrame}: its label map and, when the operator was asked for
 * it, the number of pixels of each class. Flink moves it with {@link
 * FrameSerializers.SegmentedFrameSerializer} (never Kryo).
 *
 * <p>Thread-safety: immutable by contract; arrays are not copied on construction, so do not
 * change them afterwards.
 *
 * @param streamId the stream of the frame
 * @param frameIndex the frame's index in its stream
 * @param timestamp the frame's timestamp (milliseconds)
 * @param width label map width (the frame's)
 * @param height label map height (the frame's)
 * @param labelType {@code U8}: one byte per label; {@code I32}: four bytes, little-endian
 * @param labels {@code width * height * labelType.bytes()} bytes, row-major
 * @param histogram pixels per class, indexed by label, or {@code null} when not requested
 * @param source the input frame, carried along when the operator was asked to (for overlays), or
 *     {@code null}
 */
@TypeInfo(FrameSerializers.SegmentedFrameTypeInfoFactory.class)
public record SegmentedFrame(String streamId, long frameIndex, long timestamp, int width,
    int height, LabelType labelType, byte[] labels, long[] histogram, VideoFrame source) {
  public SegmentedFrame {
    Objects.requireNonNull(streamId, "streamId");
    Objects.requireNonNull(labelType, "labelType");
    Objects.requireNonNull(labels, "labels");
    if (width < 1 || height < 1 || labels.length != (long) width * height * labelType.bytes()) {
      throw new IllegalArgumentException(width + "x" + height + " " + labelType + " labels need "
          + (long) width * height * labelType.bytes() + " bytes, got " + labels.length);
    }
  }

  /** The label at column x, row y. */
  public int label(int x, int y) {
    Objects.checkIndex(x, width);
    Objects.checkIndex(y, height);
    int i = y * width + x;
    return labelType == LabelType.U8 ? Byte.toUnsignedInt(labels[i])
        : ByteBuffer.wrap(labels).order(ByteOrder.LITTLE_ENDIAN).getInt(4 * i);
  }

  /** A copy of the labels as ints, row-major. */
  public int[] toIntArray() {
    int n = width * height;
    int[] out = new int[n];
    if (labelType == LabelType.U8) {
      for (int i = 0; i < n; i++) {
        out[i] = Byte.toUnsignedInt(labels[i]);
      }
    } else {
      ByteBuffer.wrap(labels).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(out);
    }
    return out;
  }

  /** The key under which a result is unique: stream and frame index. */
  public String key() {
    return streamId + "#" + frameIndex;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof SegmentedFrame s && frameIndex == s.frameIndex && timestamp == s.timestamp
        && width == s.width && height == s.height && labelType == s.labelType
        && streamId.equals(s.streamId) && Arrays.equals(labels, s.labels)
        && Arrays.equals(histogram, s.histogram) && Objects.equals(source, s.source);
  }

  @Override
  public int hashCode() {
    return Objects.hash(streamId, frameIndex, timestamp, width, height, labelType, source) * 31
        + Arrays.hashCode(labels);
  }

  @Override
  public String toString() {
    return "SegmentedFrame[" + streamId + " #" + frameIndex + ", t=" + timestamp + " ms, " + width
        + "x" + height + " " + labelType + (histogram != null ? ", histogram" : "")
        + (source != null ? ", with source" : "") + "]";
  }
}
