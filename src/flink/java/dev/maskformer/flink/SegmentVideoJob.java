// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * The example job: frames of video files and image folders, segmented, written as label PNGs
 * (and colour images and overlays) per stream.
 *
 * <pre>
 * flink run -c dev.maskformer.flink.SegmentVideoJob maskformer-java-0.1.0.jar \
 *   --model /models/demo.pt --input /data/cam1.mp4 --input /data/cam2-frames/ --output /data/out \
 *   [--parallelism N] [--batch N] [--max-delay-ms 10] [--capacity 16] [--unordered] [--workers 1]
 *   [--colour] [--overlay 0.5] [--max-frames N] [--fps 25] [--checkpoint-ms 10000]
 *   [--decode auto|yuv|bgr]
 * </pre>
 *
 * <p>{@code --batch} defaults to 1 frame on the CPU and 4 on CUDA ({@link SegmentConfig#batchFor});
 * {@code --decode} is {@link FrameSource.Decode} (default {@code auto}: 4:2:0 video as YUV).
 */
public final class SegmentVideoJob {
  private SegmentVideoJob() {}

  public static void main(String[] args) throws Exception {
    JobExecutionResult r = run(StreamExecutionEnvironment.getExecutionEnvironment(), args);
    System.out.println("segmented in " + r.getNetRuntime() + " ms");
  }

  /** Builds and runs the job on {@code env}; blocks until it is done. */
  public static JobExecutionResult run(StreamExecutionEnvironment env, String[] args) throws Exception {
    String model = null;
    String output = null;
    List<Path> inputs = new ArrayList<>();
    int parallelism = -1;
    int batch = SegmentConfig.AUTO_BATCH;
    long maxDelayMs = 10;
    int capacity = 16;
    int workers = 1;
    boolean ordered = true;
    boolean colour = false;
    double overlay = -1;
    long maxFrames = -1;
    double fps = 25;
    long checkpointMs = -1;
    FrameSource.Decode decode = FrameSource.Decode.AUTO;
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      switch (a) {
        case "--unordered" -> ordered = false;
        case "--colour" -> colour = true;
        default -> {
          if (i + 1 >= args.length || !a.startsWith("--")) {
            throw new IllegalArgumentException(usage("unknown or incomplete option " + a));
          }
          String v = args[++i];
          switch (a) {
            case "--model" -> model = v;
            case "--input" -> inputs.add(Path.of(v));
            case "--output" -> output = v;
            case "--parallelism" -> parallelism = Integer.parseInt(v);
            case "--batch" -> batch = Integer.parseInt(v);
            case "--max-delay-ms" -> maxDelayMs = Long.parseLong(v);
            case "--capacity" -> capacity = Integer.parseInt(v);
            case "--workers" -> workers = Integer.parseInt(v);
            case "--overlay" -> overlay = Double.parseDouble(v);
            case "--max-frames" -> maxFrames = Long.parseLong(v);
            case "--fps" -> fps = Double.parseDouble(v);
            case "--checkpoint-ms" -> checkpointMs = Long.parseLong(v);
            case "--decode" -> decode = decodeMode(v);
            default -> throw new IllegalArgumentException(usage("unknown option " + a));
          }
        }
      }
    }
    if (model == null || output == null || inputs.isEmpty()) {
      throw new IllegalArgumentException(usage("--model, --input and --output are required"));
    }
    if (parallelism > 0) {
      env.setParallelism(parallelism);
    }
    if (checkpointMs > 0) {
      env.enableCheckpointing(checkpointMs);
    }
    FrameSource.Builder source = FrameSource.builder().fps(fps).decode(decode);
    inputs.forEach(source::input);
    if (maxFrames > 0) {
      source.maxFrames(maxFrames);
    }
    DataStream<VideoFrame> frames =
        env.fromSource(source.build(), WatermarkStrategy.noWatermarks(), "maskformer-frames");
    SegmentConfig config = SegmentConfig.of(model).withBatching(batch, Duration.ofMillis(maxDelayMs))
        .withCapacity(capacity).withOrdered(ordered).withWorkers(workers).withKeepSource(overlay >= 0);
    LabelPngSink sink = LabelPngSink.labels(Path.of(output)).withPaletteOf(model).withColour(colour);
    if (overlay >= 0) {
      sink = sink.withOverlay(overlay);
    }
    MaskFormerFlink.segment(frames, config).sinkTo(sink).name("maskformer-png");
    return env.execute("maskformer: segment " + inputs.size() + " streams");
  }

  private static FrameSource.Decode decodeMode(String v) {
    return switch (v) {
      case "auto" -> FrameSource.Decode.AUTO;
      case "yuv" -> FrameSource.Decode.YUV;
      case "bgr" -> FrameSource.Decode.BGR;
      default -> throw new IllegalArgumentException(usage("--decode must be auto, yuv or bgr, got " + v));
    };
  }

  private static String usage(String problem) {
    return problem + "; usage: SegmentVideoJob --model FILE --input VIDEO|FOLDER [--input ...] --output DIR"
        + " [--parallelism N] [--batch N] [--max-delay-ms N] [--capacity N] [--unordered] [--workers N]"
        + " [--colour] [--overlay ALPHA] [--max-frames N] [--fps F] [--checkpoint-ms N]"
        + " [--decode auto|yuv|bgr]";
  }
}
