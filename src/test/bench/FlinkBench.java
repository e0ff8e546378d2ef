// SPDX-License-Identifier: Apache-2.0
// Throughput of the Flink operator against the library's own batched calls, in one JVM, in
// interleaved rounds: the same frames (decoded once, in memory for the library; BMP files read by
// FrameSource for Flink), the same batch size, the same model. Run by src/test/bench/flink.sh.
//   javac -d DIR ...; java -cp DIR:CLASSPATH FlinkBench MODEL FRAMES_DIR [ROUNDS]
import dev.maskformer.Frame;
import dev.maskformer.Images;
import dev.maskformer.LabelType;
import dev.maskformer.LoadOptions;
import dev.maskformer.MaskFormer;
import dev.maskformer.Output;
import dev.maskformer.SegmentOptions;
import dev.maskformer.flink.FrameSource;
import dev.maskformer.flink.MaskFormerFlink;
import dev.maskformer.flink.SegmentConfig;
import dev.maskformer.flink.SegmentedFrame;
import dev.maskformer.flink.SharedModels;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

public final class FlinkBench {
  static final int BATCH = 4;
  /** Arrival time of each result at the sink, in arrival order. */
  static final long[] TIMES = new long[1 << 16];
  static final AtomicInteger COUNT = new AtomicInteger();

  public static void main(String[] args) throws Exception {
    Path model = Path.of(args[0]);
    Path dir = Path.of(args[1]);
    int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 3;
    List<Path> files;
    try (Stream<Path> s = Files.list(dir)) {
      files = s.sorted().toList();
    }
    // the model stays loaded between runs (a long-running job loads it once): the Flink jobs
    // lease this same instance through SharedModels
    try (SharedModels.Lease lease = SharedModels.acquire(model, LoadOptions.DEFAULTS);
        Arena arena = Arena.ofConfined()) {
      MaskFormer m = lease.model();
      List<Frame> frames = new ArrayList<>();
      List<Output> outputs = new ArrayList<>();
      LabelType type = LabelType.forClasses(m.numClasses());
      for (Path f : files) {
        Frame frame = Images.read(f, arena);
        frames.add(frame);
        outputs.add(Output.labels(MaskFormer.allocateHost(arena, frame.layout().pixels() * type.bytes()), type));
      }
      System.out.printf(Locale.ROOT, "frames: %d x %dx%d, model %s, batch %d, %d CPUs, %s%n",
          frames.size(), frames.get(0).width(), frames.get(0).height(), model, BATCH,
          Runtime.getRuntime().availableProcessors(), MaskFormer.runtime());
      library(m, frames, outputs); // warm-up
      flink(model, dir, 1, 1, 1);
      for (int r = 1; r <= rounds; r++) {
        double lib = library(m, frames, outputs);
        double[] f1 = flink(model, dir, 1, 1, 1);
        double single = library(m, frames, outputs, 1);
        System.out.printf(Locale.ROOT, "round %d: library batch %d %.2f frames/s | flink p=1: steady %.2f"
            + " frames/s (%.2fx), whole job %.2f frames/s | library batch 1 %.2f frames/s%n",
            r, BATCH, lib, f1[0], f1[0] / lib, f1[1], single);
      }
      for (int[] shape : new int[][] {{1, 2, 2}, {2, 1, 2}, {2, 2, 4}}) {
        double lib = library(m, frames, outputs);
        double[] f = flink(model, dir, shape[0], shape[1], shape[2]);
        System.out.printf(Locale.ROOT, "scaling: %d TaskManager(s) x %d slot(s), parallelism %d: steady %.2f"
            + " frames/s (%.2fx the library's %.2f), whole job %.2f frames/s%n",
            shape[0], shape[1], shape[2], f[0], f[0] / lib, lib, f[1]);
      }
    }
  }

  /** frames/s of batched zero-copy calls over all frames. */
  static double library(MaskFormer m, List<Frame> frames, List<Output> outputs) {
    return library(m, frames, outputs, BATCH);
  }

  static double library(MaskFormer m, List<Frame> frames, List<Output> outputs, int batch) {
    long t0 = System.nanoTime();
    for (int i = 0; i < frames.size(); i += batch) {
      int n = Math.min(batch, frames.size() - i);
      m.segment(frames.subList(i, i + n), outputs.subList(i, i + n), SegmentOptions.DEFAULTS);
    }
    return frames.size() / ((System.nanoTime() - t0) / 1e9);
  }

  /** {steady-state frames/s (after the first quarter of the results), frames/s of the whole job}. */
  static double[] flink(Path model, Path dir, int taskManagers, int slots, int parallelism) throws Exception {
    Configuration conf = new Configuration();
    conf.set(PipelineOptions.GENERIC_TYPES, false);
    conf.set(TaskManagerOptions.MINI_CLUSTER_NUM_TASK_MANAGERS, taskManagers);
    conf.set(TaskManagerOptions.NUM_TASK_SLOTS, slots);
    StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(parallelism, conf);
    // one stream per subtask: the folder's frames split into `parallelism` inputs
    FrameSource.Builder source = FrameSource.builder();
    for (int p = 0; p < parallelism; p++) {
      source.input("part" + p, dir.resolve("..").resolve(dir.getFileName() + "-" + parallelism + "-" + p));
    }
    COUNT.set(0);
    SegmentConfig config = SegmentConfig.of(model.toString()).withBatching(BATCH, Duration.ofMillis(50))
        .withCapacity(2 * BATCH);
    MaskFormerFlink.segment(env.fromSource(source.build(), WatermarkStrategy.noWatermarks(), "frames"), config)
        .sinkTo(new TimingSink());
    long t0 = System.nanoTime();
    env.execute("bench");
    int n = COUNT.get();
    double whole = n / ((System.nanoTime() - t0) / 1e9);
    // steady state: the results after the first quarter (a whole number of batches per subtask),
    // over the time from the last result of that quarter to the last result
    int k = Math.max(BATCH * parallelism, n / 4 / (BATCH * parallelism) * BATCH * parallelism);
    double steady = (n - k) / ((TIMES[n - 1] - TIMES[k - 1]) / 1e9);
    return new double[] {steady, whole};
  }

  static final class TimingSink implements Sink<SegmentedFrame> {
    @Override
    public SinkWriter<SegmentedFrame> createWriter(WriterInitContext context) {
      return new SinkWriter<>() {
        @Override
        public void write(SegmentedFrame s, Context c) {
          long now = System.nanoTime();
          synchronized (TIMES) {
            TIMES[COUNT.getAndIncrement()] = now;
          }
        }

        @Override
        public void flush(boolean endOfInput) {}

        @Override
        public void close() {}
      };
    }
  }
}
