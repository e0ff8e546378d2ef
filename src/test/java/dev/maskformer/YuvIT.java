// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.ImageLayout.ColorMatrix;
import dev.maskformer.ImageLayout.ColorRange;
import dev.maskformer.ImageLayout.Plane;
import dev.maskformer.Output.LabelType;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * YUV frames against ffmpeg's own conversion: real video encoded by ffmpeg (H.264 for even sizes,
 * VP9 for odd ones), both matrices and both ranges, decoded once to raw YUV (the stream's own
 * 4:2:0 format, no conversion) and once to {@code -pix_fmt rgb24}. The library's RGB of the YUV
 * frames must match ffmpeg's within 2 levels on >= 99.9% of the pixels (it is bit-exact on
 * ffmpeg 5.1, and the test prints the exact share), and their labels must equal those of
 * ffmpeg's RGB on >= 99.9% of the pixels, in every layout (I420, NV12, NV21, padded planes,
 * separate plane segments).
 */
class YuvIT {
  private static MaskFormer model;
  @TempDir static Path tmp;

  @BeforeAll
  static void load() {
    model = MaskFormer.load(TestModels.tiny());
  }

  @AfterAll
  static void close() {
    model.close();
  }

  /** A video made by ffmpeg, decoded to raw 4:2:0 and to ffmpeg's RGB. */
  record Clip(int width, int height, int frames, ColorMatrix matrix, ColorRange range, byte[] yuv, byte[] rgb) {
    int frameBytes() {
      return width * height + 2 * ((width + 1) / 2) * ((height + 1) / 2);
    }
  }

  private static final String[] SCENES = {"scene_1.jpg", "scene_3.jpg", "scene_5.jpg"};

  static Clip clip(int w, int h, ColorMatrix matrix, ColorRange range, String scene) throws Exception {
    assumeTrue(hasFfmpeg(), "ffmpeg missing");
    Path source = TestModels.repoRoot().resolve("models/demo/samples").resolve(scene);
    String name = String.format(Locale.ROOT, "%dx%d-%s-%s", w, h, matrix, range);
    boolean even = w % 2 == 0 && h % 2 == 0;
    Path video = tmp.resolve(name + (even ? ".mp4" : ".webm"));
    String space = matrix == ColorMatrix.BT709 ? "bt709" : "bt470bg";
    // three frames panning over the photo, so that the encoder predicts between frames
    List<String> encode = new ArrayList<>(List.of("-loop", "1", "-i", source.toString(), "-vf",
        "scale=" + (w + 24) + ":" + (h + 16) + ",format=rgb24,crop=" + w + ":" + h + ":8*n:4*n,format=yuv420p", "-frames:v", "3",
        "-colorspace", space, "-color_range", range == ColorRange.FULL ? "pc" : "tv"));
    encode.addAll(even ? List.of("-c:v", "libx264", "-crf", "20") : List.of("-c:v", "libvpx-vp9", "-crf", "30", "-b:v", "0"));
    encode.add(video.toString());
    ffmpeg(encode);
    // what the decoder says about the stream: the library is told the same, as a user would be
    String[] probe = run(List.of("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
        "stream=pix_fmt,color_space,color_range", "-of", "csv=p=0", video.toString())).strip().split(",");
    String pixFmt = probe[0];
    assertTrue(pixFmt.equals("yuv420p") || pixFmt.equals("yuvj420p"), "decoder format " + pixFmt);
    ColorRange decodedRange = pixFmt.equals("yuvj420p") || probe[1].equals("pc") ? ColorRange.FULL : ColorRange.LIMITED;
    ColorMatrix decodedMatrix = probe[2].equals("bt709") ? ColorMatrix.BT709 : ColorMatrix.BT601;
    assertEquals(range, decodedRange, "the encoded range reaches the decoder");
    assertEquals(matrix, decodedMatrix, "the encoded matrix reaches the decoder");
    Path yuv = tmp.resolve(name + ".yuv");
    Path rgb = tmp.resolve(name + ".rgb");
    ffmpeg(List.of("-i", video.toString(), "-f", "rawvideo", "-pix_fmt", pixFmt, yuv.toString()));
    ffmpeg(List.of("-i", video.toString(), "-f", "rawvideo", "-pix_fmt", "rgb24", rgb.toString()));
    byte[] y = Files.readAllBytes(yuv);
    byte[] r = Files.readAllBytes(rgb);
    Clip c = new Clip(w, h, 3, matrix, range, y, r);
    assertEquals(3L * c.frameBytes(), y.length);
    assertEquals(3L * w * h * 3, r.length);
    return c;
  }

