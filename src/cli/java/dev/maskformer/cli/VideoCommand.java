// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import dev.maskformer.MaskFormerRuntime;
import dev.maskformer.ImageLayout.ColorMatrix;
import dev.maskformer.ImageLayout.ColorRange;
import dev.maskformer.MaskFormer.Size;
import dev.maskformer.Output.LabelType;
import dev.maskformer.Segmentation.Region;
import dev.maskformer.Frame;
import dev.maskformer.ImageLayout;
import dev.maskformer.MaskFormer;
import dev.maskformer.Output;
import dev.maskformer.PixelFormat;
import dev.maskformer.SegmentOptions;
import dev.maskformer.StreamSegmenter;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.Writer;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(header = "Segments every frame of a video into an overlay video.", name = "video", description = {
    "Segments every frame of a video: ffmpeg decodes into a pipe that is read straight into "
        + "off-heap frames, batches of frames are segmented into off-heap label maps, and the palette "
        + "overlay is encoded to OUTPUT (any container ffmpeg writes, e.g. .mp4; the frame size is kept, "
        + "odd sizes as 4:4:4). 4:2:0 video (yuv420p, yuvj420p, nv12, nv21 with a BT.601, BT.709 or BT.2020 "
        + "matrix: nearly all video) is read as it decodes, YUV, and converted in the library exactly as "
        + "ffmpeg's rgb24 would be; other video is converted to BGR by ffmpeg (--decode bgr forces that). "
        + "--live reads the input at its frame rate, as from a camera, and keeps only the newest frame "
        + "waiting while the model works (dropped frames are counted; the output gets the segmented "
        + "frames at the times their labels were ready). With --segments-jsonl FILE, FILE gets one JSON "
        + "line per frame: {\"frame\": N, \"segments\": [{id, class, name, score, area, bbox, query}, ...]}. "
        + "Prints frames/s and latency; exit 1 if ffmpeg reported decoding errors."})
