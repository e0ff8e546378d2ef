// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.flink;

import dev.maskformer.ModelInfo.ClassInfo;
import dev.maskformer.Output.LabelType;
import dev.maskformer.images.Images;
import dev.maskformer.Frame;
import dev.maskformer.LoadOptions;
import dev.maskformer.MaskFormer;
import dev.maskformer.PixelFormat;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.awt.image.DataBufferUShort;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.Objects;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.metrics.Counter;

/**
 * Writes each {@link SegmentedFrame} as PNG files under {@code dir/<stream id>/}: {@code
 * <frame index, 8 digits>.png}, the label map as a grey image (pixel value = label; 16-bit for
 * models with more than 256 classes), and on request {@code .colour.png} (palette
 * colours) and {@code .overlay.png} (palette over the frame; needs results made with {@link
 * SegmentConfig#withKeepSource}).
 *
 * <p>Delivery: at-least-once with deduplication by (stream, frame index). File names are the
 * key, and each file is written under a temporary name and renamed into place atomically, so a
 * frame that Flink replays after a restore rewrites its own files with the same content: the
 * output folder ends with exactly one set of files per frame, none partial.
 */
public final class LabelPngSink implements Sink<SegmentedFrame> {
  private final String dir;
  private final int[] palette; // null: paletteModel's
  private final String paletteModel;
  private final boolean colour;
  private final double overlayAlpha; // < 0: no overlay

  private LabelPngSink(String dir, int[] palette, String paletteModel, boolean colour,
      double overlayAlpha) {
    this.dir = dir;
    this.palette = palette;
    this.paletteModel = paletteModel;
    this.colour = colour;
    this.overlayAlpha = overlayAlpha;
  }

  /** Label PNGs only. */
  public static LabelPngSink labels(Path dir) {
    return new LabelPngSink(Objects.requireNonNull(dir, "dir").toString(), null, null, false, -1);
  }

  /** The colours of colour images and overlays, by label, as 0xRRGGBB. */
  public LabelPngSink withPalette(int[] rgbByLabel) {
    return new LabelPngSink(dir, Objects.requireNonNull(rgbByLabel, "rgbByLabel").clone(), null,
        colour, overlayAlpha);
  }

  /**
   * The colours of this model's classes, read where the sink runs (through {@link SharedModels},
   * on the CPU: the job's client needs no native library).
   */
  public LabelPngSink withPaletteOf(String modelPath) {
    return new LabelPngSink(dir, null, Objects.requireNonNull(modelPath, "modelPath"), colour,
        overlayAlpha);
  }

  /** Also palette images, {@code .colour.png}. */
  public LabelPngSink withColour(boolean wanted) {
    return new LabelPngSink(dir, palette, paletteModel, wanted, overlayAlpha);
  }

  /** Also overlays, {@code .overlay.png}: palette over the frame with opacity {@code alpha}. */
  public LabelPngSink withOverlay(double alpha) {
    if (!(alpha >= 0 && alpha <= 1)) {
      throw new IllegalArgumentException("alpha must be in [0, 1], got " + alpha);
    }
    return new LabelPngSink(dir, palette, paletteModel, colour, alpha);
  }

  /** Where the label PNG of a frame goes. */
  public static Path labelFile(Path dir, String streamId, long frameIndex) {
    return dir.resolve(safe(streamId)).resolve(String.format(Locale.ROOT, "%08d.png", frameIndex));
  }

  @Override
  public SinkWriter<SegmentedFrame> createWriter(WriterInitContext context) throws IOException {
    boolean needsPalette = colour || overlayAlpha >= 0;
    if (needsPalette && palette == null && paletteModel == null) {
      throw new IllegalStateException("colour images and overlays need withPalette or withPaletteOf");
    }
    int[] colours = !needsPalette || palette != null ? palette : paletteOf(paletteModel);
    Counter written = context.metricGroup().addGroup("maskformer").counter("framesWritten");
    return new SinkWriter<>() {
      @Override
      public void write(SegmentedFrame s, Context c) throws IOException {
        Path labels = labelFile(Path.of(dir), s.streamId(), s.frameIndex());
        Files.createDirectories(labels.getParent());
        String stem = labels.getFileName().toString().replace(".png", "");
        atomicPng(labelImage(s), labels);
        if (colour) {
          atomicPng(paletteImage(s, null, 1, colours), labels.resolveSibling(stem + ".colour.png"));
        }
        if (overlayAlpha >= 0) {
          if (s.source() == null) {
            throw new IllegalArgumentException("overlays need results that carry their frame: "
                + "segment with SegmentConfig.withKeepSource(true) (" + s + ")");
          }
          atomicPng(paletteImage(s, s.source(), overlayAlpha, colours), labels.resolveSibling(stem + ".overlay.png"));
        }
        written.inc();
      }

      @Override
      public void flush(boolean endOfInput) {}

      @Override
      public void close() {}
    };
  }

