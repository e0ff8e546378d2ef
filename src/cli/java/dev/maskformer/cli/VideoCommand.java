// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import dev.maskformer.Frame;
import dev.maskformer.ImageLayout;
import dev.maskformer.LabelType;
import dev.maskformer.MaskFormer;
import dev.maskformer.Output;
import dev.maskformer.PixelFormat;
import dev.maskformer.Segment;
import dev.maskformer.SegmentOptions;
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
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(header = "Segments every frame of a video into an overlay video.", name = "video", description = {
    "Segments every frame of a video: ffmpeg decodes into a pipe that is read straight into",
    "off-heap frames, batches of frames are segmented into off-heap label maps, and the palette",
    "overlay is encoded to OUTPUT (any container ffmpeg writes, e.g. .mp4; the frame size is kept,",
    "odd sizes as 4:4:4). With --segments-jsonl FILE, FILE gets one JSON line per frame:",
    "{\"frame\": N, \"segments\": [{id, class, name, score, area, bbox, query}, ...]}.",
    "Prints frames/s; exit 1 if ffmpeg reported decoding errors."})
final class VideoCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin ModelOptions modelOptions;

  @Parameters(index = "0", paramLabel = "INPUT", description = "video file (anything ffmpeg reads)")
  Path input;

  @Parameters(index = "1", paramLabel = "OUTPUT", description = "overlay video to write")
  Path output;

  @Option(names = "--batch", defaultValue = "4", description = "frames per native call (default: ${DEFAULT-VALUE})")
  int batch;

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

  @Mixin InferenceOptions inference;

  @Option(names = "--ffmpeg", defaultValue = "ffmpeg", description = "ffmpeg executable (default: ${DEFAULT-VALUE})")
  String ffmpeg;

  @Override
  public Integer call() throws Exception {
    if (batch < 1) {
      throw new IllegalArgumentException("--batch must be >= 1");
    }
    if (maxFrames != null && maxFrames < 1) {
      throw new IllegalArgumentException("--max-frames must be >= 1");
    }
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    Probe probe = probe();
    // odd sizes cannot be 4:2:0; 4:4:4 keeps the frame size exactly (some players lack it)
    String pixelFormat = probe.width % 2 == 0 && probe.height % 2 == 0 ? "yuv420p" : "yuv444p";
    List<String> encode = List.of(ffmpeg, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
        "-s", probe.width + "x" + probe.height, "-r", probe.rate, "-i", "-", "-pix_fmt", pixelFormat,
        output.toString());
    checkOutput(pixelFormat); // before the model loads: an output ffmpeg cannot write fails now
    ImageLayout layout = ImageLayout.packed(probe.width, probe.height, PixelFormat.BGR);
    Path dir = Files.createTempDirectory("maskformer-video");
    Path fifo = dir.resolve("frames.bgr");
    Path decodeLog = dir.resolve("decode.log");
    dir.toFile().deleteOnExit(); // deleted last, after the files registered below
    fifo.toFile().deleteOnExit();
    decodeLog.toFile().deleteOnExit();
    run(List.of("mkfifo", fifo.toString()), "mkfifo");
    List<String> decode = new ArrayList<>(List.of(ffmpeg, "-v", "error", "-nostdin", "-i", input.toString()));
    if (maxFrames != null) {
      decode.addAll(List.of("-frames:v", maxFrames.toString())); // ffmpeg stops by itself
    }
    decode.addAll(List.of("-f", "rawvideo", "-pix_fmt", "bgr24", "-y", fifo.toString()));
    Process decoder = new ProcessBuilder(decode).redirectError(decodeLog.toFile())
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    Process encoder = null;
    long frames = 0;
    long t0 = System.nanoTime();
    double inferenceMs = 0;
    try (MaskFormer model = modelOptions.load(); Arena arena = Arena.ofConfined();
        FileChannel in = openFifo(fifo, decoder)) {
      encoder = new ProcessBuilder(encode).redirectError(ProcessBuilder.Redirect.INHERIT)
          .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
      try (OutputStream sink = encoder.getOutputStream();
          Writer jsonl = segmentsJsonl == null ? null : Files.newBufferedWriter(segmentsJsonl, StandardCharsets.UTF_8)) {
        LabelType type = LabelType.forClasses(model.numClasses());
        List<Frame> frameBuffers = new ArrayList<>();
        List<Output> outputs = new ArrayList<>();
        for (int i = 0; i < batch; i++) {
          frameBuffers.add(new Frame(MaskFormer.allocateHost(arena, layout.byteSize()), layout));
          outputs.add(Output.labels(MaskFormer.allocateHost(arena, layout.pixels() * type.bytes()), type));
        }
        int[] palette = model.info().classes().stream().mapToInt(c -> c.rgb()).toArray();
        SegmentOptions options = inference.apply(SegmentOptions.DEFAULTS, segmentsJsonl != null);
        byte[] row = new byte[(int) layout.byteSize()];
        boolean more = true;
        while (more) {
          int n = 0;
          // the kernel copies the pipe straight into the off-heap frame (a direct buffer)
          while (n < batch && readFully(in, frameBuffers.get(n).pixels())) {
            n++;
          }
          more = n == batch;
          if (n == 0) {
            break;
          }
          long t1 = System.nanoTime();
          List<List<Segment>> found = model.segment(frameBuffers.subList(0, n), outputs.subList(0, n), options);
          inferenceMs += (System.nanoTime() - t1) / 1e6;
          if (jsonl != null) {
            for (int i = 0; i < n; i++) {
              jsonl.write(SegmentFiles.line(frames + i, found.get(i), model.info().classes()));
            }
          }
          for (int i = 0; i < n; i++) {
            blend(frameBuffers.get(i).pixels(), outputs.get(i).labels(), type, palette, row);
            sink.write(row); // the overlay, blended on the heap, is piped to the encoder
          }
          frames += n;
        }
      }
    } finally {
      decoder.destroy();
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
    double seconds = (System.nanoTime() - t0) / 1e9;
    out.printf(Locale.ROOT, "%d frames of %dx%d at %s fps: %.1f frames/s end to end, %.1f ms per frame"
        + " in segment() (batches of %d) -> %s%n", frames, probe.width, probe.height, probe.rate,
        frames / seconds, inferenceMs / Math.max(frames, 1), batch, output);
    if (decoded != 0 || !decodeErrors.isEmpty()) {
      // a truncated or damaged input: the frames that decoded were written, but say so
      err.println("error: ffmpeg reported problems decoding " + input + " (exit " + decoded + "; the video may"
          + " be truncated or damaged, " + frames + " frames were segmented): " + decodeErrors);
      return 1;
    }
    return 0;
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

  /** Palette colour over the BGR frame, into a BGR row buffer for the encoder. */
  private void blend(MemorySegment bgr, MemorySegment labels, LabelType type, int[] palette, byte[] out) {
    MemorySegment.copy(bgr, ValueLayout.JAVA_BYTE, 0, out, 0, out.length);
    int a = (int) Math.round(alpha * 256);
    int pixels = out.length / 3;
    for (int i = 0; i < pixels; i++) {
      int label = type == LabelType.U8
          ? Byte.toUnsignedInt(labels.get(ValueLayout.JAVA_BYTE, i))
          : labels.get(ValueLayout.JAVA_INT_UNALIGNED, 4L * i);
      int c = palette[label];
      int j = 3 * i;
      out[j] = (byte) (((out[j] & 0xFF) * (256 - a) + (c & 0xFF) * a) >> 8);
      out[j + 1] = (byte) (((out[j + 1] & 0xFF) * (256 - a) + ((c >> 8) & 0xFF) * a) >> 8);
      out[j + 2] = (byte) (((out[j + 2] & 0xFF) * (256 - a) + ((c >> 16) & 0xFF) * a) >> 8);
    }
  }

  private record Probe(int width, int height, String rate) {}

  private Probe probe() throws IOException, InterruptedException {
    String ffprobe = ffmpeg.endsWith("ffmpeg") ? ffmpeg.substring(0, ffmpeg.length() - 6) + "ffprobe" : "ffprobe";
    Process p;
    try {
      p = new ProcessBuilder(ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries",
          "stream=width,height,r_frame_rate", "-of", "csv=p=0", input.toString())
          .redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new IOException("the video command needs ffmpeg (apt-get install ffmpeg): " + e.getMessage());
    }
    String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    if (p.waitFor() != 0 || text.isEmpty()) {
      throw new IOException("ffprobe cannot read " + input + ": " + text);
    }
    // ffprobe may print warnings (a damaged file) before the line asked for
    for (String line : text.split("\\R")) {
      String[] f = line.trim().split(",");
      if (f.length >= 3 && f[0].matches("\\d+") && f[1].matches("\\d+")) {
        return new Probe(Integer.parseInt(f[0]), Integer.parseInt(f[1]), f[2].trim());
      }
    }
    throw new IOException("no video stream in " + input + ": " + text);
  }
}
