// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import dev.maskformer.MaskFormerRuntime;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.maskformer.images.Images;
import dev.maskformer.MaskFormer;
import dev.maskformer.Segmentation;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import javax.imageio.ImageIO;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.checkpoint.CheckpointStatsSnapshot;
import org.apache.flink.runtime.checkpoint.AbstractCheckpointStats;
import org.apache.flink.runtime.checkpoint.CheckpointFailureReason;
import org.apache.flink.runtime.checkpoint.FailedCheckpointStats;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.util.TestStreamEnvironment;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The documented job (docs/flink.md) at real frame sizes with Flink's defaults: 640x480 and
 * 1280x720 frames, batches of 4, parallelism 2, a checkpoint every second into Flink's default
 * checkpoint storage (the JobManager's memory, at most 5 MiB per operator state), nothing else
 * configured. Every checkpoint must complete, and every frame must reach the sink exactly once,
 * with the labels of direct library calls.
 *
 * <p>With Flink's async I/O operator, whose state holds every frame in flight, the first
 * checkpoint failed at both sizes ("Size of the state is larger than the maximum permitted
 * memory-backed state"). The restart strategy is "none" here only so that such a failure fails the
 * test at once instead of restarting the job over and over (Flink's default with checkpoints).
 */
class FlinkCheckpointIT {
  /**
   * A MiniCluster with Flink's defaults, as a local environment in a user's project has.
   * MiniClusterExtension would not do: it sets a checkpoint directory, and with it file-based
   * checkpoint storage, under which the old operator's 30 MB checkpoints completed.
   */
  static MiniCluster cluster;

  static final int STREAMS = 2;
  @TempDir static Path inputs;
  static Path model;
  static BufferedImage scene;

  /** Deliveries per "stream#index", across all subtasks. */
  static final Map<String, AtomicInteger> DELIVERED = new ConcurrentHashMap<>();
  static final Map<String, int[]> LABELS = new ConcurrentHashMap<>();
  static final AtomicInteger RESTARTS = new AtomicInteger();
  static final AtomicLong CHECKPOINTS_SEEN = new AtomicLong();
  long handlesBefore;

  @BeforeAll
  static void start() throws Exception {
    Configuration defaults = new Configuration();
    cluster = new MiniCluster(new MiniClusterConfiguration.Builder().setConfiguration(defaults)
        .setNumTaskManagers(1).setNumSlotsPerTaskManager(2).build());
    cluster.start();
    TestStreamEnvironment.setAsContext(cluster, 2);
  }

  @AfterAll
  static void stop() throws Exception {
    TestStreamEnvironment.unsetAsContext();
    if (cluster != null) {
      cluster.close();
    }
  }

  @BeforeAll
  static void scene() throws IOException {
    Path models = Path.of(System.getProperty("maskformer.testModels", "target/test-models"));
    model = models.resolve("tiny.pt");
    scene = ImageIO.read(models.resolve("images/scene_640x480.png").toFile());
  }

  @BeforeEach
  void before() {
    DELIVERED.clear();
    LABELS.clear();
    RESTARTS.set(0);
    CHECKPOINTS_SEEN.set(0);
    handlesBefore = MaskFormerRuntime.liveNativeHandles();
  }

  @AfterEach
  void everythingReleased() {
    assertEquals(0, SharedModels.openModels(), "models left open");
    assertEquals(0, SharedModels.leases(), "leases left");
    assertEquals(handlesBefore, MaskFormerRuntime.liveNativeHandles(), "native handles leaked");
  }

  /**
   * Two streams of distinct frames (the fixture scene scaled to the size and shifted a little
   * more in each frame), as PNG folders.
   */
  static List<Path> streams(Path root, int width, int height, int frames) throws IOException {
    List<Path> dirs = new ArrayList<>();
    for (int s = 0; s < STREAMS; s++) {
      Path dir = Files.createDirectories(root.resolve(width + "x" + height + "-cam" + s));
      for (int i = 0; i < frames; i++) {
        BufferedImage f = new BufferedImage(width, height, BufferedImage.TYPE_3BYTE_BGR);
        Graphics2D g = f.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        int dx = (7 * i + 31 * s) % 97;
        g.drawImage(scene, -dx, -dx / 2, width + 97, height + 97, null);
        g.dispose();
        ImageIO.write(f, "png", dir.resolve(String.format("f%04d.png", i)).toFile());
      }
      dirs.add(dir);
    }
    return dirs;
  }

  @ParameterizedTest(name = "{0}x{1}, {2} frames per stream")
  @CsvSource({"640, 480, 40", "1280, 720, 24"})
  void documentedJobCompletesWithCheckpointsEverySecond(int width, int height, int frames)
      throws Exception {
    List<Path> dirs = streams(inputs, width, height, frames);

    Configuration conf = new Configuration();
    conf.set(PipelineOptions.GENERIC_TYPES, false);
    conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
    env.setParallelism(2);
    env.enableCheckpointing(1_000);
    FrameSource.Builder source = FrameSource.builder();
    dirs.forEach(source::input);
    DataStream<VideoFrame> in =
        env.fromSource(source.build(), WatermarkStrategy.noWatermarks(), "frames");
    DataStream<SegmentedFrame> labels = MaskFormerFlink.segment(in,
        SegmentConfig.of(model.toString()).withBatching(4, Duration.ofMillis(20)).withHistogram(true));
    labels.map(new Watch()).returns(FrameSerializers.FrameTypeInfo.segmentedFrames())
        .sinkTo(new CountingSink());

    long t0 = System.nanoTime();
    JobClient job = env.executeAsync("checkpoints " + width + "x" + height);
    JobExecutionResult result = job.getJobExecutionResult().get(10, TimeUnit.MINUTES);
    double seconds = (System.nanoTime() - t0) / 1e9;
    CheckpointStatsSnapshot stats = cluster.getArchivedExecutionGraph(result.getJobID()).get()
        .getCheckpointStatsSnapshot();
    long completed = stats.getCounts().getNumberOfCompletedCheckpoints();
    long failed = stats.getCounts().getNumberOfFailedCheckpoints();
    long maxState = completed == 0 ? 0 : stats.getSummaryStats().getStateSizeStats().getMaximum();
    long maxMs = completed == 0 ? 0 : stats.getSummaryStats().getEndToEndDurationStats().getMaximum();
    // checkpoints triggered before every task runs or while a subtask finishes (its last frames
    // drained in endInput, or after it is gone) are declined by Flink itself and do not count
    // against the job; any other failure is a failure here
    Set<String> failures = new TreeSet<>();
    long declined = 0;
    for (AbstractCheckpointStats c : stats.getHistory().getCheckpoints()) {
      if (c instanceof FailedCheckpointStats f) {
        String why = String.valueOf(f.getFailureMessage());
        if (why.contains(CheckpointFailureReason.CHECKPOINT_DECLINED_TASK_NOT_READY.message())
            || why.contains(CheckpointFailureReason.CHECKPOINT_DECLINED_TASK_CLOSING.message())
            || why.contains("checkpoint request for unknown task")) {
          declined++;
        } else {
          failures.add(why);
        }
      }
    }
    System.out.printf("FlinkCheckpointIT %dx%d: %d frames in %.1f s, %d checkpoints completed"
            + " (largest %d bytes, longest %d ms), %d declined by starting or finishing tasks, other"
            + " failures: %s%n",
        width, height, STREAMS * frames, seconds, completed, maxState, maxMs, declined, failures);

    assertEquals(Set.of(), failures, "failed checkpoints (of " + failed + ")");
    assertEquals(0, RESTARTS.get(), "restarts");
    assertTrue(completed >= 1, "at least one checkpoint completed while frames were in flight");
    // the operator keeps no frames in its state: what is left is the source's positions
    assertTrue(maxState < 64 * 1024, "largest checkpoint " + maxState + " bytes");
    Map<String, Integer> counts = new HashMap<>();
    DELIVERED.forEach((k, v) -> counts.put(k, v.get()));
    for (Path dir : dirs) {
      for (int i = 0; i < frames; i++) {
        String key = dir.getFileName() + "#" + i;
        assertEquals(1, counts.getOrDefault(key, 0), "deliveries of " + key);
      }
    }
    assertEquals(STREAMS * frames, counts.size(), "no other frames");

    // labels equal direct library calls on the same files (every 8th frame: the fixture model
    // is fast, but 1280x720 is not free on a 2-core machine)
    try (MaskFormer m = MaskFormer.load(model); Arena arena = Arena.ofConfined()) {
      for (Path dir : dirs) {
        for (int i = 0; i < frames; i += 8) {
          Path file = dir.resolve(String.format("f%04d.png", i));
          try (Segmentation seg = m.segment(Images.read(file, arena))) {
            String key = dir.getFileName() + "#" + i;
            assertArrayEquals(seg.toIntArray(), LABELS.get(key), key);
          }
        }
      }
    }
  }

  /** Counts completed checkpoints and restarts (attempts after the first). */
  static final class Watch extends RichMapFunction<SegmentedFrame, SegmentedFrame>
      implements CheckpointListener {
    @Override
    public void open(OpenContext context) {
      if (getRuntimeContext().getTaskInfo().getAttemptNumber() > 0) {
        RESTARTS.incrementAndGet();
      }
    }

    @Override
    public SegmentedFrame map(SegmentedFrame s) {
      return s;
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) {
      CHECKPOINTS_SEEN.incrementAndGet();
    }
  }

  /** Counts deliveries per frame key in this JVM (the MiniCluster runs here). */
  static final class CountingSink implements Sink<SegmentedFrame> {
    @Override
    public SinkWriter<SegmentedFrame> createWriter(WriterInitContext context) {
      return new SinkWriter<>() {
        @Override
        public void write(SegmentedFrame s, Context c) {
          DELIVERED.computeIfAbsent(s.key(), k -> new AtomicInteger()).incrementAndGet();
          LABELS.put(s.key(), s.toIntArray());
        }

        @Override
        public void flush(boolean endOfInput) {}

        @Override
        public void close() {}
      };
    }
  }
}
