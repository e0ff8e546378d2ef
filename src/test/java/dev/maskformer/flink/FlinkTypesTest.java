// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import dev.maskformer.Output.LabelType;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.maskformer.ImageLayout.ColorMatrix;
import dev.maskformer.ImageLayout.ColorRange;
import dev.maskformer.Device;
import dev.maskformer.Frame;
import dev.maskformer.ImageLayout;
import dev.maskformer.PixelFormat;
import dev.maskformer.ImageLayout.Plane;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.flink.api.common.externalresource.ExternalResourceInfo;
import org.apache.flink.api.common.serialization.SerializerConfigImpl;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.java.typeutils.GenericTypeInfo;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.apache.flink.metrics.HistogramStatistics;
import org.junit.jupiter.api.Test;

/** The Flink records' type information and serializers, the histogram and the device choice (no native code). */
class FlinkTypesTest {
  private static final VideoFrame FRAME = new VideoFrame("cam-1", 7, 280, 3, 2, PixelFormat.BGR,
      new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, (byte) 255});

  @Test
  void typeExtractionFindsOurTypeInfoNotKryo() {
    SerializerConfigImpl noGenerics = new SerializerConfigImpl();
    noGenerics.setGenericTypes(false);
    TypeInformation<VideoFrame> frames = TypeInformation.of(VideoFrame.class);
    TypeInformation<SegmentedFrame> results = TypeInformation.of(SegmentedFrame.class);
    assertInstanceOf(FrameSerializers.FrameTypeInfo.class, frames);
    assertInstanceOf(FrameSerializers.FrameTypeInfo.class, results);
    assertSame(FrameSerializers.VideoFrameSerializer.INSTANCE, frames.createSerializer(noGenerics));
    assertSame(FrameSerializers.SegmentedFrameSerializer.INSTANCE, results.createSerializer(noGenerics));
    // the switch the ITs run under does refuse Kryo
    assertThrows(UnsupportedOperationException.class,
        () -> new GenericTypeInfo<>(Object.class).createSerializer(noGenerics));
  }

  @Test
  void videoFramesRoundTrip() throws IOException {
    VideoFrame back = roundTrip(FrameSerializers.VideoFrameSerializer.INSTANCE, FRAME);
    assertEquals(FRAME, back);
    assertEquals(FRAME, FrameSerializers.VideoFrameSerializer.INSTANCE.copy(FRAME));
  }

  @Test
  void segmentedFramesRoundTripWithAndWithoutExtras() throws IOException {
    SegmentedFrame plain = new SegmentedFrame("s", 1, 40, 2, 2, LabelType.U8, new byte[] {0, 1, 2, 3},
        null, null);
    byte[] wide = new byte[16];
    wide[4] = 44;
    wide[9] = 1; // 256 at pixel 2
    SegmentedFrame full = new SegmentedFrame("s", 2, 80, 2, 2, LabelType.I32, wide,
        new long[] {1, 2, 0, 1}, FRAME);
    assertEquals(plain, roundTrip(FrameSerializers.SegmentedFrameSerializer.INSTANCE, plain));
    SegmentedFrame back = roundTrip(FrameSerializers.SegmentedFrameSerializer.INSTANCE, full);
    assertEquals(full, back);
    assertArrayEquals(new int[] {0, 44, 256, 0}, back.toIntArray());
    assertEquals(256, back.label(0, 1));
    assertNull(plain.histogram());
  }

  @Test
  void corruptBytesAreIoExceptions() {
    DataInputDeserializer in = new DataInputDeserializer(new byte[] {0, 1, 'x', 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 9});
    assertThrows(IOException.class, () -> FrameSerializers.VideoFrameSerializer.INSTANCE.deserialize(in));
  }

  @Test
  void serializerSnapshotsRestoreTheSameSerializer() throws IOException {
    TypeSerializerSnapshot<VideoFrame> snap =
        FrameSerializers.VideoFrameSerializer.INSTANCE.snapshotConfiguration();
    DataOutputSerializer out = new DataOutputSerializer(64);
    TypeSerializerSnapshot.writeVersionedSnapshot(out, snap);
    TypeSerializerSnapshot<VideoFrame> read = TypeSerializerSnapshot.readVersionedSnapshot(
        new DataInputDeserializer(out.getCopyOfBuffer()), getClass().getClassLoader());
    assertSame(FrameSerializers.VideoFrameSerializer.INSTANCE, read.restoreSerializer());
    assertEquals(true, read.resolveSchemaCompatibility(snap).isCompatibleAsIs());
  }

  @Test
  void jobGraphPartsAreSerializable() throws Exception {
    SegmentConfig config = SegmentConfig.of("/m.pt").withDevice(Device.cuda(1)).withHistogram(true);
    assertEquals(config, org.apache.flink.util.InstantiationUtil.clone(config));
    assertEquals("cuda:1", config.device());
    org.apache.flink.util.InstantiationUtil.clone(new SegmentOperator.Factory(config));
    org.apache.flink.util.InstantiationUtil.clone(LabelPngSink.labels(java.nio.file.Path.of("/out"))
        .withPalette(new int[] {0xFF0000}).withColour(true).withOverlay(0.5));
    FrameSource source = FrameSource.builder().input("cam", java.nio.file.Path.of("/")).build();
    assertEquals(source.splits(), org.apache.flink.util.InstantiationUtil.clone(source).splits());
    assertThrows(IllegalArgumentException.class, () -> config.withDevice(null).withBatching(-1, java.time.Duration.ZERO));
    assertThrows(IllegalArgumentException.class, () -> FrameSource.of(List.of(java.nio.file.Path.of("/no/such/input"))));
  }

  @Test
  void recordsCheckTheirSizes() {
    assertThrows(IllegalArgumentException.class,
        () -> new VideoFrame("s", 0, 0, 2, 2, PixelFormat.RGB, new byte[11]));
    assertThrows(IllegalArgumentException.class,
        () -> new SegmentedFrame("s", 0, 0, 2, 2, LabelType.I32, new byte[4], null, null));
    assertThrows(IllegalArgumentException.class,
        () -> new VideoFrame("s", -1, 0, 1, 1, PixelFormat.RGB, new byte[3]));
  }

  @Test
  void splitsRoundTrip() throws IOException {
    FrameSplit s = new FrameSplit("cam", "/v.mp4", FrameSplit.Kind.VIDEO, 12, -1, 25, "ffmpeg");
    FrameSplit.Serializer ser = FrameSplit.Serializer.INSTANCE;
    assertEquals(s, ser.deserialize(ser.getVersion(), ser.serialize(s)));
    Collection<FrameSplit> list = List.of(s, s.at(3));
    FrameSplit.ListSerializer ls = FrameSplit.ListSerializer.INSTANCE;
    assertEquals(list, ls.deserialize(ls.getVersion(), ls.serialize(list)));
    assertThrows(IOException.class, () -> ser.deserialize(3, ser.serialize(s)));
    assertEquals(FrameSource.Decode.AUTO, s.decode());
    FrameSplit bgr = new FrameSplit("cam", "/v.mp4", FrameSplit.Kind.VIDEO, 12, -1, 25, "ffmpeg",
        FrameSource.Decode.BGR);
    assertEquals(bgr, ser.deserialize(2, ser.serialize(bgr)));
    // a version 1 split (a checkpoint of a build that decoded to BGR only) goes on with BGR
    byte[] v2 = ser.serialize(s);
    byte[] v1 = java.util.Arrays.copyOf(v2, v2.length - 1); // version 2 appended the decode byte
    assertEquals(bgr, ser.deserialize(1, v1));
    assertThrows(IOException.class, () -> ser.deserialize(2, v1));
  }

  @Test
  void yuvFramesRoundTripWithTheirColours() throws IOException {
    // 3x3 NV12: 9 luma bytes, 2 chroma rows of 2 U,V pairs
    byte[] nv12 = new byte[9 + 2 * 4];
    for (int i = 0; i < nv12.length; i++) {
      nv12[i] = (byte) (i * 13);
    }
    VideoFrame f = new VideoFrame("cam", 3, 120, 3, 3, PixelFormat.NV12, nv12, ColorMatrix.BT709,
        ColorRange.FULL);
    VideoFrame back = roundTrip(FrameSerializers.VideoFrameSerializer.INSTANCE, f);
    assertEquals(f, back);
    assertEquals(ColorMatrix.BT709, back.layout().matrix());
    assertEquals(ColorRange.FULL, back.layout().range());
    assertNotEquals(f, new VideoFrame("cam", 3, 120, 3, 3, PixelFormat.NV12, nv12));
    assertEquals(f, FrameSerializers.VideoFrameSerializer.INSTANCE.copy(f));
    // I420 5x3: 15 luma, then 3x2 U and 3x2 V
    assertEquals(15 + 6 + 6, roundTrip(FrameSerializers.VideoFrameSerializer.INSTANCE,
        new VideoFrame("s", 0, 0, 5, 3, PixelFormat.I420, new byte[27])).pixels().length);
    assertThrows(IllegalArgumentException.class,
        () -> new VideoFrame("s", 0, 0, 3, 3, PixelFormat.NV12, new byte[9 + 6]));
    // packed frames carry no colours (one value), and their records are as before: no colour bytes
    VideoFrame rgb = new VideoFrame("s", 0, 0, 1, 1, PixelFormat.RGB, new byte[3], ColorMatrix.BT709,
        ColorRange.FULL);
    assertEquals(ColorMatrix.BT601, rgb.matrix());
    DataOutputSerializer out = new DataOutputSerializer(64);
    FrameSerializers.VideoFrameSerializer.INSTANCE.serialize(rgb, out);
    assertEquals(2 + 1 + 8 + 8 + 4 + 4 + 1 + 3, out.length());
    // a colour ordinal out of range is corrupt input
    DataOutputSerializer yuv = new DataOutputSerializer(64);
    FrameSerializers.VideoFrameSerializer.INSTANCE.serialize(f, yuv);
    byte[] bytes = yuv.getCopyOfBuffer();
    bytes[2 + 3 + 8 + 8 + 4 + 4 + 1] = 9; // the matrix
    assertThrows(IOException.class,
        () -> FrameSerializers.VideoFrameSerializer.INSTANCE.deserialize(new DataInputDeserializer(bytes)));
  }

  @Test
  void framesFromPaddedOrSeparatePlanesArePackedWithTheirColours() {
    try (Arena arena = Arena.ofConfined()) {
      // 3x3 I420 with padded planes in three segments: luma stride 8, chroma strides 4
      MemorySegment y = arena.allocate(8 * 3);
      MemorySegment u = arena.allocate(4 * 2);
      MemorySegment v = arena.allocate(4 * 2);
      for (int r = 0; r < 3; r++) {
        for (int c = 0; c < 3; c++) {
          y.set(ValueLayout.JAVA_BYTE, r * 8 + c, (byte) (10 * r + c));
        }
      }
      for (int r = 0; r < 2; r++) {
        for (int c = 0; c < 2; c++) {
          u.set(ValueLayout.JAVA_BYTE, r * 4 + c, (byte) (100 + 10 * r + c));
          v.set(ValueLayout.JAVA_BYTE, r * 4 + c, (byte) (200 + 10 * r + c));
        }
      }
      ImageLayout layout = ImageLayout.yuv(PixelFormat.I420, 3, 3, 8, new Plane(0, 4), new Plane(0, 4))
          .withColor(ColorMatrix.BT2020, ColorRange.LIMITED);
      VideoFrame f = VideoFrame.of("s", 1, 40, Frame.ofPlanes(layout, y, u, v));
      assertArrayEquals(new byte[] {0, 1, 2, 10, 11, 12, 20, 21, 22, 100, 101, 110, 111,
          (byte) 200, (byte) 201, (byte) 210, (byte) 211}, f.pixels());
      assertEquals(ColorMatrix.BT2020, f.matrix());
      // and NV21 in one buffer with padded rows: luma stride 4, VU plane at 16 with stride 6
      MemorySegment one = arena.allocate(16 + 6 * 2);
      for (int i = 0; i < one.byteSize(); i++) {
        one.set(ValueLayout.JAVA_BYTE, i, (byte) i);
      }
      VideoFrame g = VideoFrame.of("s", 0, 0, new Frame(one, ImageLayout.yuv(PixelFormat.NV21, 3, 3, 4,
          new Plane(16, 6))));
      assertArrayEquals(new byte[] {0, 1, 2, 4, 5, 6, 8, 9, 10, 16, 17, 18, 19, 22, 23, 24, 25},
          g.pixels());
    }
  }

  @Test
  void batchesFollowTheDevice() {
    SegmentConfig auto = SegmentConfig.of("/m.pt");
    assertEquals(SegmentConfig.AUTO_BATCH, auto.maxBatch());
    assertEquals(1, auto.batchFor(Device.CPU));
    assertEquals(4, auto.batchFor(Device.cuda(0)));
    SegmentConfig eight = auto.withBatching(8, java.time.Duration.ofMillis(5));
    assertEquals(8, eight.batchFor(Device.CPU));
    assertEquals(8, eight.batchFor(Device.cuda(1)));
  }

  @Test
  void slidingHistogramKeepsTheLastValues() {
    SlidingHistogram h = new SlidingHistogram(4);
    for (long v : new long[] {100, 1, 2, 3, 4}) {
      h.update(v);
    }
    HistogramStatistics s = h.getStatistics();
    assertEquals(5, h.getCount());
    assertEquals(4, s.size());
    assertArrayEquals(new long[] {1, 2, 3, 4}, s.getValues());
    assertEquals(2.5, s.getMean(), 1e-9);
    assertEquals(4, s.getMax());
    assertEquals(1, s.getMin());
    assertEquals(2, s.getQuantile(0.5));
  }

  @Test
  void devicesComeFromFlinksGpuResources() {
    assertEquals(Device.CPU, Devices.choose(Set.of(), 3));
    List<ExternalResourceInfo> gpus = List.of(gpu("1"), gpu("0"));
    assertEquals(Device.cuda(0), Devices.choose(gpus, 0));
    assertEquals(Device.cuda(1), Devices.choose(gpus, 1));
    assertEquals(Device.cuda(0), Devices.choose(gpus, 2));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Devices.choose(List.of(gpu("x")), 0));
    assertEquals(true, e.getMessage().contains("index"), e.getMessage());
  }

  /** What Flink's GPU driver reports per GPU: a property "index". */
  private static ExternalResourceInfo gpu(String index) {
    Map<String, String> props = Map.of("index", index);
    return new ExternalResourceInfo() {
      @Override
      public Optional<String> getProperty(String key) {
        return Optional.ofNullable(props.get(key));
      }

      @Override
      public Collection<String> getKeys() {
        return props.keySet();
      }
    };
  }

  private static <T> T roundTrip(TypeSerializer<T> ser, T value) throws IOException {
    DataOutputSerializer out = new DataOutputSerializer(64);
    ser.serialize(value, out);
    DataOutputSerializer copied = new DataOutputSerializer(64);
    ser.copy(new DataInputDeserializer(out.getCopyOfBuffer()), copied);
    assertArrayEquals(out.getCopyOfBuffer(), copied.getCopyOfBuffer());
    return ser.deserialize(new DataInputDeserializer(out.getCopyOfBuffer()));
  }
}