  /** Every size (odd ones included) and every matrix and range, against ffmpeg, in I420 and NV12. */
  @Test
  void matchesFfmpegOnRealVideo() throws Exception {
    int[][] sizes = {{64, 48}, {160, 90}, {97, 61}, {98, 61}, {97, 60}};
    Set<ColorMatrix> matrices = EnumSet.noneOf(ColorMatrix.class);
    Set<ColorRange> ranges = EnumSet.noneOf(ColorRange.class);
    int scene = 0;
    for (int[] s : sizes) {
      for (ColorMatrix m : List.of(ColorMatrix.BT601, ColorMatrix.BT709)) {
        for (ColorRange r : List.of(ColorRange.LIMITED, ColorRange.FULL)) {
          Clip c = clip(s[0], s[1], m, r, SCENES[scene++ % SCENES.length]);
          matrices.add(m);
          ranges.add(r);
          compare(c);
        }
      }
    }
    assertEquals(EnumSet.of(ColorMatrix.BT601, ColorMatrix.BT709), matrices);
    assertEquals(EnumSet.allOf(ColorRange.class), ranges);
  }

  private static void compare(Clip c) {
    int w = c.width(), h = c.height();
    long pixels = (long) w * h;
    try (Arena arena = Arena.ofConfined()) {
      for (int f = 0; f < c.frames(); f++) {
        MemorySegment i420 = arena.allocate(c.frameBytes());
        MemorySegment.copy(c.yuv(), f * c.frameBytes(), i420, ValueLayout.JAVA_BYTE, 0, c.frameBytes());
        MemorySegment ffRgb = arena.allocate(pixels * 3);
        MemorySegment.copy(c.rgb(), (int) (f * pixels * 3), ffRgb, ValueLayout.JAVA_BYTE, 0, (int) (pixels * 3));
        ImageLayout layout = new ImageLayout(w, h, w, PixelFormat.I420).withColor(c.matrix(), c.range());
        Frame yuvFrame = new Frame(i420, layout);
        Frame nv12 = toNv12(i420, w, h, arena, false, c);
        Frame nv21 = toNv12(i420, w, h, arena, true, c);

        // RGB: within 2 levels on >= 99.9% of the pixels
        MemorySegment ours = arena.allocate(pixels * 3);
        yuvFrame.toRgb(ours);
        long within = 0;
        long exact = 0;
        int worst = 0;
        for (long p = 0; p < pixels; p++) {
          int d = 0;
          for (int k = 0; k < 3; k++) {
            d = Math.max(d, Math.abs(Byte.toUnsignedInt(ours.get(ValueLayout.JAVA_BYTE, 3 * p + k))
                - Byte.toUnsignedInt(ffRgb.get(ValueLayout.JAVA_BYTE, 3 * p + k))));
          }
          within += d <= 2 ? 1 : 0;
          exact += d == 0 ? 1 : 0;
          worst = Math.max(worst, d);
        }
        String what = w + "x" + h + " " + c.matrix() + " " + c.range() + " frame " + f;
        if (f == 0) {
          System.out.printf(Locale.ROOT, "YuvIT %s: RGB equal to ffmpeg's on %.4f%% of the pixels, within 2 levels on"
              + " %.4f%%, largest difference %d%n", what, 100.0 * exact / pixels, 100.0 * within / pixels, worst);
        }
        assertTrue(within >= 0.999 * pixels, what + ": RGB within 2 levels on " + within + " of " + pixels);
        MemorySegment viaNv12 = arena.allocate(pixels * 3);
        nv12.toRgb(viaNv12);
        assertEquals(-1, ours.mismatch(viaNv12), what + ": NV12 and I420 of one picture convert alike");
        nv21.toRgb(viaNv12);
        assertEquals(-1, ours.mismatch(viaNv12), what + ": NV21 and I420 of one picture convert alike");

        // labels: >= 99.9% equal to segmenting ffmpeg's RGB, in every layout
        int[] reference = labels(new Frame(ffRgb, ImageLayout.packed(w, h, PixelFormat.RGB)), arena);
        for (Frame frame : List.of(yuvFrame, nv12, nv21)) {
          int[] got = labels(frame, arena);
          long same = 0;
          for (int p = 0; p < got.length; p++) {
            same += got[p] == reference[p] ? 1 : 0;
          }
          assertTrue(same >= 0.999 * pixels, what + " " + frame.layout().format() + ": labels equal on " + same
              + " of " + pixels);
        }
      }
    }
  }

