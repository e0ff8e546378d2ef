// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import dev.maskformer.Frame;
import dev.maskformer.ImageLayout;
import dev.maskformer.LabelType;
import dev.maskformer.MaskFormer;
import dev.maskformer.Output;
import dev.maskformer.PixelFormat;
import dev.maskformer.RuntimeInfo;
import dev.maskformer.SegmentOptions;
import dev.maskformer.Size;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "bench", description = {
    "Times the whole pipeline (frame in caller memory -> labels in caller memory) and prints JSON:",
    "mean, p50, p90 ms per call, frames/s, page faults per call, device, LibTorch version."})
final class BenchCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin ModelOptions modelOptions;

  @Option(names = "--size", defaultValue = "512x512", description = "frame size WxH (default: ${DEFAULT-VALUE})")
  String size;

  @Option(names = "--batch", defaultValue = "1", description = "frames per call (default: ${DEFAULT-VALUE})")
  int batch;

  @Option(names = "--iters", defaultValue = "20", description = "timed calls (default: ${DEFAULT-VALUE})")
  int iters;

  @Option(names = "--warmup", defaultValue = "3", description = "untimed calls first (default: ${DEFAULT-VALUE})")
  int warmup;

  @Option(names = "--scores", description = "also write class scores")
  boolean scores;

  @Override
  public Integer call() {
    if (batch < 1 || iters < 1 || warmup < 0) {
      throw new IllegalArgumentException("--batch and --iters must be >= 1, --warmup >= 0");
    }
    Size frameSize = Size.parse(size);
    try (MaskFormer model = modelOptions.load(); Arena arena = Arena.ofShared()) {
      ImageLayout layout = ImageLayout.packed(frameSize.width(), frameSize.height(), PixelFormat.RGB);
      List<Frame> frames = new ArrayList<>();
      List<Output> outputs = new ArrayList<>();
      SplittableRandom random = new SplittableRandom(42);
      LabelType type = LabelType.forClasses(model.numClasses());
      for (int i = 0; i < batch; i++) {
        MemorySegment pixels = MaskFormer.allocateHost(arena, layout.byteSize());
        for (long j = 0; j < pixels.byteSize(); j += 8) {
          pixels.set(ValueLayout.JAVA_LONG_UNALIGNED, Math.min(j, pixels.byteSize() - 8), random.nextLong());
        }
        frames.add(new Frame(pixels, layout));
        Output out = Output.labels(MaskFormer.allocateHost(arena, layout.pixels() * type.bytes()), type);
        if (scores) {
          out = out.withScores(MaskFormer.allocateHost(arena, layout.pixels() * model.numClasses() * 4));
        }
        outputs.add(out);
      }
      for (int i = 0; i < warmup; i++) {
        model.segment(frames, outputs, SegmentOptions.DEFAULTS);
      }
      double[] ms = new double[iters];
      long faults0 = ProcessStats.minorFaults();
      for (int i = 0; i < iters; i++) {
        long t0 = System.nanoTime();
        model.segment(frames, outputs, SegmentOptions.DEFAULTS);
        ms[i] = (System.nanoTime() - t0) / 1e6;
      }
      long faults = ProcessStats.minorFaults() - faults0;
      double[] sorted = ms.clone();
      Arrays.sort(sorted);
      double mean = Arrays.stream(ms).average().orElse(0);
      RuntimeInfo r = MaskFormer.runtime();
      Map<String, String> json = new LinkedHashMap<>();
      json.put("model", Json.quote(model.info().path()));
      json.put("variant", Json.quote(model.info().variant()));
      json.put("device", Json.quote(model.info().device().toString()));
      json.put("precision", Json.quote(model.info().precision().toString()));
      json.put("libtorch", Json.quote(r.libtorchVersion()));
      json.put("threads", Integer.toString(r.intraOpThreads()));
      json.put("size", Json.quote(frameSize.toString()));
      json.put("network_input", Json.quote(model.inputSize(frameSize.width(), frameSize.height()).toString()));
      json.put("batch", Integer.toString(batch));
      json.put("iters", Integer.toString(iters));
      json.put("mean_ms", Json.number(mean));
      json.put("p50_ms", Json.number(percentile(sorted, 0.5)));
      json.put("p90_ms", Json.number(percentile(sorted, 0.9)));
      json.put("min_ms", Json.number(sorted[0]));
      json.put("frames_per_s", Json.number(batch * 1000.0 / mean));
      json.put("page_faults_per_call", Json.number((double) faults / iters));
      spec.commandLine().getOut().println(Json.object(json, ""));
    }
    return 0;
  }

  /** Nearest-rank percentile of sorted values. */
  static double percentile(double[] sorted, double q) {
    int rank = (int) Math.ceil(q * sorted.length);
    return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
  }
}
