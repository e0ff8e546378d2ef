// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import dev.maskformer.Output.LabelType;
import dev.maskformer.ImageLayout.ColorMatrix;
import dev.maskformer.ImageLayout.ColorRange;
import dev.maskformer.ImageLayout;
import dev.maskformer.PixelFormat;
import java.io.IOException;
import java.lang.reflect.Type;
import java.util.Map;
import org.apache.flink.api.common.serialization.SerializerConfig;
import org.apache.flink.api.common.typeinfo.TypeInfoFactory;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * Flink's type information and serializers for {@link VideoFrame} and {@link SegmentedFrame}:
 * compact binary records (a few header fields, then the raw pixel or label bytes), so that no
 * frame falls back to Kryo. Found through the {@code @TypeInfo} annotations of the records.
 *
 * <p>Wire format, version 1. VideoFrame: stream id (modified UTF-8), frame index (long),
 * timestamp (long), width and height (int), pixel format ordinal (byte), for the YUV formats the
 * colour matrix and range ordinals (a byte each; packed formats have none, so their records are
 * as before YUV frames existed), the pixels. SegmentedFrame:
 * stream id, frame index, timestamp, width, height, label type ordinal (byte), the labels, a flags
 * byte (1: histogram, 2: source frame), then the histogram (int count, longs) and the source frame.
 */
public final class FrameSerializers {
  private FrameSerializers() {}

  private static final PixelFormat[] FORMATS = PixelFormat.values();
  private static final ColorMatrix[] MATRICES = ColorMatrix.values();
  private static final ColorRange[] RANGES = ColorRange.values();
  private static final LabelType[] LABEL_TYPES = LabelType.values();

  /** The serializer of {@link VideoFrame}. Stateless; one instance. */
  public static final class VideoFrameSerializer extends TypeSerializerSingleton<VideoFrame> {
    public static final VideoFrameSerializer INSTANCE = new VideoFrameSerializer();

    @Override
    public boolean isImmutableType() {
      return false; // the pixel array could be changed by user code
    }

    @Override
    public VideoFrame createInstance() {
      return new VideoFrame("", 0, 0, 1, 1, PixelFormat.RGB, new byte[3]);
    }

    @Override
    public VideoFrame copy(VideoFrame from) {
      return new VideoFrame(from.streamId(), from.frameIndex(), from.timestamp(), from.width(),
          from.height(), from.format(), from.pixels().clone(), from.matrix(), from.range());
    }

    @Override
    public VideoFrame copy(VideoFrame from, VideoFrame reuse) {
      return copy(from);
    }

    @Override
    public int getLength() {
      return -1;
    }

    @Override
    public void serialize(VideoFrame f, DataOutputView out) throws IOException {
      out.writeUTF(f.streamId());
      out.writeLong(f.frameIndex());
      out.writeLong(f.timestamp());
      out.writeInt(f.width());
      out.writeInt(f.height());
      out.writeByte(f.format().ordinal());
      if (f.format().isYuv()) {
        out.writeByte(f.matrix().ordinal());
        out.writeByte(f.range().ordinal());
      }
      out.write(f.pixels());
    }

    @Override
    public VideoFrame deserialize(DataInputView in) throws IOException {
      String stream = in.readUTF();
      long index = in.readLong();
      long timestamp = in.readLong();
      int width = in.readInt();
      int height = in.readInt();
      PixelFormat format = FORMATS[checkOrdinal(in.readUnsignedByte(), FORMATS.length, "pixel format")];
      ColorMatrix matrix = ColorMatrix.BT601;
      ColorRange range = ColorRange.LIMITED;
      if (format.isYuv()) {
        matrix = MATRICES[checkOrdinal(in.readUnsignedByte(), MATRICES.length, "colour matrix")];
        range = RANGES[checkOrdinal(in.readUnsignedByte(), RANGES.length, "colour range")];
      }
      byte[] pixels = new byte[frameBytes(width, height, format)];
      in.readFully(pixels);
      return new VideoFrame(stream, index, timestamp, width, height, format, pixels, matrix, range);
    }

