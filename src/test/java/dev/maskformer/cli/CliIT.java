// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import dev.maskformer.MaskFormerRuntime;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line, run in-process on real models. */
class CliIT {
  private static final Path MODELS = Path.of(System.getProperty("maskformer.testModels", "target/test-models"));

  record Result(int code, String out, String err) {}

  static Result run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    return new Result(code, out.toString(), err.toString());
  }

  @Test
  void info() {
    Result r = run("info", "--model", MODELS.resolve("tiny.pt").toString(), "--classes");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("LibTorch"), r.out());
    assertTrue(r.out().contains("variant         test-tiny"), r.out());
    assertTrue(r.out().contains("building, edifice"), r.out());
    // the default makes them in the background; info waits for the outcome
    assertTrue(r.out().contains("CPU rewrites    freeze") && r.out().contains("checked in the background"), r.out());
    Result plain = run("info", "--model", MODELS.resolve("tiny.pt").toString(), "--no-cpu-rewrites");
    assertEquals(0, plain.code(), plain.err());
    assertTrue(plain.out().contains("CPU rewrites    none (turned off in the load options)"), plain.out());
    Result none = run("info", "--model", MODELS.resolve("tiny.pt").toString(), "--cpu-rewrites", "none");
    assertTrue(none.out().contains("CPU rewrites    none (turned off in the load options)"), none.out());
    Result atLoad = run("info", "--model", MODELS.resolve("tiny.pt").toString(), "--cpu-rewrites", "at-load");
    assertTrue(atLoad.out().contains("CPU rewrites    freeze") && !atLoad.out().contains("background"), atLoad.out());
    Result json = run("info", "--model", MODELS.resolve("tiny.pt").toString(), "--json");
    assertTrue(json.out().trim().startsWith("{"), json.out());
  }

  @Test
  void usageErrorsExitWith2() {
    String model = MODELS.resolve("tiny.pt").toString();
    String image = MODELS.resolve("images/scene_97x61.png").toString();
    for (String[] args : new String[][] {
        {"info", "--json"}, {"info", "--classes"}, {"info", "--threads", "-3"},
        {"segment", "--model", model, "--alpha", "2", image}, {"segment", "--model", model, "--alpha", "-0.1", image},
        {"segment", "--model", model, "--threads", "-1", image},
        {"segment", "--model", model, "--cpu-rewrites", "sometimes", image}}) {
      Result r = run(args);
      assertEquals(2, r.code(), String.join(" ", args) + ": " + r.err());
      assertTrue(r.err().contains("--"), r.err());
    }
    Result threads = run("info", "--model", model, "--threads", "1");
    assertEquals(0, threads.code(), threads.err());
    assertTrue(threads.out().contains("CPU threads     1 "), threads.out());
  }

  /** A folder with one bad image: the good ones are written, the bad one listed, exit 1. */
  @Test
  void segmentGoesOnPastBadImagesAndKeepsSameStemsApart(@TempDir Path tmp) throws Exception {
    Path a = Files.createDirectories(tmp.resolve("a"));
    Path b = Files.createDirectories(tmp.resolve("b"));
    Files.copy(MODELS.resolve("images/scene_97x61.png"), a.resolve("x.png"));
    Files.copy(MODELS.resolve("images/scene_128x128.png"), b.resolve("x.png"));
    Files.copy(MODELS.resolve("images/scene_97x61.png"), a.resolve("y.png"));
    Files.writeString(a.resolve("broken.jpg"), "not a JPEG");
    Path out = tmp.resolve("out");
    Result r = run("segment", "--model", MODELS.resolve("tiny.pt").toString(), "--out", out.toString(),
        a.toString(), b.toString());
    assertEquals(1, r.code(), r.err());
    assertTrue(r.err().contains("broken.jpg"), r.err());
    assertTrue(r.err().contains("1 of 4 images failed"), r.err());
    assertEquals(97, ImageIO.read(out.resolve("a_x_png.labels.png").toFile()).getWidth());
    assertEquals(128, ImageIO.read(out.resolve("b_x_png.labels.png").toFile()).getWidth());
    assertTrue(Files.isRegularFile(out.resolve("y.labels.png")));
  }

  @Test
  void segmentWritesLabelsOverlaysAndScores(@TempDir Path out) throws Exception {
    Path image = MODELS.resolve("images/scene_97x61.png");
    Result r = run("segment", "--model", MODELS.resolve("tiny.pt").toString(), "--out", out.toString(),
        "--scores", image.toString());
    assertEquals(0, r.code(), r.err());
    BufferedImage labels = ImageIO.read(out.resolve("scene_97x61.labels.png").toFile());
    assertEquals(BufferedImage.TYPE_BYTE_GRAY, labels.getType());
    assertEquals(97, labels.getWidth());
    int[] expected = dev.maskformer.TestModelsAccess.goldenLabels("tiny", "scene_97x61");
    int[] got = labels.getRaster().getSamples(0, 0, 97, 61, 0, (int[]) null);
    assertEquals(java.util.Arrays.toString(expected), java.util.Arrays.toString(got));
    assertTrue(Files.size(out.resolve("scene_97x61.overlay.png")) > 0);
    byte[] npy = Files.readAllBytes(out.resolve("scene_97x61.scores.npy"));
    String header = new String(npy, 0, 128, java.nio.charset.StandardCharsets.US_ASCII);
    assertTrue(header.contains("'shape': (150, 61, 97)"), header);
    int headerLength = 10 + (npy[8] & 0xFF) + ((npy[9] & 0xFF) << 8);
    assertEquals(0, headerLength % 64);
    assertEquals(headerLength + 150L * 61 * 97 * 4, npy.length);
    float[] golden = dev.maskformer.TestModelsAccess.goldenScores("tiny", "scene_97x61");
    ByteBuffer body = ByteBuffer.wrap(npy, headerLength, npy.length - headerLength).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < golden.length; i += 97) {
      assertEquals(golden[i], body.getFloat(headerLength + 4 * i), 1e-4);
    }
  }

  @Test
  void manyClassesGive16BitLabelImages(@TempDir Path out) throws Exception {
    Result r = run("segment", "--model", MODELS.resolve("tiny-k300.pt").toString(), "--out", out.toString(),
        MODELS.resolve("images/scene_97x61.png").toString());
    assertEquals(0, r.code(), r.err());
    BufferedImage labels = ImageIO.read(out.resolve("scene_97x61.labels.png").toFile());
    assertEquals(BufferedImage.TYPE_USHORT_GRAY, labels.getType());
    int[] got = labels.getRaster().getSamples(0, 0, 97, 61, 0, (int[]) null);
    int[] expected = dev.maskformer.TestModelsAccess.goldenLabels("tiny-k300", "scene_97x61");
    assertEquals(java.util.Arrays.toString(expected), java.util.Arrays.toString(got));
  }

  @Test
  void benchPrintsJson() {
    Result r = run("bench", "--model", MODELS.resolve("tiny.pt").toString(), "--size", "160x120",
        "--iters", "3", "--warmup", "1", "--batch", "2");
    assertEquals(0, r.code(), r.err());
    for (String key : List.of("mean_ms", "p50_ms", "p90_ms", "frames_per_s", "device", "libtorch",
        "page_faults_per_call")) {
      assertTrue(r.out().contains("\"" + key + "\""), r.out());
    }
    // YUV frames (odd size: the general conversion route), and a usage error for a bad format
    Result yuv = run("bench", "--model", MODELS.resolve("tiny.pt").toString(), "--size", "161x121", "--iters", "2",
        "--warmup", "1", "--no-forward", "--format", "nv12");
    assertEquals(0, yuv.code(), yuv.err());
    assertTrue(yuv.out().contains("\"pixel_format\": \"nv12\""), yuv.out());
    assertEquals(2, run("bench", "--model", MODELS.resolve("tiny.pt").toString(), "--format", "yuv444").code());
  }

  /**
   * bench --compare-onnxruntime end to end: the ONNX export of the model's weights (into --onnx),
   * one interleaved round of Java and ONNX Runtime, and ratios that are the printed medians'.
   */
  @Test
  void benchComparesWithOnnxRuntime(@TempDir Path tmp) {
    String python = System.getProperty("maskformer.python", "");
    assertTrue(!python.isEmpty() && Files.isExecutable(Path.of(python)),
        "-Dmaskformer.python (the test environment's Python, with onnxruntime) is not set: " + python);
    Path onnx = tmp.resolve("tiny.onnx");
    Result r = run("bench", "--model", MODELS.resolve("tiny.pt").toString(), "--size", "160x120", "--iters", "2",
        "--warmup", "1", "--rounds", "1", "--threads", "1", "--compare-onnxruntime", "--onnx", onnx.toString(),
        "--python", python);
    assertEquals(0, r.code(), r.err());
    assertTrue(Files.isRegularFile(onnx), "no ONNX export at " + onnx + ": " + r.err());
    for (String key : List.of("java_p50_ms", "java_forward_p50_ms", "onnxruntime_p50_ms", "onnxruntime_forward_p50_ms",
        "java_cpu_ms_per_call", "onnxruntime_forward_cpu_ms")) {
      assertTrue(number(r.out(), key) > 0, key + " in " + r.out());
    }
    assertEquals(number(r.out(), "java_forward_p50_ms") / number(r.out(), "onnxruntime_forward_p50_ms"),
        number(r.out(), "java_forward_over_onnxruntime_forward"), 1e-3 * number(r.out(), "java_forward_over_onnxruntime_forward"));
    assertEquals(number(r.out(), "java_p50_ms") / number(r.out(), "onnxruntime_forward_p50_ms"),
        number(r.out(), "java_over_onnxruntime_forward"), 1e-3 * number(r.out(), "java_over_onnxruntime_forward"));
    assertTrue(number(r.out(), "onnxruntime_page_faults_per_call") >= 0, r.out());
  }

  @Test
  void errorsAreMessagesNotStackTraces() {
    Result r = run("segment", "--model", "/nonexistent.pt", MODELS.resolve("images/scene_97x61.png").toString());
    assertEquals(1, r.code());
    assertTrue(r.err().startsWith("error: load failed: IO"), r.err());
    Result usage = run("segment");
    assertEquals(2, usage.code());
    Result device = run("info");
    assertEquals(0, device.code());
  }

  @Test
  void evaluateMatchesThePythonEvaluator() throws Exception {
    Path expectedFile = MODELS.resolve("eval/expected.json");
    assumeTrue(Files.isRegularFile(expectedFile), "no bundled demo model, so no evaluation fixture");
    Path demo = Path.of(System.getProperty("maskformer.repoRoot", ".")).resolve("models/demo/demo.pt");
    Result r = run("evaluate", "--model", demo.toString(), "--data", MODELS.resolve("eval").toString());
    assertEquals(0, r.code(), r.err());
    String expected = Files.readString(expectedFile);
    double javaMiou = number(r.out(), "mIoU");
    double pythonMiou = number(expected, "mIoU");
    assertEquals(pythonMiou, javaMiou, 5e-5, "mIoU: Java " + javaMiou + ", Python " + pythonMiou);
    assertEquals(number(expected, "pixel_accuracy"), number(r.out(), "pixel_accuracy"), 5e-5);
    assertEquals((int) number(expected, "images"), (int) number(r.out(), "images"));
    Map<String, Double> pythonIou = perClass(expected);
    Map<String, Double> javaIou = perClass(r.out());
    assertEquals(pythonIou.keySet(), javaIou.keySet(), "classes evaluated");
    assertFalse(pythonIou.isEmpty());
    for (var e : pythonIou.entrySet()) {
      assertEquals(e.getValue(), javaIou.get(e.getKey()), 5e-5, "IoU of " + e.getKey());
    }
  }

  @Test
  void evaluateReportsTheAgreementOfTwoPrecisions() throws Exception {
    Path expectedFile = MODELS.resolve("eval/expected.json");
    assumeTrue(Files.isRegularFile(expectedFile), "no bundled demo model, so no evaluation fixture");
    Path demo = Path.of(System.getProperty("maskformer.repoRoot", ".")).resolve("models/demo/demo.pt");
    String expected = Files.readString(expectedFile);
    String data = MODELS.resolve("eval").toString();
    // the same precision twice: the CPU forward pass is deterministic, so every pixel agrees
    Result same = run("evaluate", "--model", demo.toString(), "--data", data, "--agreement-with", "fp32");
    assertEquals(0, same.code(), same.err());
    assertTrue(same.out().contains("\"with\": \"fp32\""), same.out());
    assertEquals(number(same.out(), "pixels"), number(same.out(), "agreeing"));
    assertEquals(1.0, number(same.out(), "share"));
    assertEquals(number(expected, "mIoU"), number(same.out(), "reference_mIoU"), 5e-5);
    Result bad = run("evaluate", "--model", demo.toString(), "--data", data, "--agreement-with", "fp64");
    assertEquals(2, bad.code(), bad.out());
    assumeTrue(dev.maskformer.MaskFormerRuntime.info().cpuNativeBf16(), "no native bf16 on this CPU");
    Result r = run("evaluate", "--model", demo.toString(), "--data", data, "--precision", "bf16",
        "--agreement-with", "fp32");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("\"precision\": \"bf16\""), r.out());
    double pixels = number(r.out(), "pixels");
    double share = number(r.out(), "share");
    assertEquals(number(r.out(), "agreeing") / pixels, share, 1e-6);
    assertTrue(share >= 0.995 && share < 1.0, "bf16 differs from fp32 somewhere, rarely: " + share);
    assertTrue(number(r.out(), "worst_image_share") <= share);
    // the reference run is the fp32 evaluation, and bf16's own mIoU stays close to it
    assertEquals(number(expected, "mIoU"), number(r.out(), "reference_mIoU"), 5e-5);
    assertEquals(number(expected, "mIoU"), number(r.out(), "mIoU"), 0.01);
  }

  /** The {@code per_class_iou} object of an evaluator's JSON, name -> IoU. */
  static Map<String, Double> perClass(String json) {
    int start = json.indexOf("\"per_class_iou\"");
    assertTrue(start >= 0, "no per_class_iou in " + json);
    String block = json.substring(json.indexOf('{', start) + 1, json.indexOf('}', start));
    Map<String, Double> out = new java.util.TreeMap<>();
    Matcher m = Pattern.compile("\"([^\"]+)\"\\s*:\\s*([-0-9.eE]+)").matcher(block);
    while (m.find()) {
      out.put(m.group(1), Double.parseDouble(m.group(2)));
    }
    return out;
  }

  @Test
  void demoWritesOverlaysAndLegend(@TempDir Path out) throws Exception {
    Path root = Path.of(System.getProperty("maskformer.repoRoot", "."));
    assumeTrue(Files.isRegularFile(root.resolve("models/demo/demo.pt")), "no bundled demo model");
    System.setProperty("maskformer.home", root.toString());
    Result r = run("demo", "--out", out.toString());
    assertEquals(0, r.code(), r.err());
    assertTrue(Files.isRegularFile(out.resolve("legend.png")));
    assertTrue(Files.isRegularFile(out.resolve("demo.png")));
    assertTrue(r.out().contains(" ms "), r.out());
  }

  @Test
  void videoIsSegmentedFrameByFrame(@TempDir Path out) throws Exception {
    Path video = MODELS.resolve("video.mp4");
    assumeTrue(Files.isRegularFile(video), "no test video (ffmpeg missing when fixtures were made)");
    Path result = out.resolve("overlay.mp4");
    Result r = run("video", "--model", MODELS.resolve("tiny.pt").toString(), "--batch", "5",
        video.toString(), result.toString());
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().startsWith("12 frames of 160x160"), r.out());
    assertTrue(r.out().contains("decoded as I420 (yuv420p, BT601, LIMITED)"), r.out());
    assertTrue(Files.size(result) > 1000);
    Result missing = run("video", "--model", MODELS.resolve("tiny.pt").toString(), "/nonexistent.mp4",
        result.toString());
    assertEquals(1, missing.code());
    assertTrue(missing.err().contains("cannot read /nonexistent.mp4"), missing.err());
  }

  /**
   * --segments writes a 16-bit id image and JSON that agree with each other and with the Python
   * reference's segment count; --outline and --confidence add to the overlay and write a map.
   */
  @Test
  void segmentWritesSegmentsAndConfidence(@TempDir Path out) throws Exception {
    Path root = Path.of(System.getProperty("maskformer.repoRoot", "."));
    Path demo = root.resolve("models/demo/demo.pt");
    assumeTrue(Files.isRegularFile(demo), "no bundled demo model");
    Path image = MODELS.resolve("images/scene_128x128.png");
    Result r = run("segment", "--model", demo.toString(), "--out", out.toString(), "--segments",
        "--outline", "--confidence", "png", "--object-threshold", "0.8", "--overlap-threshold", "0.8",
        image.toString());
    assertEquals(0, r.code(), r.err());
    BufferedImage ids = ImageIO.read(out.resolve("scene_128x128.segments.png").toFile());
    assertEquals(16, ids.getColorModel().getPixelSize());
    java.util.Set<Integer> seen = new java.util.TreeSet<>();
    for (int y = 0; y < ids.getHeight(); y++) {
      for (int x = 0; x < ids.getWidth(); x++) {
        seen.add(ids.getRaster().getSample(x, y, 0));
      }
    }
    String json = Files.readString(out.resolve("scene_128x128.segments.json"));
    long expected = Files.readAllLines(MODELS.resolve("golden/segments/default.scene_128x128.segments.txt"))
        .stream().filter(l -> !l.isBlank()).count();
    Matcher m = Pattern.compile("\"id\": (\\d+)").matcher(json);
    java.util.Set<Integer> listed = new java.util.TreeSet<>();
    while (m.find()) {
      listed.add(Integer.parseInt(m.group(1)));
    }
    assertTrue(expected >= 3, "golden segments: " + expected);
    assertEquals(expected, listed.size(), json);
    seen.remove(0);
    assertEquals(listed, seen, "ids in the PNG vs the JSON");
    assertTrue(json.contains("\"name\": ") && json.contains("\"bbox\": [") && json.contains("\"score\": "), json);
    BufferedImage conf = ImageIO.read(out.resolve("scene_128x128.confidence.png").toFile());
    assertEquals(128, conf.getWidth());
    // the outlines are white pixels that a plain overlay does not have
    Path plain = out.resolve("plain");
    assertEquals(0, run("segment", "--model", demo.toString(), "--out", plain.toString(), image.toString()).code());
    BufferedImage outlined = ImageIO.read(out.resolve("scene_128x128.overlay.png").toFile());
    BufferedImage overlay = ImageIO.read(plain.resolve("scene_128x128.overlay.png").toFile());
    int white = 0;
    for (int y = 0; y < 128; y++) {
      for (int x = 0; x < 128; x++) {
        white += (outlined.getRGB(x, y) & 0xFFFFFF) == 0xFFFFFF && outlined.getRGB(x, y) != overlay.getRGB(x, y) ? 1 : 0;
      }
    }
    assertTrue(white > 50, "outline pixels: " + white);
    for (String[] args : new String[][] {
        {"segment", "--model", demo.toString(), "--object-threshold", "1.5", image.toString()},
        {"segment", "--model", demo.toString(), "--overlap-threshold", "NaN", image.toString()},
        {"segment", "--model", demo.toString(), "--outline", image.toString()},
        {"segment", "--model", demo.toString(), "--semantic-rule", "greedy", image.toString()}}) {
      Result bad = run(args);
      assertEquals(2, bad.code(), String.join(" ", args) + ": " + bad.err());
    }
    Result iterative = run("segment", "--model", demo.toString(), "--out", out.resolve("it").toString(),
        "--semantic-rule", "iterative", "--iterative-overlap", "0.8", "--confidence", "npy", image.toString());
    assertEquals(0, iterative.code(), iterative.err());
    long header = Files.size(out.resolve("it/scene_128x128.confidence.npy")) - 128L * 128 * 4;
    assertTrue(header > 0 && header % 64 == 0, "npy header of " + header + " bytes");
  }

  @Test
  void videoWritesSegmentLines(@TempDir Path out) throws Exception {
    Path video = MODELS.resolve("video.mp4");
    assumeTrue(Files.isRegularFile(video), "no test video (ffmpeg missing when fixtures were made)");
    Path lines = out.resolve("segments.jsonl");
    Result r = run("video", "--model", MODELS.resolve("tiny.pt").toString(), "--batch", "5",
        "--segments-jsonl", lines.toString(), "--object-threshold", "0.02", video.toString(),
        out.resolve("overlay.mp4").toString());
    assertEquals(0, r.code(), r.err());
    List<String> all = Files.readAllLines(lines);
    assertEquals(12, all.size());
    for (int i = 0; i < all.size(); i++) {
      assertTrue(all.get(i).startsWith("{\"frame\": " + i + ", \"segments\": [{\"id\": 1, "), all.get(i));
    }
  }

  /**
   * YUV decoding gives the same labels (hence the same segments) as ffmpeg's BGR; full-range and
   * BT.709 streams are told apart; --live drops frames it cannot keep up with and writes the rest.
   */
  @Test
  void videoDecodesYuvAndGoesLive(@TempDir Path out) throws Exception {
    Path video = MODELS.resolve("video.mp4");
    assumeTrue(Files.isRegularFile(video), "no test video (ffmpeg missing when fixtures were made)");
    String model = MODELS.resolve("tiny.pt").toString();
    List<String> lines = new java.util.ArrayList<>();
    for (String mode : List.of("yuv", "bgr")) {
      Path jsonl = out.resolve(mode + ".jsonl");
      Result r = run("video", "--model", model, "--decode", mode, "--segments-jsonl", jsonl.toString(),
          "--object-threshold", "0.02", video.toString(), out.resolve(mode + ".mp4").toString());
      assertEquals(0, r.code(), r.err());
      assertTrue(r.out().contains(mode.equals("yuv") ? "decoded as I420" : "decoded as BGR"), r.out());
      lines.add(Files.readString(jsonl));
    }
    assertEquals(lines.get(0), lines.get(1), "YUV frames segment exactly as ffmpeg's BGR conversion of them");

    // a full-range BT.709 stream (ffmpeg's yuvj420p) is read as such
    Path full = out.resolve("full709.mkv");
    ffmpeg("-i", video.toString(), "-vf", "scale=out_range=pc,format=yuvj420p", "-colorspace", "bt709",
        "-color_range", "pc", "-c:v", "libx264", full.toString());
    Path fullLines = out.resolve("full.jsonl");
    Path fullBgr = out.resolve("full-bgr.jsonl");
    Result r = run("video", "--model", model, "--segments-jsonl", fullLines.toString(), "--object-threshold", "0.02",
        full.toString(), out.resolve("full.mp4").toString());
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("decoded as I420 (yuvj420p, BT709, FULL)"), r.out());
    assertEquals(0, run("video", "--model", model, "--decode", "bgr", "--segments-jsonl", fullBgr.toString(),
        "--object-threshold", "0.02", full.toString(), out.resolve("full-bgr.mp4").toString()).code());
    assertEquals(Files.readString(fullBgr), Files.readString(fullLines));

    // live: frames read at 12 fps; whatever the model cannot keep up with is dropped, never queued
    Path liveOut = out.resolve("live.mp4");
    Result live = run("video", "--model", model, "--live", video.toString(), liveOut.toString());
    assertEquals(0, live.code(), live.err());
    Matcher m = Pattern.compile("(\\d+) segmented, (\\d+) dropped").matcher(live.out());
    assertTrue(m.find(), live.out());
    int segmented = Integer.parseInt(m.group(1));
    assertEquals(12, segmented + Integer.parseInt(m.group(2)), live.out());
    assertTrue(segmented >= 1 && live.out().contains("p99"), live.out());
    Process p = new ProcessBuilder("ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=nb_read_frames",
        "-of", "csv=p=0", liveOut.toString()).redirectErrorStream(true).start();
    assertEquals(String.valueOf(segmented), new String(p.getInputStream().readAllBytes()).strip());
    assertEquals(2, run("video", "--model", model, "--live", "--batch", "4", video.toString(), liveOut.toString()).code());
    assertEquals(2, run("video", "--model", model, "--decode", "rgb", video.toString(), liveOut.toString()).code());
  }

  /** Odd sizes kept, --max-frames stops ffmpeg cleanly, bad outputs and damaged inputs reported. */
  @Test
  void videoEdgeCases(@TempDir Path tmp) throws Exception {
    Path video = MODELS.resolve("video.mp4");
    assumeTrue(Files.isRegularFile(video), "no test video (ffmpeg missing when fixtures were made)");
    String model = MODELS.resolve("tiny.pt").toString();
    Path odd = tmp.resolve("odd.mkv");
    ffmpeg("-f", "lavfi", "-i", "testsrc=s=33x17:d=1:r=10", "-pix_fmt", "yuv444p", odd.toString());
    Path oddOut = tmp.resolve("odd-out.mp4");
    Result r = run("video", "--model", model, odd.toString(), oddOut.toString());
    assertEquals(0, r.code(), r.err());
    assertEquals("33,17", ffprobeSize(oddOut));

    Result four = run("video", "--model", model, "--max-frames", "4", video.toString(), tmp.resolve("four.mp4").toString());
    assertEquals(0, four.code(), four.err());
    assertTrue(four.out().startsWith("4 frames of 160x160"), four.out());
    assertFalse(four.err().contains("Broken pipe"), four.err());

    Result bad = run("video", "--model", model, video.toString(), tmp.resolve("out.xyzzy").toString());
    assertEquals(1, bad.code());
    assertTrue(bad.err().contains("ffmpeg cannot write"), bad.err());

    Path mkv = tmp.resolve("full.mkv");
    ffmpeg("-i", video.toString(), mkv.toString());
    byte[] bytes = Files.readAllBytes(mkv);
    Path cut = tmp.resolve("cut.mkv");
    Files.write(cut, java.util.Arrays.copyOf(bytes, bytes.length * 6 / 10));
    Result damaged = run("video", "--model", model, cut.toString(), tmp.resolve("cut-out.mp4").toString());
    assertEquals(1, damaged.code(), damaged.out() + damaged.err());
    assertTrue(damaged.err().contains("reported problems decoding") || damaged.err().contains("cannot read"),
        damaged.err());
  }

  private static void ffmpeg(String... args) throws Exception {
    List<String> cmd = new java.util.ArrayList<>(List.of("ffmpeg", "-v", "error", "-nostdin", "-y"));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String text = new String(p.getInputStream().readAllBytes());
    assertEquals(0, p.waitFor(), text);
  }

  private static String ffprobeSize(Path file) throws Exception {
    Process p = new ProcessBuilder("ffprobe", "-v", "error", "-show_entries", "stream=width,height", "-of",
        "csv=p=0", file.toString()).redirectErrorStream(true).start();
    String text = new String(p.getInputStream().readAllBytes()).strip();
    p.waitFor();
    return text;
  }

  static double number(String json, String key) {
    Matcher m = Pattern.compile("\"" + Pattern.quote(key) + "\"\\s*:\\s*([-0-9.eE]+)").matcher(json);
    assertTrue(m.find(), key + " not in " + json);
    return Double.parseDouble(m.group(1));
  }
}