final class VideoCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin ModelOptions modelOptions;

  @Parameters(index = "0", paramLabel = "INPUT", description = "video file (anything ffmpeg reads)")
  Path input;

  @Parameters(index = "1", paramLabel = "OUTPUT", description = "overlay video to write")
  Path output;

  @Option(names = "--batch", paramLabel = "N", description = {
      "frames per native call (default: 1 on the CPU, where batches gained nothing in our "
          + "measurements, 4 on CUDA)"})
  Integer batch;

  double alpha;

  @Option(names = "--alpha", defaultValue = "0.5", paramLabel = "A", description = "overlay opacity, 0..1 (default: ${DEFAULT-VALUE})")
  void alpha(double a) {
    alpha = Alpha.check(spec, a);
  }

  @Option(names = "--max-frames", description = "stop after this many frames")
  Integer maxFrames;

  @Option(names = "--segments-jsonl", paramLabel = "FILE",
      description = "write each frame's segments as one JSON line to FILE")
  Path segmentsJsonl;

  String decode = "auto";

  @Option(names = "--decode", defaultValue = "auto", paramLabel = "auto|yuv|bgr", description = {
      "auto (default): YUV frames for 4:2:0 video with a known matrix, else BGR; yuv: always YUV "
          + "(ffmpeg converts other formats to yuv420p); bgr: always BGR (ffmpeg converts, as before)"})
  void decode(String d) {
    if (!List.of("auto", "yuv", "bgr").contains(d)) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--decode must be auto, yuv or bgr, got " + d);
    }
    decode = d;
  }

  @Option(names = "--live", description = {
      "read the input at its frame rate (ffmpeg -re) and segment the newest frame, dropping frames "
          + "that wait while the model is busy; prints the dropped count and latency percentiles"})
  boolean live;

  @Mixin InferenceOptions inference;

  @Option(names = "--ffmpeg", defaultValue = "ffmpeg", description = "ffmpeg executable (default: ${DEFAULT-VALUE})")
  String ffmpeg;

  /** How frames leave the decoder: the pixel format ffmpeg writes and what the library is told. */
  record Decode(String pixFmt, PixelFormat format, ColorMatrix matrix, ColorRange range, String colorspace,
      String colorRange) {
    String describe() {
      return format.isYuv() ? format + " (" + pixFmt + ", " + matrix + ", " + range + ")" : "BGR (ffmpeg's conversion)";
    }
  }

  @Override
  public Integer call() throws Exception {
    if (batch != null && batch < 1) {
      throw new IllegalArgumentException("--batch must be >= 1");
    }
    if (maxFrames != null && maxFrames < 1) {
      throw new IllegalArgumentException("--max-frames must be >= 1");
    }
    if (live && batch != null && batch != 1) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--live segments one frame at a time: drop --batch");
    }
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    Probe probe = probe();
    Decode plan = plan(probe);
    // odd sizes cannot be 4:2:0; 4:4:4 keeps the frame size exactly (some players lack it)
    String pixelFormat = probe.width % 2 == 0 && probe.height % 2 == 0 ? "yuv420p" : "yuv444p";
    List<String> encode = new ArrayList<>(List.of(ffmpeg, "-v", "error", "-y"));
    if (live) { // each overlay frame stamped with the time it was written: the live output's timeline
      encode.addAll(List.of("-use_wallclock_as_timestamps", "1"));
    }
    encode.addAll(List.of("-f", "rawvideo", "-pix_fmt", plan.format().isYuv() ? "yuv420p" : "bgr24",
        "-s", probe.width + "x" + probe.height));
    if (!live) {
      encode.addAll(List.of("-r", probe.rate));
    }
    if (plan.format().isYuv()) { // the overlay keeps the source's colours
      encode.addAll(List.of("-colorspace", plan.colorspace(), "-color_range", plan.colorRange()));
    }
    encode.addAll(List.of("-i", "-", "-pix_fmt", pixelFormat));
    if (live) {
      encode.addAll(List.of("-fps_mode", "passthrough"));
    }
    encode.add(output.toString());
    checkOutput(pixelFormat); // before the model loads: an output ffmpeg cannot write fails now
    ImageLayout layout = plan.format().isYuv()
        ? new ImageLayout(probe.width, probe.height, probe.width, plan.format()).withColor(plan.matrix(), plan.range())
        : ImageLayout.packed(probe.width, probe.height, PixelFormat.BGR);
    Path dir = Files.createTempDirectory("maskformer-video");
    Path fifo = dir.resolve("frames.raw");
    Path decodeLog = dir.resolve("decode.log");
    dir.toFile().deleteOnExit(); // deleted last, after the files registered below
    fifo.toFile().deleteOnExit();
    decodeLog.toFile().deleteOnExit();
    run(List.of("mkfifo", fifo.toString()), "mkfifo");
    List<String> decodeCmd = new ArrayList<>(List.of(ffmpeg, "-v", "error", "-nostdin"));
    if (live) {
      decodeCmd.add("-re"); // the input's own pace, as a camera delivers frames
    }
    decodeCmd.addAll(List.of("-i", input.toString()));
    if (maxFrames != null) {
      decodeCmd.addAll(List.of("-frames:v", maxFrames.toString())); // ffmpeg stops by itself
    }
    decodeCmd.addAll(List.of("-f", "rawvideo", "-pix_fmt", plan.pixFmt(), "-y", fifo.toString()));
    Process decoder = null;
    Process encoder = null;
    Stats stats;
    boolean completed = false;
    int frameBatch = 1;
    // the model is loaded and warm before the decoder starts: a live input (-re) is not kept waiting
    try (MaskFormer model = modelOptions.load(); Arena arena = Arena.ofShared()) {
      model.warmup(new Size(probe.width, probe.height));
      decoder = new ProcessBuilder(decodeCmd).redirectError(decodeLog.toFile())
          .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
      FileChannel in = openFifo(fifo, decoder);
      frameBatch = batch != null ? batch : model.info().device().isCuda() ? 4 : 1;
      encoder = new ProcessBuilder(encode).redirectError(ProcessBuilder.Redirect.INHERIT)
          .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
      try (OutputStream sink = encoder.getOutputStream();
          Writer jsonl = segmentsJsonl == null ? null : Files.newBufferedWriter(segmentsJsonl, StandardCharsets.UTF_8)) {
        Overlay overlay = new Overlay(model, layout, alpha);
        SegmentOptions options = inference.apply(SegmentOptions.DEFAULTS, segmentsJsonl != null);
        stats = live ? runLive(model, layout, options, in, arena, overlay, sink, jsonl)
            : runBatches(model, layout, options, frameBatch, in, arena, overlay, sink, jsonl);
        completed = true;
      } finally {
        in.close();
      }
    } finally {
      // after a complete read the decoder ends by itself (its output is at its end, or -frames:v
      // was reached): let it, so that its exit status says whether the input decoded cleanly; a
      // failed run stops it at once
      if (decoder != null && (!completed || !decoder.waitFor(30, TimeUnit.SECONDS))) {
        decoder.destroy();
      }
      if (encoder != null) {
        encoder.waitFor();
      }
    }
    int decoded = decoder.waitFor();
    String decodeErrors = Files.readString(decodeLog).strip();
    Files.deleteIfExists(fifo);
    Files.deleteIfExists(decodeLog);
    Files.deleteIfExists(dir);
    if (encoder.exitValue() != 0) {
      throw new IOException("ffmpeg could not encode " + output + " (exit " + encoder.exitValue() + ")");
    }
    if (live) {
      out.printf(Locale.ROOT, "%d frames of %dx%d at %s fps read live, decoded as %s: %d segmented, %d dropped (latest"
          + " frame wins), %.1f frames/s segmented, latency from frame read to labels p50 %.1f ms, p99 %.1f ms"
          + " -> %s%n", stats.frames, probe.width, probe.height, probe.rate, plan.describe(), stats.segmented,
          stats.dropped, stats.segmented / stats.seconds, stats.p50(), stats.p99(), output);
    } else {
      out.printf(Locale.ROOT, "%d frames of %dx%d at %s fps: %.1f frames/s end to end, %.1f ms per frame in segment()"
          + " (batches of %d; per call p50 %.1f ms, p99 %.1f ms), decoded as %s -> %s%n", stats.frames, probe.width,
          probe.height, probe.rate, stats.frames / stats.seconds, stats.segmentMs / Math.max(stats.frames, 1),
          frameBatch, stats.p50(), stats.p99(), plan.describe(), output);
    }
    if (decoded != 0 || !decodeErrors.isEmpty()) {
      // a truncated or damaged input: the frames that decoded were written, but say so
      err.println("error: ffmpeg reported problems decoding " + input + " (exit " + decoded + "; the video may"
          + " be truncated or damaged, " + stats.frames + " frames were read): " + decodeErrors);
      return 1;
    }
    return 0;
  }

  /** Counts and times of a run; latencies in ms (per call, or per frame when live). */
  private static final class Stats {
    long frames;
    long segmented;
    long dropped;
    double segmentMs;
    double seconds;
    final List<Double> latencies = new ArrayList<>();

    double percentile(double q) {
      if (latencies.isEmpty()) {
        return Double.NaN;
      }
      List<Double> sorted = new ArrayList<>(latencies);
      sorted.sort(null);
      return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(q * sorted.size()) - 1));
    }

    double p50() {
      return percentile(0.50);
    }

    double p99() {
      return percentile(0.99);
    }
  }

  private Stats runBatches(MaskFormer model, ImageLayout layout, SegmentOptions options, int frameBatch,
      FileChannel in, Arena arena, Overlay overlay, OutputStream sink, Writer jsonl) throws IOException {
    Stats stats = new Stats();
    long t0 = System.nanoTime();
    LabelType type = LabelType.forClasses(model.numClasses());
    List<Frame> frameBuffers = new ArrayList<>();
    List<Output> outputs = new ArrayList<>();
    for (int i = 0; i < frameBatch; i++) {
      frameBuffers.add(new Frame(MaskFormerRuntime.allocateHost(arena, layout.byteSize()), layout));
      outputs.add(Output.labels(MaskFormerRuntime.allocateHost(arena, layout.pixels() * type.bytes()), type));
    }
    boolean more = true;
    while (more) {
      int n = 0;
      // the kernel copies the pipe straight into the off-heap frame (a direct buffer)
      while (n < frameBatch && readFully(in, frameBuffers.get(n).pixels())) {
        n++;
      }
      more = n == frameBatch;
      if (n == 0) {
        break;
      }
      long t1 = System.nanoTime();
      List<List<Region>> found = model.segment(frameBuffers.subList(0, n), outputs.subList(0, n), options);
      double ms = (System.nanoTime() - t1) / 1e6;
      stats.segmentMs += ms;
      stats.latencies.add(ms);
      if (jsonl != null) {
        for (int i = 0; i < n; i++) {
          jsonl.write(SegmentFiles.line(stats.frames + i, found.get(i), model.info().classes()));
        }
      }
      for (int i = 0; i < n; i++) {
        sink.write(overlay.blend(frameBuffers.get(i), outputs.get(i).labels(), type));
      }
      stats.frames += n;
      stats.segmented += n;
    }
    stats.seconds = (System.nanoTime() - t0) / 1e9;
    return stats;
  }

  /** Live: the newest frame wins; overlays go out as their labels are ready. */
  private Stats runLive(MaskFormer model, ImageLayout layout, SegmentOptions options, FileChannel in, Arena arena,
      Overlay overlay, OutputStream sink, Writer jsonl) throws IOException {
    Stats stats = new Stats();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    Object writing = new Object();
    long[] lastWritten = {-1};
    long t0 = System.nanoTime();
    LabelType type = LabelType.forClasses(model.numClasses());
    SegmentOptions withType = options.withLabelType(type);
    try (StreamSegmenter stream = StreamSegmenter.open(model, layout, StreamSegmenter.Mode.LATEST_FRAME, withType)) {
      MemorySegment readBuffer = MaskFormerRuntime.allocateHost(arena, layout.byteSize());
      while (failure.get() == null && readFully(in, readBuffer)) {
        stats.frames++;
        stream.submit(readBuffer).whenComplete((r, t) -> {
          if (t != null) {
            if (!(t instanceof java.util.concurrent.CancellationException)) {
              failure.compareAndSet(null, t);
            }
            return;
          }
          try (r) {
            synchronized (writing) {
              stats.latencies.add(r.latencyMillis());
              if (r.sequence() < lastWritten[0]) {
                return; // a later frame's overlay already went out (several workers)
              }
              lastWritten[0] = r.sequence();
              if (jsonl != null) {
                jsonl.write(SegmentFiles.line(r.sequence(), r.segmentation().regions(), model.info().classes()));
              }
              sink.write(overlay.blend(r.frame(), r.segmentation().labels(), type));
            }
          } catch (IOException | RuntimeException e) {
            failure.compareAndSet(null, e);
          }
        });
      }
      try {
        stream.flush(); // the last frame read is segmented too
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      stream.close(); // the overlays of segmented frames are written by now
      stats.segmented = stream.completed();
      // dropped for newer frames, or still waiting when the input ended
      stats.dropped = stream.submitted() - stream.completed() - stream.failed();
    }
    stats.seconds = (System.nanoTime() - t0) / 1e9;
    Throwable t = failure.get();
    if (t instanceof IOException e) {
      throw e;
    }
    if (t instanceof RuntimeException e) {
      throw e;
    }
    if (t != null) {
      throw new IOException(t);
    }
    return stats;
  }

  /** What to ask ffmpeg for: the stream's own 4:2:0 format where the library converts it as ffmpeg would. */
  private Decode plan(Probe p) {
    String pix = p.pixFmt;
    boolean full = pix.startsWith("yuvj") || p.colorRange.equals("pc");
    ColorMatrix matrix = switch (p.colorSpace) {
      case "bt709" -> ColorMatrix.BT709;
      case "bt2020nc", "bt2020c" -> ColorMatrix.BT2020;
      case "bt470bg", "smpte170m", "unknown", "" -> ColorMatrix.BT601;
      default -> null; // fcc, smpte240m, ycgco, gbr...: ffmpeg's own conversion
    };
    String space = switch (matrix == null ? ColorMatrix.BT601 : matrix) {
      case BT709 -> "bt709";
      case BT2020 -> "bt2020nc";
      default -> "bt470bg";
    };
    ColorRange range = full ? ColorRange.FULL : ColorRange.LIMITED;
    String rangeName = full ? "pc" : "tv";
    Decode bgr = new Decode("bgr24", PixelFormat.BGR, ColorMatrix.BT601, ColorRange.LIMITED, space, rangeName);
    if (decode.equals("bgr")) {
      return bgr;
    }
    PixelFormat format = switch (pix) {
      case "yuv420p", "yuvj420p" -> PixelFormat.I420;
      case "nv12" -> PixelFormat.NV12;
      case "nv21" -> PixelFormat.NV21;
      default -> null;
    };
    if (format != null && matrix != null) {
      return new Decode(pix, format, matrix, range, space, rangeName);
    }
    if (decode.equals("yuv")) { // ffmpeg converts to yuv420p (its swscale, once), the library the rest
      return new Decode(full ? "yuvj420p" : "yuv420p", PixelFormat.I420, matrix == null ? ColorMatrix.BT601 : matrix,
          range, space, rangeName);
    }
    return bgr;
  }

  /**
   * The palette overlay of a frame, blended on the heap (the one copy): BGR frames as BGR; YUV
   * frames as I420 in the frame's colours, the palette converted with the frame's matrix and
   * range, luma per pixel and chroma per 2x2 block (the mean palette chroma of its pixels).
   */
  private static final class Overlay {
    private final ImageLayout layout;
    private final int a;
    private final int[] rgb;
    private final int[][] yuv;
    private final byte[] out;

    Overlay(MaskFormer model, ImageLayout layout, double alpha) {
      this.layout = layout;
      this.a = (int) Math.round(alpha * 256);
      this.rgb = model.info().classes().stream().mapToInt(c -> c.rgb()).toArray();
      this.yuv = new int[rgb.length][];
      double kr = switch (layout.matrix()) {
        case BT709 -> 0.2126;
        case BT2020 -> 0.2627;
        default -> 0.299;
      };
      double kb = switch (layout.matrix()) {
        case BT709 -> 0.0722;
        case BT2020 -> 0.0593;
        default -> 0.114;
      };
      boolean full = layout.range() == ColorRange.FULL;
      for (int i = 0; i < rgb.length; i++) {
        double r = (rgb[i] >> 16) & 0xFF;
        double g = (rgb[i] >> 8) & 0xFF;
        double b = rgb[i] & 0xFF;
        double y = kr * r + (1 - kr - kb) * g + kb * b;
        double cb = (b - y) / (2 * (1 - kb));
        double cr = (r - y) / (2 * (1 - kr));
        yuv[i] = full
            ? new int[] {clamp(y), clamp(128 + cb), clamp(128 + cr)}
            : new int[] {clamp(16 + y * 219 / 255), clamp(128 + cb * 224 / 255), clamp(128 + cr * 224 / 255)};
      }
      int w = layout.width();
      int h = layout.height();
      this.out = new byte[layout.format().isYuv() ? w * h + 2 * ((w + 1) / 2) * ((h + 1) / 2) : w * h * 3];
    }

    private static int clamp(double v) {
      return (int) Math.max(0, Math.min(255, Math.round(v)));
    }

    private static int label(MemorySegment labels, LabelType type, long i) {
      return type == LabelType.U8 ? Byte.toUnsignedInt(labels.get(ValueLayout.JAVA_BYTE, i))
          : labels.get(ValueLayout.JAVA_INT_UNALIGNED, 4L * i);
    }

    byte[] blend(Frame frame, MemorySegment labels, LabelType type) {
      return layout.format().isYuv() ? blendYuv(frame, labels, type) : blendBgr(frame.pixels(), labels, type);
    }

    /** Palette colour over the BGR frame, into a BGR row buffer for the encoder. */
    private byte[] blendBgr(MemorySegment bgr, MemorySegment labels, LabelType type) {
      MemorySegment.copy(bgr, ValueLayout.JAVA_BYTE, 0, out, 0, out.length);
      int pixels = out.length / 3;
      for (int i = 0; i < pixels; i++) {
        int c = rgb[label(labels, type, i)];
        int j = 3 * i;
        out[j] = (byte) (((out[j] & 0xFF) * (256 - a) + (c & 0xFF) * a) >> 8);
        out[j + 1] = (byte) (((out[j + 1] & 0xFF) * (256 - a) + ((c >> 8) & 0xFF) * a) >> 8);
        out[j + 2] = (byte) (((out[j + 2] & 0xFF) * (256 - a) + ((c >> 16) & 0xFF) * a) >> 8);
      }
      return out;
    }

    private byte[] blendYuv(Frame frame, MemorySegment labels, LabelType type) {
      ImageLayout l = frame.layout();
      MemorySegment px = frame.pixels();
      int w = l.width();
      int h = l.height();
      int cw = (w + 1) / 2;
      int ch = (h + 1) / 2;
      for (int y = 0; y < h; y++) {
        long row = y * l.stride();
        for (int x = 0; x < w; x++) {
          int v = Byte.toUnsignedInt(px.get(ValueLayout.JAVA_BYTE, row + x));
          out[y * w + x] = (byte) ((v * (256 - a) + yuv[label(labels, type, (long) y * w + x)][0] * a) >> 8);
        }
      }
      // where U and V samples lie: I420 two planes, NV12/NV21 interleaved pairs
      long uBase;
      long vBase;
      long uStride;
      long vStride;
      int step;
      if (l.format() == PixelFormat.I420) {
        uBase = l.chroma().get(0).offset();
        vBase = l.chroma().get(1).offset();
        uStride = l.chroma().get(0).stride();
        vStride = l.chroma().get(1).stride();
        step = 1;
      } else {
        long base = l.chroma().get(0).offset();
        boolean nv12 = l.format() == PixelFormat.NV12;
        uBase = nv12 ? base : base + 1;
        vBase = nv12 ? base + 1 : base;
        uStride = vStride = l.chroma().get(0).stride();
        step = 2;
      }
      int uOut = w * h;
      int vOut = uOut + cw * ch;
      for (int cy = 0; cy < ch; cy++) {
        for (int cx = 0; cx < cw; cx++) {
          int su = 0;
          int sv = 0;
          int n = 0;
          for (int dy = 0; dy < 2 && 2 * cy + dy < h; dy++) {
            for (int dx = 0; dx < 2 && 2 * cx + dx < w; dx++) {
              int[] c = yuv[label(labels, type, (long) (2 * cy + dy) * w + 2 * cx + dx)];
              su += c[1];
              sv += c[2];
              n++;
            }
          }
          int u = Byte.toUnsignedInt(px.get(ValueLayout.JAVA_BYTE, uBase + cy * uStride + (long) cx * step));
          int v = Byte.toUnsignedInt(px.get(ValueLayout.JAVA_BYTE, vBase + cy * vStride + (long) cx * step));
          out[uOut + cy * cw + cx] = (byte) ((u * (256 - a) + (su + n / 2) / n * a) >> 8);
          out[vOut + cy * cw + cx] = (byte) ((v * (256 - a) + (sv + n / 2) / n * a) >> 8);
        }
      }
      return out;
    }
  }

  /** Encodes one black frame to a file of OUTPUT's kind, so that a bad output fails before the model loads. */
  private void checkOutput(String pixelFormat) throws IOException, InterruptedException {
    String name = output.getFileName() == null ? "" : output.getFileName().toString();
    Path folder = output.toAbsolutePath().getParent();
    if (folder == null || !Files.isDirectory(folder)) {
      throw new IOException("the output folder of " + output + " does not exist");
    }
    int dot = name.lastIndexOf('.');
    Path trial = Files.createTempFile(folder, ".maskformer-check", dot > 0 ? name.substring(dot) : "");
    try {
      Process p = new ProcessBuilder(ffmpeg, "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i",
          "color=c=black:s=16x16:d=0.04", "-frames:v", "1", "-pix_fmt", pixelFormat, trial.toString())
          .redirectErrorStream(true).start();
      String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
      if (p.waitFor() != 0) {
        throw new IOException("ffmpeg cannot write " + output + " (choose an extension it knows, e.g. .mp4 or"
            + " .mkv): " + text);
      }
    } finally {
      Files.deleteIfExists(trial);
    }
  }

  /**
   * Opens the reading end of the decoder's FIFO. Opening blocks until ffmpeg opens the other end;
   * if ffmpeg exits first (an unreadable input), a writer of our own releases the open.
   */
  private static FileChannel openFifo(Path fifo, Process decoder) throws IOException, InterruptedException {
    ExecutorService opener = Executors.newSingleThreadExecutor();
    try {
      Future<FileChannel> channel = opener.submit(() -> FileChannel.open(fifo, StandardOpenOption.READ));
      while (true) {
        try {
          return channel.get(100, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
          if (!decoder.isAlive()) {
            FileChannel.open(fifo, StandardOpenOption.WRITE).close(); // EOF for the reader
          }
        } catch (ExecutionException e) {
          throw new IOException("cannot read ffmpeg's frames: " + e.getCause(), e.getCause());
        }
      }
    } finally {
      opener.shutdownNow();
    }
  }

  private static void run(List<String> cmd, String what) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (p.waitFor() != 0) {
      throw new IOException(what + " failed: " + text.strip());
    }
  }

  /** Reads one raw frame into off-heap memory; false at the end of the stream. */
  private static boolean readFully(FileChannel in, MemorySegment frame) throws IOException {
    ByteBuffer view = frame.asByteBuffer();
    while (view.hasRemaining()) {
      if (in.read(view) < 0) {
        if (view.position() == 0) {
          return false;
        }
        throw new IOException("video ended inside a frame");
      }
    }
    return true;
  }

  private record Probe(int width, int height, String rate, String pixFmt, String colorSpace, String colorRange) {}

  private Probe probe() throws IOException, InterruptedException {
    String ffprobe = ffmpeg.endsWith("ffmpeg") ? ffmpeg.substring(0, ffmpeg.length() - 6) + "ffprobe" : "ffprobe";
    Process p;
    try {
      p = new ProcessBuilder(ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries",
          "stream=width,height,r_frame_rate,pix_fmt,color_space,color_range", "-of", "default=nw=0",
          input.toString()).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new IOException("the video command needs ffmpeg (apt-get install ffmpeg): " + e.getMessage());
    }
    String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    if (p.waitFor() != 0 || text.isEmpty()) {
      throw new IOException("ffprobe cannot read " + input + ": " + text);
    }
    // key=value lines; ffprobe may print warnings (a damaged file) before them
    java.util.Map<String, String> v = new java.util.HashMap<>();
    for (String line : text.split("\\R")) {
      int eq = line.indexOf('=');
      if (eq > 0) {
        v.putIfAbsent(line.substring(0, eq).trim(), line.substring(eq + 1).trim());
      }
    }
    String w = v.getOrDefault("width", "");
    String h = v.getOrDefault("height", "");
    if (!w.matches("\\d+") || !h.matches("\\d+")) {
      throw new IOException("no video stream in " + input + ": " + text);
    }
    return new Probe(Integer.parseInt(w), Integer.parseInt(h), v.getOrDefault("r_frame_rate", "25/1"),
        v.getOrDefault("pix_fmt", ""), v.getOrDefault("color_space", "unknown"), v.getOrDefault("color_range", "unknown"));
  }
}