  private static int[] paletteOf(String model) {
    try (SharedModels.Lease lease = SharedModels.acquire(Path.of(model), LoadOptions.DEFAULTS)) {
      return lease.model().info().classes().stream().mapToInt(ClassInfo::rgb).toArray();
    }
  }

  private static void atomicPng(BufferedImage image, Path file) throws IOException {
    Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
    Images.writePng(image, tmp);
    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  /**
   * The label PNG's image, by the library's one rule ({@link Images#labelImage(int, int, int[],
   * int)}: 8-bit grey up to 256 classes, 16-bit above); the class count is the histogram's length,
   * else what the label type holds.
   */
  static BufferedImage labelImage(SegmentedFrame s) {
    int classes = s.histogram() != null ? s.histogram().length : s.labelType() == LabelType.U8 ? 256 : 65536;
    return Images.labelImage(s.width(), s.height(), s.toIntArray(), classes);
  }

  private static BufferedImage paletteImage(SegmentedFrame s, VideoFrame base, double alpha,
      int[] palette) {
    int w = s.width();
    int h = s.height();
    if (base != null && base.format().isYuv()) {
      base = rgbOf(base);
    }
    int[] labels = s.toIntArray();
    int[] rgb = new int[labels.length];
    int a = (int) Math.round(alpha * 256);
    for (int i = 0; i < rgb.length; i++) {
      int c = labels[i] < palette.length ? palette[labels[i]] : 0;
      if (base == null) {
        rgb[i] = c;
        continue;
      }
      int p = pixel(base, i);
      int r = (((p >> 16) & 0xFF) * (256 - a) + ((c >> 16) & 0xFF) * a) >> 8;
      int g = (((p >> 8) & 0xFF) * (256 - a) + ((c >> 8) & 0xFF) * a) >> 8;
      int b = ((p & 0xFF) * (256 - a) + (c & 0xFF) * a) >> 8;
      rgb[i] = (r << 16) | (g << 8) | b;
    }
    BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    out.setRGB(0, 0, w, h, rgb, 0, w);
    return out;
  }

  /** A YUV frame as RGB, converted by the library as the model saw it (and as ffmpeg would). */
  private static VideoFrame rgbOf(VideoFrame yuv) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment planes = arena.allocate(yuv.pixels().length);
      MemorySegment.copy(yuv.pixels(), 0, planes, ValueLayout.JAVA_BYTE, 0, yuv.pixels().length);
      MemorySegment rgb = arena.allocate((long) yuv.width() * yuv.height() * 3);
      new Frame(planes, yuv.layout()).toRgb(rgb);
      return new VideoFrame(yuv.streamId(), yuv.frameIndex(), yuv.timestamp(), yuv.width(),
          yuv.height(), PixelFormat.RGB, rgb.toArray(ValueLayout.JAVA_BYTE));
    }
  }

  /** Pixel i of a packed frame as 0xRRGGBB. */
  private static int pixel(VideoFrame f, int i) {
    byte[] px = f.pixels();
    int j = i * f.format().channels();
    int c0 = px[j] & 0xFF;
    int c1 = px[j + 1] & 0xFF;
    int c2 = px[j + 2] & 0xFF;
    boolean rgbOrder = f.format() == PixelFormat.RGB || f.format() == PixelFormat.RGBA;
    return rgbOrder ? (c0 << 16) | (c1 << 8) | c2 : (c2 << 16) | (c1 << 8) | c0;
  }

  private static String safe(String streamId) {
    String s = streamId.replaceAll("[^A-Za-z0-9._-]", "_");
    return s.isEmpty() || s.startsWith(".") ? "_" + s : s;
  }
}