    @Override
    public VideoFrame deserialize(VideoFrame reuse, DataInputView in) throws IOException {
      return deserialize(in);
    }

    @Override
    public void copy(DataInputView in, DataOutputView out) throws IOException {
      serialize(deserialize(in), out);
    }

    @Override
    public TypeSerializerSnapshot<VideoFrame> snapshotConfiguration() {
      return new VideoFrameSnapshot();
    }
  }

  /** Restores {@link VideoFrameSerializer} from checkpoints and savepoints. */
  public static final class VideoFrameSnapshot extends SimpleTypeSerializerSnapshot<VideoFrame> {
    public VideoFrameSnapshot() {
      super(() -> VideoFrameSerializer.INSTANCE);
    }
  }

  /** The serializer of {@link SegmentedFrame}. Stateless; one instance. */
  public static final class SegmentedFrameSerializer extends TypeSerializerSingleton<SegmentedFrame> {
    public static final SegmentedFrameSerializer INSTANCE = new SegmentedFrameSerializer();

    @Override
    public boolean isImmutableType() {
      return false;
    }

    @Override
    public SegmentedFrame createInstance() {
      return new SegmentedFrame("", 0, 0, 1, 1, LabelType.U8, new byte[1], null, null);
    }

    @Override
    public SegmentedFrame copy(SegmentedFrame from) {
      return new SegmentedFrame(from.streamId(), from.frameIndex(), from.timestamp(), from.width(),
          from.height(), from.labelType(), from.labels().clone(),
          from.histogram() == null ? null : from.histogram().clone(),
          from.source() == null ? null : VideoFrameSerializer.INSTANCE.copy(from.source()));
    }

    @Override
    public SegmentedFrame copy(SegmentedFrame from, SegmentedFrame reuse) {
      return copy(from);
    }

    @Override
    public int getLength() {
      return -1;
    }

    @Override
    public void serialize(SegmentedFrame s, DataOutputView out) throws IOException {
      out.writeUTF(s.streamId());
      out.writeLong(s.frameIndex());
      out.writeLong(s.timestamp());
      out.writeInt(s.width());
      out.writeInt(s.height());
      out.writeByte(s.labelType().ordinal());
      out.write(s.labels());
      out.writeByte((s.histogram() != null ? 1 : 0) | (s.source() != null ? 2 : 0));
      if (s.histogram() != null) {
        out.writeInt(s.histogram().length);
        for (long c : s.histogram()) {
          out.writeLong(c);
        }
      }
      if (s.source() != null) {
        VideoFrameSerializer.INSTANCE.serialize(s.source(), out);
      }
    }

    @Override
    public SegmentedFrame deserialize(DataInputView in) throws IOException {
      String stream = in.readUTF();
      long index = in.readLong();
      long timestamp = in.readLong();
      int width = in.readInt();
      int height = in.readInt();
      LabelType type = LABEL_TYPES[checkOrdinal(in.readUnsignedByte(), LABEL_TYPES.length, "label type")];
      byte[] labels = new byte[checkedSize(width, height, type.bytes())];
      in.readFully(labels);
      int flags = in.readUnsignedByte();
      long[] histogram = null;
      if ((flags & 1) != 0) {
        int n = in.readInt();
        if (n < 0 || n > 1 << 20) {
          throw new IOException("corrupt SegmentedFrame: histogram of " + n + " classes");
        }
        histogram = new long[n];
        for (int i = 0; i < n; i++) {
          histogram[i] = in.readLong();
        }
      }
      VideoFrame source = (flags & 2) != 0 ? VideoFrameSerializer.INSTANCE.deserialize(in) : null;
      return new SegmentedFrame(stream, index, timestamp, width, height, type, labels, histogram, source);
    }

    @Override
    public SegmentedFrame deserialize(SegmentedFrame reuse, DataInputView in) throws IOException {
      return deserialize(in);
    }

    @Override
    public void copy(DataInputView in, DataOutputView out) throws IOException {
      serialize(deserialize(in), out);
    }

