// SPDX-License-Identifier: Apache-2.0
// Decode + segment of a video in a Flink job (MiniCluster in this JVM, parallelism 1): FrameSource
// decoding the video to YUV (the stream's 4:2:0, no swscale; Decode.AUTO) against decoding it to
// BGR (ffmpeg's swscale; Decode.BGR, what the source did before), each with the operator's default
// batch (1 frame on the CPU) and with batches of 4, in interleaved rounds (the order of the setups
// turns around every round). Per run: frames/s of the whole job (start-up included), frames/s
// after the first quarter of the results ("steady"), and CPU ms per frame of this JVM plus its
// finished child processes (the ffmpeg decoders: /proc/self/stat cutime + cstime), since on a
// machine shared with other work a rate depends on the share of the cores this JVM got. Medians
// at the end. Run by src/test/bench/flink-video.sh.
//   javac -d DIR ...; java -cp DIR:CLASSPATH FlinkVideoBench MODEL VIDEO FRAMES [ROUNDS]
import dev.maskformer.MaskFormerRuntime;
import dev.maskformer.LoadOptions;
import dev.maskformer.MaskFormer;
import dev.maskformer.flink.FrameSource;
import dev.maskformer.flink.MaskFormerFlink;
import dev.maskformer.flink.SegmentConfig;
import dev.maskformer.flink.SegmentedFrame;
import dev.maskformer.flink.SharedModels;
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
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

public final class FlinkVideoBench {
  static final long[] TIMES = new long[1 << 16];
  static final AtomicInteger COUNT = new AtomicInteger();
  static final String[] FORMATS = new String[1 << 16];
  static final com.sun.management.OperatingSystemMXBean OS =
      (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
  static final long TICK_NS = 10_000_000L; // USER_HZ = 100 on Linux

  record Setup(String name, FrameSource.Decode decode, int batch) {}

  public static void main(String[] args) throws Exception {
    Path model = Path.of(args[0]);
    Path video = Path.of(args[1]);
    int frames = Integer.parseInt(args[2]);
    int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 3;
    List<Setup> setups = List.of(
        new Setup("YUV (AUTO), default batch", FrameSource.Decode.AUTO, SegmentConfig.AUTO_BATCH),
        new Setup("BGR (swscale), default batch", FrameSource.Decode.BGR, SegmentConfig.AUTO_BATCH),
        new Setup("YUV (AUTO), batch 4", FrameSource.Decode.AUTO, 4),
        new Setup("BGR (swscale), batch 4", FrameSource.Decode.BGR, 4));
    // the model stays loaded between runs (a long-running job loads it once): the jobs lease it
    try (SharedModels.Lease lease = SharedModels.acquire(model, LoadOptions.DEFAULTS)) {
      System.out.printf(Locale.ROOT, "video %s, %d frames a run, model %s on %s, %d CPUs, %s%n", video, frames,
          model, lease.model().info().device(), Runtime.getRuntime().availableProcessors(), MaskFormerRuntime.info());
      System.out.println("load average at the start: " + loadAverage());
      // warm-up (class loading, the first call), keeping the frames to show what the source made
      for (Setup s : setups.subList(0, 2)) {
        run(model, video, Math.min(frames, 2), s, true);
        System.out.println("warm-up, " + s.name() + ": frames arrive as " + FORMATS[0]);
      }
      Map<Setup, List<double[]>> results = new LinkedHashMap<>();
      for (int r = 1; r <= rounds; r++) {
        List<Setup> order = new ArrayList<>(setups);
        if (r % 2 == 0) {
          java.util.Collections.reverse(order);
        }
        for (Setup s : order) {
          double[] v = run(model, video, frames, s, false);
          results.computeIfAbsent(s, k -> new ArrayList<>()).add(v);
          System.out.printf(Locale.ROOT, "round %d, %s: %d frames, whole job %.3f frames/s, steady %.3f"
                  + " frames/s, %.0f CPU ms a frame (JVM %.0f + ffmpeg %.0f), load %s%n", r, s.name(), (int) v[4],
              v[0], v[1], v[2] + v[3], v[2], v[3], loadAverage());
        }
      }
      System.out.printf(Locale.ROOT, "%nmedians over %d rounds%n", rounds);
      System.out.println("| setup | whole job, frames/s | steady, frames/s | CPU ms a frame (JVM + ffmpeg) |");
      System.out.println("|---|---|---|---|");
      for (var e : results.entrySet()) {
        List<double[]> v = e.getValue();
        System.out.printf(Locale.ROOT, "| %s | %.3f | %.3f | %.0f (%.0f + %.0f) |%n", e.getKey().name(),
            median(v, 0), median(v, 1), median(v, 5), median(v, 2), median(v, 3));
      }
      System.out.println("load average at the end: " + loadAverage());
    }
  }

  /** {whole-job frames/s, steady frames/s, JVM CPU ms a frame, children CPU ms a frame, frames, total CPU ms}. */
  static double[] run(Path model, Path video, int frames, Setup s, boolean keepSource) throws Exception {
    Configuration conf = new Configuration();
    conf.set(PipelineOptions.GENERIC_TYPES, false);
    StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(1, conf);
    FrameSource source = FrameSource.builder().input("clip", video).maxFrames(frames).decode(s.decode()).build();
    SegmentConfig config = SegmentConfig.of(model.toString()).withBatching(s.batch(), Duration.ofMillis(50))
        .withKeepSource(keepSource);
    MaskFormerFlink.segment(env.fromSource(source, WatermarkStrategy.noWatermarks(), "frames"), config)
        .sinkTo(new TimingSink());
    COUNT.set(0);
    long cpu0 = OS.getProcessCpuTime();
    long child0 = childrenCpuNanos();
    long t0 = System.nanoTime();
    env.execute("bench");
    long t1 = System.nanoTime();
    long cpu1 = OS.getProcessCpuTime();
    long child1 = childrenCpuNanos();
    int n = COUNT.get();
    int k = Math.max(1, n / 4);
    double steady = (n - k) / ((TIMES[n - 1] - TIMES[k - 1]) / 1e9);
    double jvm = (cpu1 - cpu0) / 1e6 / n;
    double children = (child1 - child0) / 1e6 / n;
    System.gc();
    Thread.sleep(1000);
    return new double[] {n / ((t1 - t0) / 1e9), steady, jvm, children, n, jvm + children};
  }

  /** CPU time of this process's finished, waited-for children (ffmpeg): cutime + cstime. */
  static long childrenCpuNanos() throws java.io.IOException {
    String stat = Files.readString(Path.of("/proc/self/stat"));
    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
    // fields after the command: state(3) ... utime(14) stime(15) cutime(16) cstime(17), 1-based
    return (Long.parseLong(f[16 - 3]) + Long.parseLong(f[17 - 3])) * TICK_NS;
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

  static final class TimingSink implements Sink<SegmentedFrame> {
    @Override
    public SinkWriter<SegmentedFrame> createWriter(WriterInitContext context) {
      return new SinkWriter<>() {
        @Override
        public void write(SegmentedFrame s, Context c) {
          long now = System.nanoTime();
          synchronized (TIMES) {
            int i = COUNT.getAndIncrement();
            TIMES[i] = now;
            FORMATS[i] = s.source() == null ? null : s.source().toString();
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
