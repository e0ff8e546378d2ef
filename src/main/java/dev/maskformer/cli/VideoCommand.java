// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import dev.maskformer.Frame;
import dev.maskformer.ImageLayout;
import dev.maskformer.LabelType;
import dev.maskformer.MaskFormer;
import dev.maskformer.Output;
import dev.maskformer.PixelFormat;
import dev.maskformer.SegmentOptions;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(header = "Segments every frame of a video into an overlay video.", name = "video", description = {
    "Segments every frame of a video: ffmpeg decodes straight into off-heap frames, batches of",
    "frames are segmented into off-heap label maps, and the palette overlay is encoded to OUTPUT",
    "(any container ffmpeg writes, e.g. .mp4). Prints frames/s."})
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

  @Option(names = "--ffmpeg", defaultValue = "ffmpeg", description = "ffmpeg executable (default: ${DEFAULT-VALUE})")
  String ffmpeg;

  @Override
  public Integer call() throws Exception {
    if (batch < 1) {
      throw new IllegalArgumentException("--batch must be >= 1");
    }
    PrintWriter out = spec.commandLine().getOut();
    Probe probe = probe();
    ImageLayout layout = ImageLayout.packed(probe.width, probe.height, PixelFormat.BGR);
    List<String> decode = new ArrayList<>(List.of(ffmpeg, "-v", "error", "-i", input.toString(),
        "-f", "rawvideo", "-pix_fmt", "bgr24", "-"));
    List<String> encode = List.of(ffmpeg, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
        "-s", probe.width + "x" + probe.height, "-r", probe.rate, "-i", "-",
        "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p", output.toString());
    Process decoder = new ProcessBuilder(decode).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    Process encoder = new ProcessBuilder(encode).redirectError(ProcessBuilder.Redirect.INHERIT)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    long frames = 0;
    long t0 = System.nanoTime();
    double inferenceMs = 0;
    try (MaskFormer model = modelOptions.load(); Arena arena = Arena.ofConfined();
        InputStream rawIn = decoder.getInputStream(); OutputStream rawOut = encoder.getOutputStream()) {
      ReadableByteChannel in = Channels.newChannel(rawIn);
      WritableByteChannel sink = Channels.newChannel(rawOut);
      LabelType type = LabelType.forClasses(model.numClasses());
      List<Frame> frameBuffers = new ArrayList<>();
      List<Output> outputs = new ArrayList<>();
      for (int i = 0; i < batch; i++) {
        frameBuffers.add(new Frame(MaskFormer.allocateHost(arena, layout.byteSize()), layout));
        outputs.add(Output.labels(MaskFormer.allocateHost(arena, layout.pixels() * type.bytes()), type));
      }
      int[] palette = model.info().classes().stream().mapToInt(c -> c.rgb()).toArray();
      byte[] row = new byte[(int) layout.byteSize()];
      boolean more = true;
      while (more) {
        int n = 0;
        while (n < batch && (maxFrames == null || frames + n < maxFrames)) {
          if (!readFully(in, frameBuffers.get(n).pixels())) {
            break;
          }
          n++;
        }
        more = n == batch && (maxFrames == null || frames + n < maxFrames);
        if (n == 0) {
          break;
        }
        long t1 = System.nanoTime();
        model.segment(frameBuffers.subList(0, n), outputs.subList(0, n), SegmentOptions.DEFAULTS);
        inferenceMs += (System.nanoTime() - t1) / 1e6;
        for (int i = 0; i < n; i++) {
          blend(frameBuffers.get(i).pixels(), outputs.get(i).labels(), type, palette, row);
          sink.write(ByteBuffer.wrap(row));
        }
        frames += n;
      }
    } finally {
      decoder.destroy();
    }
    int encoded = encoder.waitFor();
    if (encoded != 0) {
      throw new IOException("ffmpeg could not encode " + output + " (exit " + encoded + ")");
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    out.printf(Locale.ROOT, "%d frames of %dx%d at %s fps: %.1f frames/s end to end, %.1f ms per frame"
        + " in segment() (batches of %d) -> %s%n", frames, probe.width, probe.height, probe.rate,
        frames / seconds, inferenceMs / Math.max(frames, 1), batch, output);
    return 0;
  }

  /** Reads one raw frame into off-heap memory; false at the end of the stream. */
  private static boolean readFully(ReadableByteChannel in, MemorySegment frame) throws IOException {
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
    String[] f = text.split("\\R")[0].split(",");
    if (f.length < 3) {
      throw new IOException("no video stream in " + input + ": " + text);
    }
    return new Probe(Integer.parseInt(f[0].trim()), Integer.parseInt(f[1].trim()), f[2].trim());
  }
}
