// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.ImageLayout.ColorMatrix;
import dev.maskformer.ImageLayout.ColorRange;
import dev.maskformer.ImageLayout.Plane;
import dev.maskformer.Output.LabelType;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import org.bytedeco.ffmpeg.avutil.AVFrame;
import org.bytedeco.ffmpeg.global.avutil;
import org.bytedeco.javacv.FFmpegFrameGrabber;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The JavaCV example of docs/video.md, run: FFmpegFrameGrabber frames segmented zero-copy
 * ({@code MemorySegment.ofBuffer(frame.image[0])}), in BGR (JavaCV's default, converted by its
 * ffmpeg) and in YUV420P (the decoder's own frames, converted by the library), against the ffmpeg
 * command's path (raw rgb24 from the ffmpeg of this machine); and the async way with a grabber
 * that reuses its buffer: {@link StreamSegmenter} copies each frame once.
 */
class JavaCvIT {
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

  private static final int W = 320;
  private static final int H = 240;
  private static final int FRAMES = 6;

  /** A BT.601 H.264 clip (the colours JavaCV's BGR conversion assumes) and ffmpeg's labels for it. */
  private static Path clip() throws Exception {
    assumeTrue(YuvIT.hasFfmpeg(), "ffmpeg missing");
    Path video = tmp.resolve("clip.mp4");
    if (!Files.exists(video)) {
      Path source = TestModels.repoRoot().resolve("models/demo/samples/scene_4.jpg");
      YuvIT.ffmpeg(List.of("-loop", "1", "-i", source.toString(), "-vf",
          "scale=" + (W + 60) + ":" + (H + 40) + ",format=rgb24,crop=" + W + ":" + H + ":10*n:6*n,format=yuv420p",
          "-frames:v", String.valueOf(FRAMES), "-colorspace", "bt470bg", "-c:v", "libx264", "-crf", "22",
          video.toString()));
    }
    return video;
  }

  /** Labels of each frame the way the video command's BGR path gets them: ffmpeg decodes to RGB. */
  private static List<int[]> ffmpegLabels(Path video) throws Exception {
    Path rgb = tmp.resolve("clip.rgb");
    YuvIT.ffmpeg(List.of("-i", video.toString(), "-f", "rawvideo", "-pix_fmt", "rgb24", rgb.toString()));
    byte[] all = Files.readAllBytes(rgb);
    List<int[]> out = new ArrayList<>();
    try (Arena arena = Arena.ofConfined()) {
      ImageLayout layout = ImageLayout.packed(W, H, PixelFormat.RGB);
      for (int f = 0; f < all.length / (W * H * 3); f++) {
        MemorySegment px = arena.allocate(layout.byteSize());
        MemorySegment.copy(all, f * W * H * 3, px, ValueLayout.JAVA_BYTE, 0, W * H * 3);
        out.add(labels(new Frame(px, layout)));
      }
    }
    return out;
  }

  private static int[] labels(Frame frame) {
    try (Segmentation s = model.segment(frame, SegmentOptions.DEFAULTS.withLabelType(LabelType.I32))) {
      return s.labels().toArray(ValueLayout.JAVA_INT);
    }
  }

  private static double agreement(int[] a, int[] b) {
    long same = 0;
    for (int i = 0; i < a.length; i++) {
      same += a[i] == b[i] ? 1 : 0;
    }
    return (double) same / a.length;
  }

  /** A packed frame from JavaCV (BGR, its default): zero-copy over its direct buffer. */
  static Frame bgrFrame(org.bytedeco.javacv.Frame f) {
    MemorySegment pixels = MemorySegment.ofBuffer((ByteBuffer) f.image[0]);
    return new Frame(pixels, new ImageLayout(f.imageWidth, f.imageHeight, f.imageStride, PixelFormat.BGR));
  }

  /**
   * A JavaCV frame in the decoder's own YUV 4:2:0 ({@code setPixelFormat(AV_PIX_FMT_YUV420P)}:
   * no conversion, so {@code image[0]} holds only the Y plane) as a library frame, zero-copy: the
   * three planes of the decoder's AVFrame ({@code frame.opaque}), each with its own stride, and
   * the colours the decoder reports for the frame.
   */
  static Frame yuvFrame(org.bytedeco.javacv.Frame f) {
    AVFrame av = (AVFrame) f.opaque;
    int w = f.imageWidth;
    int h = f.imageHeight;
    int ch = (h + 1) / 2;
    MemorySegment y = MemorySegment.ofBuffer(av.data(0).capacity((long) av.linesize(0) * h).asByteBuffer());
    MemorySegment u = MemorySegment.ofBuffer(av.data(1).capacity((long) av.linesize(1) * ch).asByteBuffer());
    MemorySegment v = MemorySegment.ofBuffer(av.data(2).capacity((long) av.linesize(2) * ch).asByteBuffer());
    ColorMatrix matrix = switch (av.colorspace()) {
      case avutil.AVCOL_SPC_BT709 -> ColorMatrix.BT709;
      case avutil.AVCOL_SPC_BT2020_NCL, avutil.AVCOL_SPC_BT2020_CL -> ColorMatrix.BT2020;
      default -> ColorMatrix.BT601; // bt470bg, smpte170m, unspecified: ffmpeg's default too
    };
    ColorRange range = av.color_range() == avutil.AVCOL_RANGE_JPEG ? ColorRange.FULL : ColorRange.LIMITED;
    ImageLayout layout = ImageLayout.yuv(PixelFormat.I420, w, h, av.linesize(0), new Plane(0, av.linesize(1)),
        new Plane(0, av.linesize(2))).withColor(matrix, range);
    return Frame.ofPlanes(layout, y, u, v);
  }

  @Test
  void grabbedFramesSegmentZeroCopyLikeFfmpeg() throws Exception {
    Path video = clip();
    List<int[]> reference = ffmpegLabels(video);
    assertEquals(FRAMES, reference.size());
    for (PixelFormat format : List.of(PixelFormat.BGR, PixelFormat.I420)) {
      try (FFmpegFrameGrabber grabber = new FFmpegFrameGrabber(video.toFile())) {
        if (format == PixelFormat.I420) {
          grabber.setPixelFormat(avutil.AV_PIX_FMT_YUV420P); // the decoder's frames, no conversion
        }
        grabber.start();
        int n = 0;
        double worst = 1;
        for (org.bytedeco.javacv.Frame f; (f = grabber.grabImage()) != null; n++) {
          // zero-copy: the library reads JavaCV's (or its decoder's) memory
          Frame frame = format == PixelFormat.BGR ? bgrFrame(f) : yuvFrame(f);
          double same = agreement(reference.get(n), labels(frame));
          worst = Math.min(worst, same);
          if (format == PixelFormat.I420) { // the library converts as ffmpeg's command does
            assertArrayEquals(reference.get(n), labels(frame), "JavaCV YUV420P frame " + n);
          }
          assertTrue(same >= 0.999, format + " frame " + n + ": labels equal on " + same);
        }
        assertEquals(FRAMES, n);
        System.out.printf(Locale.ROOT, "JavaCvIT: JavaCV %s frames: labels equal to ffmpeg's path on >= %.4f%% of"
            + " the pixels%n", format == PixelFormat.BGR ? "BGR (its ffmpeg's conversion)" : "YUV420P (ours)", 100 * worst);
      }
    }
  }

  /** A grabber that reuses its buffer, segmented asynchronously: one copy per frame, same labels. */
  @Test
  void asyncWithAReusedBuffer() throws Exception {
    Path video = clip();
    List<int[]> reference = ffmpegLabels(video);
    List<CompletableFuture<int[]>> results = new ArrayList<>();
    try (FFmpegFrameGrabber grabber = new FFmpegFrameGrabber(video.toFile())) {
      grabber.setPixelFormat(avutil.AV_PIX_FMT_YUV420P);
      grabber.start();
      ImageLayout layout = new ImageLayout(grabber.getImageWidth(), grabber.getImageHeight(), grabber.getImageWidth(),
          PixelFormat.I420);
      try (StreamSegmenter stream = StreamSegmenter.open(model, layout, StreamSegmenter.Mode.EVERY_FRAME,
          SegmentOptions.DEFAULTS.withLabelType(LabelType.I32))) {
        for (org.bytedeco.javacv.Frame f; (f = grabber.grabImage()) != null; ) {
          // the decoder reuses its frames: submit copies the planes before it returns
          results.add(stream.submit(yuvFrame(f))
              .thenApply(r -> {
                try (r) {
                  return r.segmentation().labels().toArray(ValueLayout.JAVA_INT);
                }
              }));
        }
        stream.flush();
        assertEquals(FRAMES, stream.completed());
        assertEquals(0, stream.dropped());
      }
    }
    assertEquals(FRAMES, results.size());
    for (int n = 0; n < FRAMES; n++) {
      assertArrayEquals(reference.get(n), results.get(n).join(), "frame " + n);
    }
  }
}