  /** The same picture relaid as NV12 (or NV21), with padded rows and a gap before the chroma plane. */
  private static Frame toNv12(MemorySegment i420, int w, int h, Arena arena, boolean nv21, Clip c) {
    int cw = (w + 1) / 2;
    int ch = (h + 1) / 2;
    long stride = w + 9;
    long chromaOffset = stride * h + 32;
    long chromaStride = 2L * cw + 6;
    MemorySegment out = arena.allocate(chromaOffset + chromaStride * ch);
    for (int r = 0; r < h; r++) {
      MemorySegment.copy(i420, (long) r * w, out, r * stride, w);
    }
    long u = (long) w * h;
    long v = u + (long) cw * ch;
    for (int r = 0; r < ch; r++) {
      for (int x = 0; x < cw; x++) {
        byte ub = i420.get(ValueLayout.JAVA_BYTE, u + (long) r * cw + x);
        byte vb = i420.get(ValueLayout.JAVA_BYTE, v + (long) r * cw + x);
        out.set(ValueLayout.JAVA_BYTE, chromaOffset + r * chromaStride + 2L * x, nv21 ? vb : ub);
        out.set(ValueLayout.JAVA_BYTE, chromaOffset + r * chromaStride + 2L * x + 1, nv21 ? ub : vb);
      }
    }
    ImageLayout layout = ImageLayout.yuv(nv21 ? PixelFormat.NV21 : PixelFormat.NV12, w, h, stride,
        new Plane(chromaOffset, chromaStride)).withColor(c.matrix(), c.range());
    return new Frame(out, layout);
  }

  private static int[] labels(Frame frame, Arena arena) {
    MemorySegment labels = arena.allocate(frame.layout().pixels() * 4, 4);
    model.segment(frame, Output.labels(labels, LabelType.I32));
    return labels.toArray(ValueLayout.JAVA_INT);
  }

  /** Padded planes in one buffer and planes in separate segments: the same labels as contiguous I420. */
  @Test
  void everyLayoutOfOnePictureSegmentsAlike() throws Exception {
    Clip c = clip(97, 61, ColorMatrix.BT709, ColorRange.LIMITED, "scene_2.jpg");
    int w = c.width();
    int h = c.height();
    int cw = (w + 1) / 2;
    int ch = (h + 1) / 2;
    try (Arena arena = Arena.ofShared()) {
      MemorySegment i420 = arena.allocate(c.frameBytes());
      MemorySegment.copy(c.yuv(), 0, i420, ValueLayout.JAVA_BYTE, 0, c.frameBytes());
      Frame contiguous = new Frame(i420, new ImageLayout(w, h, w, PixelFormat.I420).withColor(c.matrix(), c.range()));
      int[] reference = labels(contiguous, arena);

      // padded: luma stride 128, chroma stride 64, the planes 4 KiB apart in one buffer
      long ys = 128;
      long cs = 64;
      MemorySegment padded = arena.allocate(3 * 4096 + ys * h);
      for (int r = 0; r < h; r++) {
        MemorySegment.copy(i420, (long) r * w, padded, r * ys, w);
      }
      long uOff = 4096 * 2;
      long vOff = uOff + 4096;
      for (int r = 0; r < ch; r++) {
        MemorySegment.copy(i420, (long) w * h + (long) r * cw, padded, uOff + r * cs, cw);
        MemorySegment.copy(i420, (long) w * h + (long) cw * ch + (long) r * cw, padded, vOff + r * cs, cw);
      }
      ImageLayout paddedLayout = ImageLayout.yuv(PixelFormat.I420, w, h, ys, new Plane(uOff, cs), new Plane(vOff, cs))
          .withColor(c.matrix(), c.range());
      assertArrayEquals(reference, labels(new Frame(padded, paddedLayout), arena));

      // separate segments, as an AVFrame's data[0..2], each from its own allocation
      MemorySegment luma = arena.allocate(ys * h);
      MemorySegment uPlane = arena.allocate(cs * ch);
      MemorySegment vPlane = arena.allocate(cs * ch);
      MemorySegment.copy(padded, 0, luma, 0, ys * h);
      MemorySegment.copy(padded, uOff, uPlane, 0, cs * ch);
      MemorySegment.copy(padded, vOff, vPlane, 0, cs * ch);
      ImageLayout separate = ImageLayout.yuv(PixelFormat.I420, w, h, ys, new Plane(0, cs), new Plane(0, cs))
          .withColor(c.matrix(), c.range());
      Frame planes = Frame.ofPlanes(separate, luma, uPlane, vPlane);
      assertArrayEquals(reference, labels(planes, arena));
      // and in a batch with the contiguous frame: one forward pass, the same labels
      try (Arena out = Arena.ofConfined()) {
        MemorySegment a = out.allocate(w * h * 4L, 4);
        MemorySegment b = out.allocate(w * h * 4L, 4);
        model.segment(List.of(contiguous, planes), List.of(Output.labels(a, LabelType.I32),
            Output.labels(b, LabelType.I32)), SegmentOptions.DEFAULTS);
        assertArrayEquals(reference, a.toArray(ValueLayout.JAVA_INT));
        assertArrayEquals(reference, b.toArray(ValueLayout.JAVA_INT));
      }
      // the convenience call and the async path take YUV frames too
      try (Segmentation s = model.segment(planes)) {
        assertEquals(reference[w * 10 + 20], s.label(20, 10));
      }
      try (Segmentation s = model.segmentAsync(planes, SegmentOptions.DEFAULTS).join()) {
        assertEquals(reference[w * 30 + 40], s.label(40, 30));
      }
    }
  }