    @Override
    public TypeSerializerSnapshot<SegmentedFrame> snapshotConfiguration() {
      return new SegmentedFrameSnapshot();
    }
  }

  /** Restores {@link SegmentedFrameSerializer} from checkpoints and savepoints. */
  public static final class SegmentedFrameSnapshot extends SimpleTypeSerializerSnapshot<SegmentedFrame> {
    public SegmentedFrameSnapshot() {
      super(() -> SegmentedFrameSerializer.INSTANCE);
    }
  }

  /** Type information of both records: one field, not a key type, our serializers. */
  public static final class FrameTypeInfo<T> extends TypeInformation<T> {
    private final Class<T> type;

    private FrameTypeInfo(Class<T> type) {
      this.type = type;
    }

    /** The type information of {@link VideoFrame}. */
    public static FrameTypeInfo<VideoFrame> videoFrames() {
      return new FrameTypeInfo<>(VideoFrame.class);
    }

    /** The type information of {@link SegmentedFrame}. */
    public static FrameTypeInfo<SegmentedFrame> segmentedFrames() {
      return new FrameTypeInfo<>(SegmentedFrame.class);
    }

    @Override
    public boolean isBasicType() {
      return false;
    }

    @Override
    public boolean isTupleType() {
      return false;
    }

    @Override
    public int getArity() {
      return 1;
    }

    @Override
    public int getTotalFields() {
      return 1;
    }

    @Override
    public Class<T> getTypeClass() {
      return type;
    }

    @Override
    public boolean isKeyType() {
      return false;
    }

    @Override
    @SuppressWarnings("unchecked")
    public TypeSerializer<T> createSerializer(SerializerConfig config) {
      return (TypeSerializer<T>) (type == VideoFrame.class
          ? VideoFrameSerializer.INSTANCE : SegmentedFrameSerializer.INSTANCE);
    }

    @Override
    public String toString() {
      return type.getSimpleName();
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof FrameTypeInfo<?> t && t.type == type;
    }

    @Override
    public int hashCode() {
      return type.hashCode();
    }

    @Override
    public boolean canEqual(Object o) {
      return o instanceof FrameTypeInfo<?>;
    }
  }

  /** Named by {@link VideoFrame}'s {@code @TypeInfo}. */
  public static final class VideoFrameTypeInfoFactory extends TypeInfoFactory<VideoFrame> {
    @Override
    public TypeInformation<VideoFrame> createTypeInfo(Type t, Map<String, TypeInformation<?>> generics) {
      return FrameTypeInfo.videoFrames();
    }
  }

  /** Named by {@link SegmentedFrame}'s {@code @TypeInfo}. */
  public static final class SegmentedFrameTypeInfoFactory extends TypeInfoFactory<SegmentedFrame> {
    @Override
    public TypeInformation<SegmentedFrame> createTypeInfo(Type t, Map<String, TypeInformation<?>> generics) {
      return FrameTypeInfo.segmentedFrames();
    }
  }

  private static int checkOrdinal(int value, int count, String what) throws IOException {
    if (value >= count) {
      throw new IOException("corrupt frame record: " + what + " " + value);
    }
    return value;
  }

  /** Bytes of a VideoFrame's pixels (YUV: about 1.5 a pixel; checked against 2 a pixel). */
  private static int frameBytes(int width, int height, PixelFormat format) throws IOException {
    checkedSize(width, height, format.isYuv() ? 2 : format.channels());
    try {
      return Math.toIntExact(ImageLayout.packed(width, height, format).byteSize());
    } catch (IllegalArgumentException e) {
      throw new IOException("corrupt frame record: " + e.getMessage(), e);
    }
  }

  private static int checkedSize(int width, int height, int bytesPerPixel) throws IOException {
    long n = (long) width * height * bytesPerPixel;
    if (width < 1 || height < 1 || n > Integer.MAX_VALUE - 16) {
      throw new IOException("corrupt frame record: " + width + "x" + height);
    }
    return (int) n;
  }
}
