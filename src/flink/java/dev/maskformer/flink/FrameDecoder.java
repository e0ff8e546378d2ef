// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import dev.maskformer.images.Images;
import dev.maskformer.ImageLayout.ColorMatrix;
import dev.maskformer.ImageLayout.ColorRange;
import dev.maskformer.ImageLayout;
import dev.maskformer.PixelFormat;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** Frames of one input, from its split's position on. Not thread-safe. */
abstract class FrameDecoder implements AutoCloseable {
  protected final FrameSplit split;
  protected long next;

  FrameDecoder(FrameSplit split) {
    this.split = split;
    this.next = split.nextFrame();
  }

  static FrameDecoder open(FrameSplit split) throws IOException {
    return split.kind() == FrameSplit.Kind.IMAGES ? new ImageFolder(split) : new Video(split);
  }

  /** The next frame, or null at the end of the input (or after maxFrames). */
  final VideoFrame next() throws IOException {
    if (split.maxFrames() >= 0 && next >= split.maxFrames()) {
      return null;
    }
    VideoFrame f = read();
    if (f != null) {
      next++;
    }
    return f;
  }

  /** The split positioned at the first frame not returned yet. */
  final FrameSplit position() {
    return split.at(next);
  }

  protected abstract VideoFrame read() throws IOException;

  @Override
  public void close() throws IOException {}

  /** Image files of a folder in name order, read with the library's {@code Images}. */
  private static final class ImageFolder extends FrameDecoder {
    private final List<Path> files;

    ImageFolder(FrameSplit split) throws IOException {
      super(split);
      Path p = Path.of(split.path());
      if (Files.isDirectory(p)) {
        try (Stream<Path> s = Files.list(p)) {
          files = s.filter(f -> Files.isRegularFile(f) && FrameSource.isImage(f)).sorted().toList();
        }
      } else {
        files = List.of(p);
      }
    }

    @Override
    protected VideoFrame read() throws IOException {
      if (next >= files.size()) {
        return null;
      }
      long timestamp = Math.round(next * 1000 / split.fps());
      try (Arena arena = Arena.ofConfined()) {
        return VideoFrame.of(split.streamId(), next, timestamp,
            Images.read(files.get((int) next), arena));
      }
    }
  }

  /**
   * ffmpeg decoding into raw frames on its standard output: the stream's own YUV 4:2:0 where the
   * library converts it as ffmpeg would (no swscale), else BGR (see {@link FrameSource.Decode}).
   */
  private static final class Video extends FrameDecoder {
    private final Process ffmpeg;
    private final InputStream frames;
    private final Path log;
    private final int width;
    private final int height;
    private final double fps;
    private final Plan plan;
    private final int frameBytes;

    Video(FrameSplit split) throws IOException {
      super(split);
      Map<String, String> probe = probe(split);
      width = Integer.parseInt(probe.get("width"));
      height = Integer.parseInt(probe.get("height"));
      fps = rate(probe.getOrDefault("r_frame_rate", ""));
      plan = Plan.of(probe, split.decode());
      frameBytes = Math.toIntExact(ImageLayout.packed(width, height, plan.format()).byteSize());
      List<String> cmd = new ArrayList<>(List.of(split.ffmpeg(), "-v", "error", "-nostdin", "-i", split.path()));
      if (split.maxFrames() >= 0) {
        cmd.addAll(List.of("-frames:v", Long.toString(split.maxFrames()))); // ffmpeg stops by itself
      }
      cmd.addAll(List.of("-f", "rawvideo", "-pix_fmt", plan.pixFmt(), "-"));
      log = Files.createTempFile("maskformer-ffmpeg", ".log");
      ffmpeg = new ProcessBuilder(cmd).redirectError(log.toFile()).start();
      frames = ffmpeg.getInputStream();
      // a restored split starts where its checkpoint was: decode and drop the frames before it
      byte[] skip = new byte[frameBytes];
      for (long i = 0; i < next; i++) {
        if (frames.readNBytes(skip, 0, frameBytes) < frameBytes) {
          throw new IOException(split.path() + " has fewer than " + next + " frames now");
        }
      }
    }

    @Override
    protected VideoFrame read() throws IOException {
      byte[] pixels = new byte[frameBytes];
      int n = frames.readNBytes(pixels, 0, frameBytes);
      if (n == 0) {
        checkExit();
        return null;
      }
      if (n < frameBytes) {
        throw new IOException("video " + split.path() + " ended inside frame " + next);
      }
      long timestamp = Math.round(next * 1000 / fps);
      return new VideoFrame(split.streamId(), next, timestamp, width, height, plan.format(), pixels,
          plan.matrix(), plan.range());
    }