  /** Every size, stride and plane check of the packed formats, for each plane. */
  @Test
  void badPlanesAreRefused() {
    int w = 64;
    int h = 48;
    ImageLayout layout = new ImageLayout(w, h, w, PixelFormat.I420); // layout checks: TypesTest
    IllegalArgumentException e;
    try (Arena arena = Arena.ofConfined()) {
      // short buffers: one byte less than the last plane needs
      e = assertThrows(IllegalArgumentException.class, () -> new Frame(arena.allocate(layout.byteSize() - 1), layout));
      assertTrue(e.getMessage().contains("needs " + layout.byteSize()), e.getMessage());
      ImageLayout separate = ImageLayout.yuv(PixelFormat.I420, w, h, w, new Plane(0, 32), new Plane(0, 32));
      MemorySegment luma = arena.allocate(w * h);
      MemorySegment plane = arena.allocate(32 * 24);
      e = assertThrows(IllegalArgumentException.class, () -> Frame.ofPlanes(separate, luma, plane, arena.allocate(32 * 24 - 1)));
      assertTrue(e.getMessage().contains("V plane"), e.getMessage());
      assertThrows(IllegalArgumentException.class, () -> Frame.ofPlanes(separate, arena.allocate(w * h - 1), plane, plane));
      assertThrows(IllegalArgumentException.class, () -> Frame.ofPlanes(separate, luma, plane));
      // heap memory for a plane
      assertThrows(IllegalArgumentException.class,
          () -> Frame.ofPlanes(separate, luma, plane, MemorySegment.ofArray(new byte[32 * 24])));
      assertThrows(IllegalArgumentException.class,
          () -> Frame.ofPlanes(ImageLayout.packed(w, h, PixelFormat.RGB), arena.allocate(w * h * 3)));
      // a plane whose arena closed: refused before the call, never read
      Arena gone = Arena.ofShared();
      Frame stale = Frame.ofPlanes(separate, luma, plane, gone.allocate(32 * 24));
      gone.close();
      MemorySegment labels = arena.allocate(w * h);
      var closed = assertThrows(IllegalStateException.class, () -> model.segment(stale, Output.labels(labels, LabelType.U8)));
      assertTrue(closed.getMessage().contains("closed"), closed.getMessage());
      assertThrows(IllegalStateException.class, () -> stale.toRgb(arena.allocate(w * h * 3)));
      // toRgb's output: too small, read-only, heap
      Frame ok = new Frame(arena.allocate(layout.byteSize()), layout);
      assertThrows(IllegalArgumentException.class, () -> ok.toRgb(arena.allocate(w * h * 3 - 1)));
      assertThrows(IllegalArgumentException.class, () -> ok.toRgb(arena.allocate(w * h * 3).asReadOnly()));
      assertThrows(IllegalArgumentException.class, () -> ok.toRgb(MemorySegment.ofArray(new byte[w * h * 3])));
      // a read-only view of a frame's memory is only read: accepted
      model.segment(new Frame(ok.pixels().asReadOnly(), layout), Output.labels(labels, LabelType.U8));
    }
  }

  static boolean hasFfmpeg() {
    try {
      return new ProcessBuilder("ffmpeg", "-version").redirectErrorStream(true).start().waitFor() == 0;
    } catch (IOException | InterruptedException e) {
      return false;
    }
  }

  static void ffmpeg(List<String> args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("ffmpeg", "-v", "error", "-nostdin", "-y"));
    cmd.addAll(args);
    run(cmd);
  }

  static String run(List<String> cmd) throws Exception {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(0, p.waitFor(), String.join(" ", cmd) + ": " + out);
    return out;
  }
}
