// SPDX-License-Identifier: Apache-2.0
// Throughput of the Flink operator against the library's own batched calls, in one JVM, in
// interleaved rounds: the same frames (decoded once, in memory for the library; BMP files read by
// FrameSource for Flink), the same batch size, the same model. Every round runs each Flink setup
// right after a library run, and the summary gives medians over the rounds of the rates and of the
// per-round ratios. Besides frames per second it reports process CPU time per frame (all threads of
// this JVM: on a machine shared with other work, a rate depends on the share of the cores this JVM
// got, CPU time much less). Run by src/test/bench/flink.sh.
//   javac -d DIR ...; java -cp DIR:CLASSPATH FlinkBench MODEL FRAMES_DIR [ROUNDS]
import dev.maskformer.MaskFormerRuntime;
import dev.maskformer.Output.LabelType;
import dev.maskformer.Frame;
import dev.maskformer.images.Images;
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
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
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
  /** Arrival time and process CPU time of each result at the sink, in arrival order. */
  static final long[] TIMES = new long[1 << 16];
  static final long[] CPU = new long[1 << 16];
  static final AtomicInteger COUNT = new AtomicInteger();
  static final com.sun.management.OperatingSystemMXBean OS =
      (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

  /** A Flink setup: TaskManagers, slots each, parallelism, checkpoint interval (0: none). */
  record Setup(String name, int taskManagers, int slots, int parallelism, long checkpointMs) {}

  /** frames/s and CPU ms per frame. */
  record Rate(double fps, double cpuMs) {}

  public static void main(String[] args) throws Exception {
    Path model = Path.of(args[0]);
    Path dir = Path.of(args[1]);
    int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 5;
    List<Setup> setups = List.of(
        new Setup("p=1", 1, 1, 1, 0),
        new Setup("p=1, checkpoint every 1 s (default storage)", 1, 1, 1, 1000),
        new Setup("1 TM x 2 slots, p=2", 1, 2, 2, 0),
        new Setup("2 TMs x 1 slot, p=2", 2, 1, 2, 0),
        new Setup("2 TMs x 2 slots, p=4", 2, 2, 4, 0));
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
        outputs.add(Output.labels(MaskFormerRuntime.allocateHost(arena, frame.layout().pixels() * type.bytes()), type));
      }
      System.out.printf(Locale.ROOT, "frames: %d x %dx%d, model %s, batch %d, %d CPUs, %s%n",
          frames.size(), frames.get(0).width(), frames.get(0).height(), model, BATCH,
          Runtime.getRuntime().availableProcessors(), MaskFormerRuntime.info());
      System.out.println("load average at the start: " + loadAverage());
      library(m, frames, outputs); // warm-up
      flink(model, dir, setups.get(0));
      Map<Setup, List<double[]>> results = new LinkedHashMap<>();
      for (int r = 1; r <= rounds; r++) {
        for (Setup s : setups) {
          Rate lib = library(m, frames, outputs);
          double[] f = flink(model, dir, s);
          results.computeIfAbsent(s, k -> new ArrayList<>())
              .add(new double[] {lib.fps(), f[0], f[0] / lib.fps(), f[1], lib.cpuMs(), f[2]});
          System.out.printf(Locale.ROOT, "round %d, %s: library %.2f frames/s (%.0f CPU ms/frame) |"
              + " operator steady %.2f frames/s (%.2fx, %.0f CPU ms/frame), whole job %.2f frames/s%n",
              r, s.name(), lib.fps(), lib.cpuMs(), f[0], f[0] / lib.fps(), f[2], f[1]);
        }
        System.out.println("load average after round " + r + ": " + loadAverage());
      }
      System.out.printf(Locale.ROOT, "%nmedians over %d rounds (ratio: median of the per-round ratios, min-max)%n", rounds);
      System.out.println("| setup | library, batched calls | operator, steady | operator / library"
          + " | operator, whole job | CPU ms per frame, library / operator |");
      System.out.println("|---|---|---|---|---|---|");
      for (var e : results.entrySet()) {
        List<double[]> v = e.getValue();
        System.out.printf(Locale.ROOT, "| %s | %.2f frames/s | %.2f frames/s | %.2f (%.2f-%.2f) | %.2f frames/s | %.0f / %.0f |%n",
            e.getKey().name(), median(v, 0), median(v, 1), median(v, 2), min(v, 2), max(v, 2),
            median(v, 3), median(v, 4), median(v, 5));
      }
      System.out.println("load average at the end: " + loadAverage());
    }
  }

  static String loadAverage() {
    try {
      return Files.readString(Path.of("/proc/loadavg")).trim();
    } catch (java.io.IOException e) {
      return String.format(Locale.ROOT, "%.2f", OS.getSystemLoadAverage());
    }
  }

  static double median(List<double[]> rows, int column) {
    double[] v = rows.stream().mapToDouble(r -> r[column]).sorted().toArray();
    return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  }

  static double min(List<double[]> rows, int column) {
    return rows.stream().mapToDouble(r -> r[column]).min().orElse(Double.NaN);
  }

  static double max(List<double[]> rows, int column) {
    return rows.stream().mapToDouble(r -> r[column]).max().orElse(Double.NaN);
  }

  /** Batched zero-copy calls over all frames. */
  static Rate library(MaskFormer m, List<Frame> frames, List<Output> outputs) {
    long cpu0 = OS.getProcessCpuTime();
    long t0 = System.nanoTime();
    for (int i = 0; i < frames.size(); i += BATCH) {
      int n = Math.min(BATCH, frames.size() - i);
      m.segment(frames.subList(i, i + n), outputs.subList(i, i + n), SegmentOptions.DEFAULTS);
    }
    long t1 = System.nanoTime();
    long cpu1 = OS.getProcessCpuTime();
    return new Rate(frames.size() / ((t1 - t0) / 1e9), (cpu1 - cpu0) / 1e6 / frames.size());
  }

  /**
   * {steady-state frames/s (after the first quarter of the results), frames/s of the whole job,
   * steady-state CPU ms per frame}.
   */
  static double[] flink(Path model, Path dir, Setup s) throws Exception {
    Configuration conf = new Configuration();
    conf.set(PipelineOptions.GENERIC_TYPES, false);
    conf.set(TaskManagerOptions.MINI_CLUSTER_NUM_TASK_MANAGERS, s.taskManagers());
    conf.set(TaskManagerOptions.NUM_TASK_SLOTS, s.slots());
    int parallelism = s.parallelism();
    StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(parallelism, conf);
    if (s.checkpointMs() > 0) {
      env.enableCheckpointing(s.checkpointMs());
    }
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
    double cpuMs = (CPU[n - 1] - CPU[k - 1]) / 1e6 / (n - k);
    // the MiniCluster's shutdown and garbage must not fall into the next library run
    System.gc();
    Thread.sleep(1000);
    return new double[] {steady, whole, cpuMs};
  }

  static final class TimingSink implements Sink<SegmentedFrame> {
    @Override
    public SinkWriter<SegmentedFrame> createWriter(WriterInitContext context) {
      return new SinkWriter<>() {
        @Override
        public void write(SegmentedFrame s, Context c) {
          long now = System.nanoTime();
          long cpu = OS.getProcessCpuTime();
          synchronized (TIMES) {
            int i = COUNT.getAndIncrement();
            TIMES[i] = now;
            CPU[i] = cpu;
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
