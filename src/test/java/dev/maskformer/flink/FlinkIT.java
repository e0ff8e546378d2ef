// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import dev.maskformer.MaskFormerRuntime;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.maskformer.ImageLayout.ColorMatrix;
import dev.maskformer.ImageLayout.ColorRange;
import dev.maskformer.Frame;
import dev.maskformer.images.Images;
import dev.maskformer.MaskFormer;
import dev.maskformer.PixelFormat;
import dev.maskformer.Segmentation;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.Collector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Flink operator, source and sink on a real MiniCluster (2 TaskManagers x 2 slots) with the
 * tiny test model: results equal the library's own calls frame for frame, order kept in ordered
 * mode, a task failure restored from a checkpoint without lost or duplicated output files, the
 * example job, and every model and native handle released after each job. Generic (Kryo) types
 * are disabled in every job, so a record that fell back to Kryo would fail it.
 */
class FlinkIT {
  @RegisterExtension
  static final MiniClusterExtension CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder()
          .setNumberTaskManagers(2)
          .setNumberSlotsPerTaskManager(2)
          .build());

  @TempDir static Path inputs;
  static Path model;
  static List<Path> streams = new ArrayList<>();
  /** Labels of direct library calls, by "stream#index". */
  static Map<String, int[]> direct = new HashMap<>();
  static Map<String, long[]> directHistograms = new HashMap<>();

  static final ConcurrentLinkedQueue<SegmentedFrame> COLLECTED = new ConcurrentLinkedQueue<>();
  long handlesBefore;

  /** Four streams of six distinct frames each (crops of the fixture scenes; two sizes). */
  @BeforeAll
  static void frames() throws IOException {
    Path models = Path.of(System.getProperty("maskformer.testModels", "target/test-models"));
    model = models.resolve("tiny.pt");
    BufferedImage big = ImageIO.read(models.resolve("images/scene_640x480.png").toFile());
    for (int s = 0; s < 4; s++) {
      Path dir = Files.createDirectories(inputs.resolve("cam" + s));
      streams.add(dir);
      int w = s % 2 == 0 ? 96 : 64;
      int h = s % 2 == 0 ? 64 : 48;
      for (int i = 0; i < 6; i++) {
        BufferedImage crop = big.getSubimage(40 * s + 23 * i, 30 * s + 17 * i, w, h);
        BufferedImage copy = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
        copy.getGraphics().drawImage(crop, 0, 0, null);
        ImageIO.write(copy, "png", dir.resolve(String.format("f%02d.png", i)).toFile());
      }
    }
    try (MaskFormer m = MaskFormer.load(model); Arena arena = Arena.ofConfined()) {
      for (Path dir : streams) {
        List<Path> files = list(dir);
        for (int i = 0; i < files.size(); i++) {
          try (Segmentation seg = m.segment(Images.read(files.get(i), arena))) {
            direct.put(dir.getFileName() + "#" + i, seg.toIntArray());
            directHistograms.put(dir.getFileName() + "#" + i, seg.histogram());
          }
        }
      }
    }
  }

  @BeforeEach
  void before() {
    COLLECTED.clear();
    handlesBefore = MaskFormerRuntime.liveNativeHandles();
  }

  @AfterEach
  void everythingReleased() {
    assertEquals(0, SharedModels.openModels(), "models left open");
    assertEquals(0, SharedModels.leases(), "leases left");
    assertEquals(handlesBefore, MaskFormerRuntime.liveNativeHandles(), "native handles leaked");
  }

  static StreamExecutionEnvironment env(int parallelism) {
    Configuration conf = new Configuration();
    conf.set(PipelineOptions.GENERIC_TYPES, false); // Kryo would fail the job
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
    env.setParallelism(parallelism);
    return env;
  }

  @Test
  void orderedOperatorMatchesDirectCallsAndKeepsOrder() throws Exception {
    long loads = SharedModels.loads();
    StreamExecutionEnvironment env = env(4);
    DataStream<VideoFrame> frames =
        env.fromSource(FrameSource.of(streams), WatermarkStrategy.noWatermarks(), "frames");
    // three workers per subtask: batches finish out of order, the operator must restore it
    SegmentConfig config = SegmentConfig.of(model.toString()).withBatching(2, Duration.ofMillis(5))
        .withWorkers(3).withCapacity(6);
    MaskFormerFlink.segment(frames, config).sinkTo(new CollectSink());
    env.execute("ordered");

    assertEquals(1, SharedModels.loads() - loads, "4 subtasks in one JVM share one model");
    Map<String, List<SegmentedFrame>> byStream = byStream(new ArrayList<>(COLLECTED));
    assertEquals(4, byStream.size());
    for (List<SegmentedFrame> stream : byStream.values()) {
      assertEquals(6, stream.size());
      for (int i = 0; i < stream.size(); i++) {
        SegmentedFrame s = stream.get(i);
        assertEquals(i, s.frameIndex(), "order of " + s.streamId());
        assertEquals(Math.round(i * 1000 / 25.0), s.timestamp());
        assertArrayEquals(direct.get(s.key()), s.toIntArray(), s.key());
      }
    }
  }

  @Test
  void unorderedOperatorDeliversEveryFrameWithHistograms() throws Exception {
    StreamExecutionEnvironment env = env(2);
    DataStream<VideoFrame> frames =
        env.fromSource(FrameSource.of(streams), WatermarkStrategy.noWatermarks(), "frames");
    SegmentConfig config = SegmentConfig.of(model.toString()).withOrdered(false).withWorkers(2)
        .withBatching(4, Duration.ofMillis(20)).withHistogram(true);
    MaskFormerFlink.segment(frames, config).sinkTo(new CollectSink());
    env.execute("unordered");

    List<SegmentedFrame> all = new ArrayList<>(COLLECTED);
    assertEquals(24, all.size());
    for (SegmentedFrame s : all) {
      assertArrayEquals(direct.get(s.key()), s.toIntArray(), s.key());
      assertArrayEquals(directHistograms.get(s.key()), s.histogram(), s.key());
    }
    assertEquals(24, all.stream().map(SegmentedFrame::key).distinct().count());
  }

  /** Results before and after each watermark, as a downstream operator sees them. */
  static final ConcurrentLinkedQueue<String> LATE = new ConcurrentLinkedQueue<>();
  static final AtomicInteger UNDER_WATERMARK = new AtomicInteger();

  /** Notes every record whose timestamp a watermark before it has already passed. */
  static final class LateCheck extends ProcessFunction<SegmentedFrame, SegmentedFrame> {
    @Override
    public void processElement(SegmentedFrame s, Context ctx, Collector<SegmentedFrame> out) {
      long watermark = ctx.timerService().currentWatermark();
      if (watermark > Long.MIN_VALUE) {
        UNDER_WATERMARK.incrementAndGet();
      }
      if (ctx.timestamp() <= watermark) {
        LATE.add(s.key() + " at " + ctx.timestamp() + " after watermark " + watermark);
      }
      out.collect(s);
    }
  }

  /**
   * Unordered mode reorders results (two workers, frames of two sizes alternating, so batches
   * finish out of order) but never lets a watermark overtake a result it holds back: no record
   * arrives downstream behind a watermark that passed its timestamp. Ordered mode likewise.
   */
  @Test
  void resultsNeverFallBehindAWatermark() throws Exception {
    List<VideoFrame> frames = new ArrayList<>();
    try (Arena arena = Arena.ofConfined()) {
      for (int i = 0; i < 6; i++) {
        for (Path dir : streams) { // cam0 96x64, cam1 64x48, ...: sizes alternate
          Frame f = Images.read(list(dir).get(i), arena);
          frames.add(VideoFrame.of(dir.getFileName().toString(), i, 10L * frames.size(), f));
        }
      }
    }
    for (boolean ordered : new boolean[] {false, true}) {
      LATE.clear();
      UNDER_WATERMARK.set(0);
      COLLECTED.clear();
      StreamExecutionEnvironment env = env(1);
      env.getConfig().setAutoWatermarkInterval(5);
      DataStream<VideoFrame> in = env.fromData(frames, FrameSerializers.FrameTypeInfo.videoFrames())
          .assignTimestampsAndWatermarks(WatermarkStrategy.<VideoFrame>forMonotonousTimestamps()
              .withTimestampAssigner((f, t) -> f.timestamp()));
      SegmentConfig config = SegmentConfig.of(model.toString()).withOrdered(ordered).withWorkers(2)
          .withBatching(2, Duration.ofMillis(5)).withCapacity(4);
      MaskFormerFlink.segment(in, config).process(new LateCheck())
          .returns(FrameSerializers.FrameTypeInfo.segmentedFrames()).sinkTo(new CollectSink());
      env.execute("watermarks");
      assertEquals(24, COLLECTED.size());
      assertEquals(List.of(), new ArrayList<>(LATE), "ordered " + ordered);
      assertTrue(UNDER_WATERMARK.get() > 0, "watermarks reached the results (ordered " + ordered + ")");
    }
  }

  /**
   * Fails once, in one subtask, when the first checkpoint after its second record completes (in
   * the middle of the stream when the machine is idle, at the final checkpoint at worst, so the
   * failure always happens); slows records until then.
   */
  static final class FailOnce extends RichMapFunction<SegmentedFrame, SegmentedFrame>
      implements CheckpointListener {
    static final AtomicBoolean FAILED = new AtomicBoolean();
    static final AtomicInteger CHECKPOINTS = new AtomicInteger();
    private int seen;

    @Override
    public SegmentedFrame map(SegmentedFrame s) throws Exception {
      seen++;
      if (!FAILED.get() && seen >= 2 && CHECKPOINTS.get() == 0) {
        Thread.sleep(100); // between records Flink takes checkpoints
      }
      return s;
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) {
      CHECKPOINTS.incrementAndGet();
      if (seen >= 2 && FAILED.compareAndSet(false, true)) {
        throw new IllegalStateException("injected failure after checkpoint " + checkpointId);
      }
    }
  }

  @Test
  void taskFailureRestoresFromCheckpointWithoutLossOrDuplicates(@TempDir Path out) throws Exception {
    FailOnce.FAILED.set(false);
    FailOnce.CHECKPOINTS.set(0);
    Configuration conf = new Configuration();
    conf.set(PipelineOptions.GENERIC_TYPES, false);
    conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
    conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 3);
    conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(100));
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
    env.setParallelism(2);
    env.enableCheckpointing(100);
    DataStream<SegmentedFrame> results = MaskFormerFlink.segment(
            env.fromSource(FrameSource.of(streams), WatermarkStrategy.noWatermarks(), "frames"),
            SegmentConfig.of(model.toString()).withBatching(2, Duration.ofMillis(5)))
        .map(new FailOnce()).returns(FrameSerializers.FrameTypeInfo.segmentedFrames());
    results.sinkTo(LabelPngSink.labels(out));
    results.sinkTo(new CollectSink());
    env.execute("restart");

    assertTrue(FailOnce.FAILED.get(),
        "the failure was injected (" + FailOnce.CHECKPOINTS.get() + " checkpoints completed)");
    // the sinks see at-least-once delivery: frames after the checkpoint may come twice ...
    List<SegmentedFrame> delivered = new ArrayList<>(COLLECTED);
    Map<String, SegmentedFrame> unique = new HashMap<>();
    for (SegmentedFrame s : delivered) {
      SegmentedFrame before = unique.putIfAbsent(s.key(), s);
      if (before != null) {
        assertEquals(before, s, "a replayed frame must give the same result: " + s.key());
      }
    }
    System.out.println("FlinkIT restart: " + delivered.size() + " deliveries of " + unique.size()
        + " frames after " + FailOnce.CHECKPOINTS.get() + " checkpoints");
    assertEquals(direct.keySet(), unique.keySet(), "every frame, no other");
    // ... and the PNG sink, keyed by (stream, frame index), ends with exactly one file per frame
    List<Path> files;
    try (Stream<Path> s = Files.walk(out)) {
      files = s.filter(Files::isRegularFile).sorted().toList();
    }
    assertEquals(24, files.size(), "files: " + files);
    for (Path dir : streams) {
      String stream = dir.getFileName().toString();
      for (int i = 0; i < 6; i++) {
        Path png = LabelPngSink.labelFile(out, stream, i);
        assertTrue(Files.isRegularFile(png), png.toString());
        assertArrayEquals(direct.get(stream + "#" + i), grey(png), png.toString());
      }
    }
  }

  @Test
  void exampleJobSegmentsVideoAndFoldersIntoPngs(@TempDir Path work) throws Exception {
    Path video = work.resolve("clip.mkv");
    // ten 80x48 frames of ffmpeg's test pattern, lossless
    Process p = new ProcessBuilder("ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i",
        "testsrc=size=80x48:rate=10", "-frames:v", "10", "-c:v", "ffv1", video.toString())
        .redirectErrorStream(true).start();
    String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(0, p.waitFor(), "ffmpeg: " + log);
    Path out = work.resolve("out");
    SegmentVideoJob.run(env(2), new String[] {"--model", model.toString(), "--input", video.toString(),
        "--input", streams.get(0).toString(), "--output", out.toString(), "--colour",
        "--overlay", "0.5", "--batch", "4", "--max-frames", "8"});

    // the video's frames, decoded here by ffmpeg, segmented by direct library calls
    Process raw = new ProcessBuilder("ffmpeg", "-v", "error", "-nostdin", "-i", video.toString(),
        "-f", "rawvideo", "-pix_fmt", "bgr24", "-").start();
    byte[] all = raw.getInputStream().readAllBytes();
    assertEquals(0, raw.waitFor());
    int frameBytes = 80 * 48 * 3;
    assertEquals(10 * frameBytes, all.length);
    try (MaskFormer m = MaskFormer.load(model); Arena arena = Arena.ofConfined()) {
      for (int i = 0; i < 8; i++) {
        MemorySegment px = arena.allocate(frameBytes);
        MemorySegment.copy(MemorySegment.ofArray(all), i * (long) frameBytes, px, 0, frameBytes);
        try (Segmentation s = m.segment(Frame.of(px, 80, 48, PixelFormat.BGR))) {
          assertArrayEquals(s.toIntArray(), grey(LabelPngSink.labelFile(out, "clip", i)), "video frame " + i);
        }
      }
    }
    assertTrue(Files.notExists(LabelPngSink.labelFile(out, "clip", 8)), "--max-frames 8");
    for (int i = 0; i < 6; i++) {
      assertArrayEquals(direct.get("cam0#" + i), grey(LabelPngSink.labelFile(out, "cam0", i)));
    }
    Path overlay = out.resolve("clip/00000003.overlay.png");
    Path colour = out.resolve("clip/00000003.colour.png");
    assertNotNull(ImageIO.read(overlay.toFile()), overlay.toString());
    assertEquals(80, ImageIO.read(colour.toFile()).getWidth());
    try (Stream<Path> s = Files.walk(out)) {
      assertEquals(3 * (8 + 6), s.filter(Files::isRegularFile).count(), "labels, colour, overlay each");
    }
  }

  /**
   * Videos are read as YUV (the stream's 4:2:0 with its colours, no swscale) and give the labels of
   * the BGR path (ffmpeg's conversion): the fixture clip (H.264, BT.601, limited) and an odd-sized
   * full-range BT.709 VP9 clip.
   */
  @Test
  void yuvDecodedVideoSegmentsAsTheBgrPath(@TempDir Path work) throws Exception {
    Path fixture = model.resolveSibling("video.mp4");
    Path odd = work.resolve("odd709full.webm");
    Process p = new ProcessBuilder("ffmpeg", "-v", "error", "-nostdin", "-y", "-i", fixture.toString(),
        "-vf", "scale=97:61,format=yuv420p", "-frames:v", "4", "-colorspace", "bt709", "-color_range", "pc",
        "-c:v", "libvpx-vp9", "-crf", "30", "-b:v", "0", odd.toString()).redirectErrorStream(true).start();
    String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(0, p.waitFor(), "ffmpeg: " + log);
    Map<FrameSource.Decode, Map<String, SegmentedFrame>> runs = new HashMap<>();
    for (FrameSource.Decode mode : List.of(FrameSource.Decode.AUTO, FrameSource.Decode.BGR)) {
      COLLECTED.clear();
      StreamExecutionEnvironment env = env(2);
      FrameSource source = FrameSource.builder().input("fixture", fixture).input("odd", odd)
          .maxFrames(6).decode(mode).build();
      DataStream<VideoFrame> frames = env.fromSource(source, WatermarkStrategy.noWatermarks(), "frames");
      DataStream<SegmentedFrame> results = MaskFormerFlink.segment(frames,
          SegmentConfig.of(model.toString()).withKeepSource(true).withBatching(3, Duration.ofMillis(5)));
      results.sinkTo(new CollectSink());
      results.sinkTo(LabelPngSink.labels(work.resolve(mode.name())).withPaletteOf(model.toString())
          .withOverlay(0.5));
      env.execute("yuv vs bgr: " + mode);
      Map<String, SegmentedFrame> byKey = new HashMap<>();
      COLLECTED.forEach(f -> byKey.put(f.key(), f));
      assertEquals(6 + 4, byKey.size(), mode + ": every frame once");
      runs.put(mode, byKey);
    }
    long same = 0;
    long total = 0;
    for (SegmentedFrame yuv : runs.get(FrameSource.Decode.AUTO).values()) {
      VideoFrame src = yuv.source();
      boolean isOdd = yuv.streamId().equals("odd");
      assertEquals(PixelFormat.I420, src.format(), yuv.key());
      assertEquals(isOdd ? ColorMatrix.BT709 : ColorMatrix.BT601, src.matrix(), yuv.key());
      assertEquals(isOdd ? ColorRange.FULL : ColorRange.LIMITED, src.range(), yuv.key());
      SegmentedFrame bgr = runs.get(FrameSource.Decode.BGR).get(yuv.key());
      assertEquals(PixelFormat.BGR, bgr.source().format(), bgr.key());
      int[] a = yuv.toIntArray();
      int[] b = bgr.toIntArray();
      assertEquals(b.length, a.length);
      for (int i = 0; i < a.length; i++) {
        same += a[i] == b[i] ? 1 : 0;
      }
      total += a.length;
    }
    System.out.printf(java.util.Locale.ROOT, "FlinkIT: YUV and BGR paths give equal labels on %.4f%% of %d pixels%n",
        100.0 * same / total, total);
    assertTrue(same >= 0.999 * total, "labels equal on " + same + " of " + total + " pixels");
    // overlays of YUV frames (the library's conversion) look as those of ffmpeg's BGR
    for (String stream : List.of("fixture", "odd")) {
      BufferedImage a = ImageIO.read(work.resolve("AUTO/" + stream + "/00000001.overlay.png").toFile());
      BufferedImage b = ImageIO.read(work.resolve("BGR/" + stream + "/00000001.overlay.png").toFile());
      assertEquals(b.getWidth(), a.getWidth());
      long close = 0;
      for (int y = 0; y < a.getHeight(); y++) {
        for (int x = 0; x < a.getWidth(); x++) {
          int ca = a.getRGB(x, y);
          int cb = b.getRGB(x, y);
          boolean near = true;
          for (int shift = 0; shift < 24; shift += 8) {
            near &= Math.abs(((ca >> shift) & 0xFF) - ((cb >> shift) & 0xFF)) <= 2;
          }
          close += near ? 1 : 0;
        }
      }
      assertTrue(close >= 0.999 * a.getWidth() * a.getHeight(), stream + " overlay: " + close + " pixels within 2 levels");
    }
  }

  /** Collects results in this JVM (the MiniCluster's TaskManagers run here). */
  static final class CollectSink implements Sink<SegmentedFrame> {
    @Override
    public SinkWriter<SegmentedFrame> createWriter(WriterInitContext context) {
      return new SinkWriter<>() {
        @Override
        public void write(SegmentedFrame s, Context c) {
          COLLECTED.add(s);
        }

        @Override
        public void flush(boolean endOfInput) {}

        @Override
        public void close() {}
      };
    }
  }

  static Map<String, List<SegmentedFrame>> byStream(List<SegmentedFrame> all) {
    Map<String, List<SegmentedFrame>> out = new HashMap<>();
    for (SegmentedFrame s : all) {
      out.computeIfAbsent(s.streamId(), k -> new ArrayList<>()).add(s);
    }
    return out;
  }

  static int[] grey(Path png) throws IOException {
    BufferedImage img = ImageIO.read(png.toFile());
    int[] out = new int[img.getWidth() * img.getHeight()];
    img.getRaster().getPixels(0, 0, img.getWidth(), img.getHeight(), out);
    return out;
  }

  static List<Path> list(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.sorted().toList();
    }
  }
}
