// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import dev.maskformer.internal.Benchmarks;
import dev.maskformer.MaskFormerRuntime;
import dev.maskformer.MaskFormer.Size;
import dev.maskformer.MaskFormerRuntime.RuntimeInfo;
import dev.maskformer.ModelInfo.ModelFormat;
import dev.maskformer.Output.LabelType;
import dev.maskformer.Frame;
import dev.maskformer.ImageLayout;
import dev.maskformer.MaskFormer;
import dev.maskformer.Output;
import dev.maskformer.PixelFormat;
import dev.maskformer.SegmentOptions;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
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

@Command(header = "Times whole calls and prints JSON latency and throughput.", name = "bench", description = {
    "Times the whole pipeline (frame in caller memory -> labels in caller memory) and prints JSON: "
        + "mean, p50, p90 ms per call, frames/s, page faults per call, device, LibTorch version."})
final class BenchCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin ModelOptions modelOptions;

  @Option(names = "--size", defaultValue = "512x512", description = "frame size WxH (default: ${DEFAULT-VALUE})")
  Size frameSize;

  PixelFormat format = PixelFormat.RGB;

  @Option(names = "--format", defaultValue = "rgb", paramLabel = "F", description = {
      "pixel format of the frames: rgb, bgr, rgba, bgra, or the YUV 4:2:0 formats nv12, i420, nv21 "
          + "(converted in the library as ffmpeg does; default: ${DEFAULT-VALUE})"})
  void format(String f) {
    try {
      format = PixelFormat.valueOf(f.toUpperCase(java.util.Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--format must be one of rgb, bgr, rgba, bgra,"
          + " nv12, i420, nv21, got " + f);
    }
  }

  @Option(names = "--batch", defaultValue = "1", description = "frames per call (default: ${DEFAULT-VALUE})")
  int batch;

  @Option(names = "--iters", defaultValue = "20", description = "timed calls (default: ${DEFAULT-VALUE})")
  int iters;

  @Option(names = "--warmup", defaultValue = "3", description = "untimed calls first (default: ${DEFAULT-VALUE})")
  int warmup;

  @Option(names = "--scores", description = "also write class scores")
  boolean scores;

  @Option(names = "--compare-python", description = {
      "also time Python PyTorch running the same file and pipeline (models/bench_python.py), "
          + "interleaved with the Java runs, and print both with the Java/Python ratio"})
  boolean comparePython;

  @Option(names = "--compare-onnxruntime", description = {
      "also time ONNX Runtime running the same weights exported to ONNX by models/export.py "
          + "(fp32, CPU), the whole pipeline and the forward pass alone, interleaved with the Java runs, "
          + "and print the ratios (forward against forward, whole call against its forward)"})
  boolean compareOnnxRuntime;

  @Option(names = "--onnx", paramLabel = "FILE", description = {
      "ONNX file of the model at this frame's network input size for --compare-onnxruntime "
          + "(default: exported once into a cache folder under java.io.tmpdir)"})
  Path onnx;

  @Option(names = "--rounds", defaultValue = "3", description = "interleaved rounds for --compare-python and --compare-onnxruntime (default: ${DEFAULT-VALUE})")
  int rounds;

  @Option(names = "--python", defaultValue = "${sys:maskformer.python:-python3}", description = {
      "Python with torch for --compare-python and the FLOP count (default: the project's "
          + "environment under ./maskformer, else python3: ${DEFAULT-VALUE})"})
  String python;

  @Option(names = "--forward", negatable = true, defaultValue = "true", fallbackValue = "true", description = {
      "also time the forward pass alone and print its GFLOP/s against this LibTorch's measured "
          + "at::mm peak (default: on; --no-forward skips it); on the CPU the rewritten network runs "
          + "its layers on oneDNN, which can beat at::mm (MKL), so the share may exceed 1"})
  boolean forward;

  @Option(names = "--gflop", description = {
      "GFLOP of one forward pass at the network input size (default: counted by "
          + "models/flops.py with --python)"})
  Double gflop;

  @Override
  public Integer call() throws IOException {
    if (batch < 1 || iters < 1 || warmup < 0) {
      throw new IllegalArgumentException("--batch and --iters must be >= 1, --warmup >= 0");
    }
    if (comparePython && format != PixelFormat.RGB) {
      throw new IllegalArgumentException("--compare-python compares RGB frames: drop --format");
    }
    try (MaskFormer model = modelOptions.load(); Arena arena = Arena.ofShared()) {
      model.awaitCpuRewrites();  // every timed call on the network the model keeps
      ImageLayout layout = ImageLayout.packed(frameSize.width(), frameSize.height(), format);
      List<Frame> frames = new ArrayList<>();
      List<Output> outputs = new ArrayList<>();
      SplittableRandom random = new SplittableRandom(42);
      LabelType type = LabelType.forClasses(model.numClasses());
      for (int i = 0; i < batch; i++) {
        MemorySegment pixels = MaskFormerRuntime.allocateHost(arena, layout.byteSize());
        for (long j = 0; j < pixels.byteSize(); j += 8) {
          pixels.set(ValueLayout.JAVA_LONG_UNALIGNED, Math.min(j, pixels.byteSize() - 8), random.nextLong());
        }
        frames.add(new Frame(pixels, layout));
        Output out = Output.labels(MaskFormerRuntime.allocateHost(arena, layout.pixels() * type.bytes()), type);
        if (scores) {
          out = out.withScores(MaskFormerRuntime.allocateHost(arena, layout.pixels() * model.numClasses() * 4));
        }
        outputs.add(out);
      }
      for (int i = 0; i < warmup; i++) {
        model.segment(frames, outputs, SegmentOptions.DEFAULTS);
      }
      Path onnxFile = compareOnnxRuntime ? onnxFile(model) : null;
      Map<String, String> forwardStats = forward ? forwardStats(model) : Map.of();
      if (!comparePython && !compareOnnxRuntime) {
        Map<String, String> json = measure(model, frameSize, frames, outputs);
        if (format.isYuv()) { // the conversion alone, all rows on the CPU (segment converts only the rows it resizes from)
          MemorySegment rgb = arena.allocate(layout.pixels() * 3);
          double[] ms = new double[iters];
          for (int i = 0; i < iters; i++) {
            long t0 = System.nanoTime();
            frames.get(0).toRgb(rgb);
            ms[i] = (System.nanoTime() - t0) / 1e6;
          }
          Arrays.sort(ms);
          json.put("to_rgb_p50_ms", Json.number(percentile(ms, 0.5)));
          json.put("to_rgb_min_ms", Json.number(ms[0]));
        }
        json.putAll(forwardStats);
        spec.commandLine().getOut().println(Json.object(json, ""));
        return 0;
      }
      List<Map<String, String>> javaRuns = new ArrayList<>();
      List<String> pythonRuns = new ArrayList<>();
      List<String> ortRuns = new ArrayList<>();
      for (int round = 0; round < rounds; round++) {
        Map<String, String> java = measure(model, frameSize, frames, outputs);
        double cpu0 = ProcessStats.cpuMillis();
        double[] fwd = forwardTimes(model);
        java.put("forward_p50_ms", Json.number(percentile(fwd, 0.5)));
        // the forward passes and the one untimed pass before them
        java.put("forward_cpu_ms", Json.number((ProcessStats.cpuMillis() - cpu0) / (fwd.length + 1)));
        javaRuns.add(java);
        if (comparePython) {
          pythonRuns.add(runPython(frameSize, null));
        }
        if (compareOnnxRuntime) {
          ortRuns.add(runPython(frameSize, onnxFile));
        }
      }
      spec.commandLine().getOut().println(compare(javaRuns, pythonRuns, ortRuns, forwardStats));
    }
    return 0;
  }

  /** A few timed forward passes alone at the network input size, in ms, sorted. */
  private double[] forwardTimes(MaskFormer model) {
    Size net = model.inputSize(frameSize.width(), frameSize.height());
    double[] ms = Benchmarks.forward(model, net.width(), net.height(), batch, Math.max(3, Math.min(iters, 10)));
    Arrays.sort(ms);
    return ms;
  }

  /**
   * The ONNX file for --compare-onnxruntime: --onnx when given and present, else one exported by
   * models/export.py from the model's weights at this frame's network input size, kept in a
   * cache folder (keyed by the model's path, size and time, and the network size).
   */
  private Path onnxFile(MaskFormer model) throws IOException {
    if (batch != 1) {
      throw new IllegalArgumentException("--compare-onnxruntime runs batch 1 (the ONNX export has a fixed shape)");
    }
    if (!"cpu".equals(modelOptions.run.device.toString())) {
      throw new IllegalArgumentException("--compare-onnxruntime runs on the CPU");
    }
    if (onnx != null && Files.isRegularFile(onnx)) {
      return onnx;
    }
    if (model.format() != ModelFormat.TORCHSCRIPT) {
      throw new IllegalArgumentException("--compare-onnxruntime exports the ONNX file from a TorchScript "
          + "export's weights: pass --onnx FILE for an AOTInductor package");
    }
    Size net = model.inputSize(frameSize.width(), frameSize.height());
    Path target = onnx;
    if (target == null) {
      Path source = modelOptions.model.toAbsolutePath();
      String key = source + "|" + Files.size(source) + "|" + Files.getLastModifiedTime(source).toMillis() + "|" + net;
      String stem = source.getFileName().toString().replaceFirst("\\.[^.]*$", "");
      target = Path.of(System.getProperty("java.io.tmpdir"), "maskformer-onnx",
          stem + "-" + net + "-" + Integer.toHexString(key.hashCode()) + ".onnx");
      if (Files.isRegularFile(target)) {
        return target;
      }
    }
    Path dir = target.toAbsolutePath().getParent();
    Files.createDirectories(dir);
    Path partial = Files.createTempFile(dir, ".export-", ".onnx");
    spec.commandLine().getErr().println("note: exporting " + modelOptions.model + " at " + net
        + " to ONNX for --compare-onnxruntime (once; Swin-T takes minutes) -> " + target);
    try {
      Path script = DemoFiles.locate().resolve("models/export.py");
      runProcess(List.of(python, script.toString(), "--torchscript", modelOptions.model.toString(),
          "--format", "onnx", "--sizes", net.toString(), "--out", partial.toString()));
      Files.move(partial, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
          java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    } finally {
      Files.deleteIfExists(partial);
    }
    return target;
  }

  /**
   * The forward pass alone at the network input size: its time, and its GFLOP/s against the best
   * matmul throughput of the same LibTorch at the same threads and precision.
   */
  private Map<String, String> forwardStats(MaskFormer model) {
    Size net = model.inputSize(frameSize.width(), frameSize.height());
    double[] ms = Benchmarks.forward(model, net.width(), net.height(), batch, Math.max(3, Math.min(iters, 10)));
    Arrays.sort(ms);
    double p50 = percentile(ms, 0.5);
    Map<String, String> json = new LinkedHashMap<>();
    json.put("forward_p50_ms", Json.number(p50));
    double peak = Benchmarks.matmulGflops(modelOptions.run.device.index(), modelOptions.run.precision.code(), 2048, 5);
    json.put("matmul_peak_gflop_per_s", Json.number(peak));
    Double count = gflop != null ? gflop : countFlops(net);
    if (count != null) {
      double perPass = count * batch;
      json.put("forward_gflop", Json.number(perPass));
      json.put("forward_gflop_per_s", Json.number(perPass / (p50 / 1000)));
      json.put("forward_share_of_matmul_peak", Json.number(perPass / (p50 / 1000) / peak));
    }
    return json;
  }

  /** GFLOP of one forward pass at batch 1, from models/flops.py; null (with a note) if it fails. */
  private Double countFlops(Size net) {
    try {
      Path script = DemoFiles.locate().resolve("models/flops.py");
      String out = runProcess(List.of(python, script.toString(), "--model",
          modelOptions.model.toString(), "--size", net.toString()));
      return field(out.substring(out.indexOf('{')), "gflop");
    } catch (IOException | IllegalStateException e) {
      spec.commandLine().getErr().println("note: no FLOP count (" + e.getMessage().lines().findFirst().orElse("")
          + "); pass --gflop to give one");
      return null;
    }
  }

  private Map<String, String> measure(MaskFormer model, Size frameSize, List<Frame> frames,
      List<Output> outputs) {
    double[] ms = new double[iters];
    long faults0 = ProcessStats.minorFaults();
    double cpu0 = ProcessStats.cpuMillis();
    for (int i = 0; i < iters; i++) {
      long t0 = System.nanoTime();
      model.segment(frames, outputs, SegmentOptions.DEFAULTS);
      ms[i] = (System.nanoTime() - t0) / 1e6;
    }
    long faults = ProcessStats.minorFaults() - faults0;
    double cpu = (ProcessStats.cpuMillis() - cpu0) / iters;
    double[] sorted = ms.clone();
    Arrays.sort(sorted);
    double mean = Arrays.stream(ms).average().orElse(0);
    RuntimeInfo r = MaskFormerRuntime.info();
    Map<String, String> json = new LinkedHashMap<>();
    json.put("runtime", Json.quote("java"));
    json.put("model", Json.quote(model.info().path()));
    json.put("variant", Json.quote(model.info().variant()));
    json.put("format", Json.quote(model.format().name().toLowerCase(java.util.Locale.ROOT)));
    json.put("device", Json.quote(model.info().device().toString()));
    json.put("precision", Json.quote(model.info().precision().toString()));
    json.put("libtorch", Json.quote(r.libtorchLoaded().isEmpty() ? r.libtorchVersion() : r.libtorchLoaded()));
    json.put("threads", Integer.toString(r.intraOpThreads()));
    json.put("cpu_features", Json.quote(r.cpuFeatures().toString()));
    json.put("openmp", Json.quote(r.openMp()));
    json.put("size", Json.quote(frameSize.toString()));
    json.put("pixel_format", Json.quote(format.name().toLowerCase(java.util.Locale.ROOT)));
    json.put("network_input", Json.quote(model.inputSize(frameSize.width(), frameSize.height()).toString()));
    json.put("batch", Integer.toString(batch));
    json.put("iters", Integer.toString(iters));
    json.put("mean_ms", Json.number(mean));
    json.put("p50_ms", Json.number(percentile(sorted, 0.5)));
    json.put("p90_ms", Json.number(percentile(sorted, 0.9)));
    json.put("min_ms", Json.number(sorted[0]));
    json.put("frames_per_s", Json.number(batch * 1000.0 / mean));
    json.put("page_faults_per_call", Json.number((double) faults / iters));
    json.put("cpu_ms_per_call", Json.number(cpu));
    return json;
  }

  /** models/bench_python.py on the same frame: PyTorch, or ONNX Runtime with {@code onnxFile}. */
  private String runPython(Size frameSize, Path onnxFile) {
    Path script;
    try {
      script = DemoFiles.locate().resolve("models/bench_python.py");
    } catch (IOException e) {
      throw new IllegalStateException("--compare-python and --compare-onnxruntime need the repository's models/: "
          + e.getMessage());
    }
    List<String> cmd = new ArrayList<>(List.of(python, script.toString(), "--model", modelOptions.model.toString(),
        "--size", frameSize.toString(), "--batch", Integer.toString(batch), "--iters",
        Integer.toString(iters), "--warmup", Integer.toString(warmup), "--threads",
        Integer.toString(MaskFormerRuntime.info().intraOpThreads()), "--device",
        modelOptions.run.device.toString()));
    if (onnxFile != null) {
      cmd.addAll(List.of("--precision", "fp32", "--onnx", onnxFile.toString()));
    } else {
      cmd.addAll(List.of("--precision", modelOptions.run.precision.toString()));
    }
    String out = runProcess(scores ? append(cmd, "--scores") : cmd);
    return out.substring(out.indexOf('{'));
  }

  /** Runs a Python helper with the OpenMP settings of this process; returns its output. */
  private static String runProcess(List<String> cmd) {
    try {
      ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
      // the library set its OpenMP default in the native environment only: give Python the same
      String openMp = MaskFormerRuntime.info().openMp();
      if (openMp.startsWith("GOMP_SPINCOUNT=") && System.getenv("GOMP_SPINCOUNT") == null) {
        pb.environment().put("GOMP_SPINCOUNT", openMp.substring("GOMP_SPINCOUNT=".length()));
      }
      Process p = pb.start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (p.waitFor() != 0) {
        throw new IllegalStateException(cmd.get(1) + " failed:\n" + out);
      }
      return out;
    } catch (IOException e) {
      throw new IllegalStateException("cannot run " + cmd.get(0) + ": " + e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted");
    }
  }

  private static List<String> append(List<String> list, String item) {
    List<String> out = new ArrayList<>(list);
    out.add(item);
    return out;
  }

  /**
   * Medians over the rounds of each side's p50, mean, page faults and forward pass, and their
   * ratios; the full runs follow.
   */
  private static String compare(List<Map<String, String>> java, List<String> python, List<String> ort,
      Map<String, String> forwardStats) {
    double jp50 = median(java.stream().mapToDouble(m -> Double.parseDouble(m.get("p50_ms"))));
    double jmean = median(java.stream().mapToDouble(m -> Double.parseDouble(m.get("mean_ms"))));
    double jpf = median(java.stream().mapToDouble(m -> Double.parseDouble(m.get("page_faults_per_call"))));
    double jfwd = median(java.stream().mapToDouble(m -> Double.parseDouble(m.get("forward_p50_ms"))));
    double jcpu = median(java.stream().mapToDouble(m -> Double.parseDouble(m.get("cpu_ms_per_call"))));
    double jfcpu = median(java.stream().mapToDouble(m -> Double.parseDouble(m.get("forward_cpu_ms"))));
    Map<String, String> summary = new LinkedHashMap<>();
    summary.put("rounds", Integer.toString(java.size()));
    summary.put("java_p50_ms", Json.number(jp50));
    summary.put("java_forward_p50_ms", Json.number(jfwd));
    if (!python.isEmpty()) {
      double pp50 = median(python.stream().mapToDouble(s -> field(s, "p50_ms")));
      summary.put("python_p50_ms", Json.number(pp50));
      summary.put("python_forward_p50_ms", Json.number(median(python.stream().mapToDouble(s -> field(s, "forward_p50_ms")))));
      summary.put("java_over_python_p50", Json.number(jp50 / pp50));
    }
    if (!ort.isEmpty()) {
      double op50 = median(ort.stream().mapToDouble(s -> field(s, "p50_ms")));
      double ofwd = median(ort.stream().mapToDouble(s -> field(s, "forward_p50_ms")));
      summary.put("onnxruntime_p50_ms", Json.number(op50));
      summary.put("onnxruntime_forward_p50_ms", Json.number(ofwd));
      summary.put("java_forward_over_onnxruntime_forward", Json.number(jfwd / ofwd));
      summary.put("java_over_onnxruntime_forward", Json.number(jp50 / ofwd));
      summary.put("java_over_onnxruntime_p50", Json.number(jp50 / op50));
      // CPU time per pass: what wall time would be without other work on the machine, for one
      // thread (with more, it also counts the threads' spinning at their barriers)
      double ocpu = median(ort.stream().mapToDouble(s -> field(s, "cpu_ms_per_call")));
      double ofcpu = median(ort.stream().mapToDouble(s -> field(s, "forward_cpu_ms")));
      summary.put("java_cpu_ms_per_call", Json.number(jcpu));
      summary.put("java_forward_cpu_ms", Json.number(jfcpu));
      summary.put("onnxruntime_cpu_ms_per_call", Json.number(ocpu));
      summary.put("onnxruntime_forward_cpu_ms", Json.number(ofcpu));
      summary.put("java_forward_cpu_over_onnxruntime_forward_cpu", Json.number(jfcpu / ofcpu));
      summary.put("java_cpu_over_onnxruntime_forward_cpu", Json.number(jcpu / ofcpu));
    }
    summary.put("java_mean_ms", Json.number(jmean));
    if (!python.isEmpty()) {
      summary.put("python_mean_ms", Json.number(median(python.stream().mapToDouble(s -> field(s, "mean_ms")))));
    }
    if (!ort.isEmpty()) {
      summary.put("onnxruntime_mean_ms", Json.number(median(ort.stream().mapToDouble(s -> field(s, "mean_ms")))));
    }
    summary.put("java_page_faults_per_call", Json.number(jpf));
    if (!python.isEmpty()) {
      summary.put("python_page_faults_per_call",
          Json.number(median(python.stream().mapToDouble(s -> field(s, "page_faults_per_call")))));
    }
    if (!ort.isEmpty()) {
      summary.put("onnxruntime_page_faults_per_call",
          Json.number(median(ort.stream().mapToDouble(s -> field(s, "page_faults_per_call")))));
    }
    summary.putAll(forwardStats);
    StringBuilder runs = new StringBuilder("[\n");
    for (int i = 0; i < java.size(); i++) {
      runs.append("   ").append(Json.object(java.get(i), "   "));
      for (List<String> other : List.of(python, ort)) {
        if (!other.isEmpty()) {
          runs.append(",\n   ").append(other.get(i).trim().replace("\n", "\n   "));
        }
      }
      runs.append(i + 1 < java.size() ? ",\n" : "\n");
    }
    summary.put("runs", runs.append("  ]").toString());
    return Json.object(summary, "");
  }

  private static double median(java.util.stream.DoubleStream values) {
    return median(values.sorted().toArray());
  }

  private static double median(double[] sorted) {
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  private static double field(String json, String key) {
    java.util.regex.Matcher m = java.util.regex.Pattern.compile(
        "\"" + key + "\"\\s*:\\s*([-0-9.eE]+)").matcher(json);
    if (!m.find()) {
      throw new IllegalStateException(key + " missing in python output: " + json);
    }
    return Double.parseDouble(m.group(1));
  }

  /** Nearest-rank percentile of sorted values. */
  static double percentile(double[] sorted, double q) {
    int rank = (int) Math.ceil(q * sorted.length);
    return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
  }
}