    private void checkExit() throws IOException {
      try {
        int code = ffmpeg.waitFor();
        String errors = Files.readString(log).strip();
        if (code != 0 || !errors.isEmpty()) {
          throw new IOException("ffmpeg failed decoding " + split.path() + " (exit " + code + "): " + errors);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted waiting for ffmpeg", e);
      }
    }

    @Override
    public void close() throws IOException {
      ffmpeg.destroy();
      frames.close();
      Files.deleteIfExists(log);
    }

    /** ffprobe's key=value facts of the first video stream. */
    private static Map<String, String> probe(FrameSplit split) throws IOException {
      String ff = split.ffmpeg();
      String ffprobe = ff.endsWith("ffmpeg") ? ff.substring(0, ff.length() - 6) + "ffprobe" : "ffprobe";
      Process p;
      try {
        p = new ProcessBuilder(ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries",
            "stream=width,height,r_frame_rate,pix_fmt,color_space,color_range", "-of", "default=nw=1",
            split.path()).redirectErrorStream(true).start();
      } catch (IOException e) {
        throw new IOException("video inputs need ffmpeg and ffprobe (apt-get install ffmpeg): " + e.getMessage(), e);
      }
      String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
      try {
        p.waitFor();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted waiting for ffprobe", e);
      }
      Map<String, String> facts = new HashMap<>();
      for (String line : text.split("\\R")) { // warnings may come first
        int eq = line.indexOf('=');
        if (eq > 0) {
          facts.putIfAbsent(line.substring(0, eq).trim(), line.substring(eq + 1).trim());
        }
      }
      if (!facts.getOrDefault("width", "").matches("\\d{1,9}")
          || !facts.getOrDefault("height", "").matches("\\d{1,9}")) {
        throw new IOException("no video stream in " + split.path() + ": " + text);
      }
      return facts;
    }

    private static double rate(String text) {
      String[] nd = text.split("/");
      try {
        double r = nd.length == 2 ? Double.parseDouble(nd[0]) / Double.parseDouble(nd[1]) : Double.parseDouble(text);
        return r > 0 && Double.isFinite(r) ? r : 25;
      } catch (NumberFormatException e) {
        return 25;
      }
    }
  }

  /**
   * What ffmpeg writes and what the library is told: the stream's own 4:2:0 format with its
   * colours where the library converts it as ffmpeg would, else BGR (the same rule as the {@code
   * video} command's).
   */
  record Plan(String pixFmt, PixelFormat format, ColorMatrix matrix, ColorRange range) {
    static final Plan BGR = new Plan("bgr24", PixelFormat.BGR, ColorMatrix.BT601, ColorRange.LIMITED);

    static Plan of(Map<String, String> probe, FrameSource.Decode decode) {
      if (decode == FrameSource.Decode.BGR) {
        return BGR;
      }
      String pix = probe.getOrDefault("pix_fmt", "");
      boolean full = pix.startsWith("yuvj") || probe.getOrDefault("color_range", "").equals("pc");
      ColorRange range = full ? ColorRange.FULL : ColorRange.LIMITED;
      ColorMatrix matrix = switch (probe.getOrDefault("color_space", "unknown")) {
        case "bt709" -> ColorMatrix.BT709;
        case "bt2020nc", "bt2020c" -> ColorMatrix.BT2020;
        case "bt470bg", "smpte170m", "unknown", "" -> ColorMatrix.BT601;
        default -> null; // fcc, smpte240m, ycgco, gbr...: ffmpeg's own conversion
      };
      PixelFormat format = switch (pix) {
        case "yuv420p", "yuvj420p" -> PixelFormat.I420;
        case "nv12" -> PixelFormat.NV12;
        case "nv21" -> PixelFormat.NV21;
        default -> null; // 4:2:2, 4:4:4, 10-bit, RGB...
      };
      if (format != null && matrix != null) {
        return new Plan(pix, format, matrix, range);
      }
      if (decode == FrameSource.Decode.YUV) { // ffmpeg's swscale makes 4:2:0 (once), the library the rest
        return new Plan(full ? "yuvj420p" : "yuv420p", PixelFormat.I420,
            matrix == null ? ColorMatrix.BT601 : matrix, range);
      }
      return BGR;
    }
  }
}
