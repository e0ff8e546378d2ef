// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.images.Images;
import dev.maskformer.MaskFormer.Size;
import dev.maskformer.Output.LabelType;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.awt.image.BufferedImage;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Labels and scores from Java agree with an independent computation in Python (OpenCV resize,
 * torch.jit.load of the same file; models/fixtures.py) and do not depend on how pixels are laid
 * out in memory.
 */
class ParityIT {
  private static MaskFormer tiny;
  private static MaskFormer k300;

  @BeforeAll
  static void load() {
    tiny = MaskFormer.load(TestModels.tiny());
    k300 = MaskFormer.load(TestModels.tinyK300());
    // every comparison below on the network the models keep (BackgroundRewritesIT: before it)
    tiny.awaitCpuRewrites();
    k300.awaitCpuRewrites();
  }

  @AfterAll
  static void close() {
    tiny.close();
    k300.close();
  }

  @ParameterizedTest
  @ValueSource(strings = {"scene_97x61", "scene_320x256", "scene_333x517", "scene_640x480", "scene_128x128"})
  void agreesWithPythonReference(String image) throws Exception {
    for (String name : new String[] {"tiny", "tiny-k300"}) {
      MaskFormer model = name.equals("tiny") ? tiny : k300;
      int[] expected = TestModels.goldenLabels(name, image);
      float[] expectedScores = TestModels.goldenScores(name, image);
      try (Segmentation s = Images.segment(model, TestModels.image(image), SegmentOptions.DEFAULTS.withLabelType(LabelType.I32).withScores(true))) {
        int[] labels = s.toIntArray();
        assertEquals(expected.length, labels.length);
        int same = 0;
        for (int i = 0; i < labels.length; i++) {
          same += labels[i] == expected[i] ? 1 : 0;
        }
        double agreement = (double) same / labels.length;
        assertTrue(agreement >= 0.999, name + " " + image + ": label agreement " + agreement);
        if (expectedScores == null) {
          System.out.printf("parity %s %s on LibTorch %s: labels %.6f%n", name, image,
              MaskFormerRuntime.info().libtorchVersion(), agreement);
          continue; // large image: labels only
        }
        float[] scores = new float[expectedScores.length];
        MemorySegment.copy(s.scores().orElseThrow(), ValueLayout.JAVA_FLOAT, 0, scores, 0, scores.length);
        double worst = 0;
        for (int i = 0; i < scores.length; i++) {
          worst = Math.max(worst, Math.abs(scores[i] - expectedScores[i]));
        }
        System.out.printf("parity %s %s on LibTorch %s: labels %.6f, max |score difference| %.2e%n",
            name, image, MaskFormerRuntime.info().libtorchVersion(), agreement, worst);
        assertTrue(worst <= 1e-4, name + " " + image + ": max |score difference| " + worst);
      }
    }
  }

  /**
   * tiny-k300's pixel decoder is 384 channels wide: its 3x3 convolutions run as Winograd
   * (agreesWithPythonReference holds them to the same 1e-4 of Python's scores as the rest).
   */
  @Test
  void theWideDecoderRunsItsConvolutionsAsWinograd() {
    String rewrites = k300.info().cpuRewrites();
    assumeFalse(rewrites.contains(": 0 linear"),
        "this LibTorch has no oneDNN pointwise operators (Debian's 1.13): nothing is rewritten");
    assertTrue(rewrites.matches(".*, [1-9][0-9]* conv as Winograd \\([0-9]+ with ReLU\\).*"), rewrites);
    assertTrue(!tiny.info().cpuRewrites().contains("as Winograd") || tiny.info().cpuRewrites().contains(" 0 conv as Winograd"),
        "tiny's 32-channel convolutions stay direct: " + tiny.info().cpuRewrites());
  }

  /**
   * A network whose rewritten form fails the load's test forward pass (a convolution on an
   * unbatched input, which oneDNN's fused convolution refuses) runs as exported instead, says why,
   * and computes what the module as exported computes.
   */
  @Test
  void aRewriteThatFailsItsFirstRunFallsBackToTheExportedModule() throws Exception {
    assumeFalse(tiny.info().cpuRewrites().contains(": 0 linear"),
        "this LibTorch has no oneDNN pointwise operators (Debian's 1.13): nothing is rewritten, nothing falls back");
    try (MaskFormer fallback = MaskFormer.load(TestModels.bad("unbatched-conv.pt"),
             LoadOptions.DEFAULTS.withCpuRewrites(CpuRewrites.AT_LOAD));
         MaskFormer plain = MaskFormer.load(TestModels.bad("unbatched-conv.pt"), LoadOptions.DEFAULTS.withCpuRewrites(false))) {
      String rewrites = fallback.info().cpuRewrites();
      assertTrue(rewrites.startsWith("none (the rewritten network failed the test forward pass: ")
          && rewrites.contains("channels_last"), rewrites);
      SegmentOptions options = SegmentOptions.DEFAULTS.withLabelType(LabelType.I32).withScores(true);
      try (Segmentation a = Images.segment(fallback, TestModels.image("scene_128x128"), options);
           Segmentation b = Images.segment(plain, TestModels.image("scene_128x128"), options)) {
        assertArrayEquals(b.toIntArray(), a.toIntArray());
        long n = a.scores().orElseThrow().byteSize() / Float.BYTES;
        for (long i = 0; i < n; i++) {
          assertEquals(b.scores().orElseThrow().getAtIndex(ValueLayout.JAVA_FLOAT, i),
              a.scores().orElseThrow().getAtIndex(ValueLayout.JAVA_FLOAT, i), "score " + i);
        }
      }
    }
  }

  /**
   * With the load-time rewrites off the module runs as exported, says so in its info, and agrees
   * with Python and with the rewritten module.
   */
  @Test
  void withoutCpuRewritesTheExportedModuleRunsAndAgrees() throws Exception {
    assertTrue(tiny.info().cpuRewrites().startsWith("freeze"), tiny.info().cpuRewrites());
    try (MaskFormer plain = MaskFormer.load(TestModels.tiny(), LoadOptions.DEFAULTS.withCpuRewrites(false))) {
      assertEquals("none (turned off in the load options)", plain.info().cpuRewrites());
      SegmentOptions options = SegmentOptions.DEFAULTS.withLabelType(LabelType.I32).withScores(true);
      for (String image : new String[] {"scene_97x61", "scene_128x128"}) {
        float[] golden = TestModels.goldenScores("tiny", image);
        try (Segmentation a = Images.segment(plain, TestModels.image(image), options);
             Segmentation b = Images.segment(tiny, TestModels.image(image), options)) {
          float[] sa = new float[golden.length];
          float[] sb = new float[golden.length];
          MemorySegment.copy(a.scores().orElseThrow(), ValueLayout.JAVA_FLOAT, 0, sa, 0, sa.length);
          MemorySegment.copy(b.scores().orElseThrow(), ValueLayout.JAVA_FLOAT, 0, sb, 0, sb.length);
          double toPython = 0;
          double toRewritten = 0;
          for (int i = 0; i < golden.length; i++) {
            toPython = Math.max(toPython, Math.abs(sa[i] - golden[i]));
            toRewritten = Math.max(toRewritten, Math.abs(sa[i] - sb[i]));
          }
          assertTrue(toPython <= 1e-4, image + ": plain module vs Python " + toPython);
          assertTrue(toRewritten <= 1e-4, image + ": plain vs rewritten module " + toRewritten);
          int[] expected = TestModels.goldenLabels("tiny", image);
          int[] labels = a.toIntArray();
          int same = 0;
          for (int i = 0; i < labels.length; i++) {
            same += labels[i] == expected[i] ? 1 : 0;
          }
          assertTrue(same >= 0.999 * labels.length, image + ": label agreement " + same + "/" + labels.length);
        }
      }
    }
  }

  /** The packed formats; YUV frames against ffmpeg's RGB are YuvIT's. */
  @ParameterizedTest
  @EnumSource(value = PixelFormat.class, names = {"RGB", "BGR", "RGBA", "BGRA"})
  void pixelFormatsAndPaddedRowsGiveTheSameLabels(PixelFormat format) throws Exception {
    BufferedImage image = Images.readImage(TestModels.image("scene_333x517"));
    int w = image.getWidth();
    int h = image.getHeight();
    int[] expected = TestModels.goldenLabels("tiny", "scene_333x517");
    int c = format.channels();
    long stride = (long) w * c + 37; // odd padding, as some decoders produce
    try (Arena arena = Arena.ofConfined()) {
      ImageLayout layout = new ImageLayout(w, h, stride, format);
      MemorySegment pixels = arena.allocate(layout.byteSize());
      int[] argb = image.getRGB(0, 0, w, h, null, 0, w);
      for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
          int p = argb[y * w + x];
          byte r = (byte) (p >> 16);
          byte g = (byte) (p >> 8);
          byte b = (byte) p;
          long at = y * stride + (long) x * c;
          boolean bgr = format == PixelFormat.BGR || format == PixelFormat.BGRA;
          pixels.set(ValueLayout.JAVA_BYTE, at, bgr ? b : r);
          pixels.set(ValueLayout.JAVA_BYTE, at + 1, g);
          pixels.set(ValueLayout.JAVA_BYTE, at + 2, bgr ? r : b);
          if (c == 4) {
            pixels.set(ValueLayout.JAVA_BYTE, at + 3, (byte) 0x5A);
          }
        }
      }
      MemorySegment labels = arena.allocate(layout.pixels());
      tiny.segment(new Frame(pixels, layout), Output.labels(labels, LabelType.U8));
      int[] got = new int[expected.length];
      for (int i = 0; i < got.length; i++) {
        got[i] = Byte.toUnsignedInt(labels.get(ValueLayout.JAVA_BYTE, i));
      }
      assertArrayEquals(expected, got, format.toString());
    }
  }

  @Test
  void bufferedImagesFilesAndLabelTypesAgree() throws Exception {
    BufferedImage image = Images.readImage(TestModels.image("scene_320x256"));
    BufferedImage intRgb = new BufferedImage(image.getWidth(), image.getHeight(), BufferedImage.TYPE_INT_RGB);
    intRgb.getGraphics().drawImage(image, 0, 0, null);
    BufferedImage abgr = new BufferedImage(image.getWidth(), image.getHeight(), BufferedImage.TYPE_4BYTE_ABGR);
    abgr.getGraphics().drawImage(image, 0, 0, null);
    BufferedImage grey = new BufferedImage(image.getWidth(), image.getHeight(), BufferedImage.TYPE_BYTE_GRAY);
    grey.getGraphics().drawImage(image, 0, 0, null);
    int[] expected = TestModels.goldenLabels("tiny", "scene_320x256");
    try (Segmentation a = Images.segment(tiny, image, SegmentOptions.DEFAULTS);
        Segmentation b = Images.segment(tiny, intRgb, SegmentOptions.DEFAULTS);
        Segmentation c = Images.segment(tiny, abgr, SegmentOptions.DEFAULTS);
        Segmentation d = Images.segment(tiny, TestModels.image("scene_320x256"), SegmentOptions.DEFAULTS);
        Segmentation e = Images.segment(tiny, image, SegmentOptions.DEFAULTS.withLabelType(LabelType.I32));
        Segmentation g = Images.segment(tiny, grey, SegmentOptions.DEFAULTS)) {
      assertEquals(LabelType.U8, a.labelType());
      assertArrayEquals(expected, a.toIntArray());
      assertArrayEquals(expected, b.toIntArray());
      assertArrayEquals(expected, c.toIntArray());
      assertArrayEquals(expected, d.toIntArray());
      assertArrayEquals(expected, e.toIntArray());
      assertEquals(expected[5 * 320 + 7], a.label(7, 5));
      // a grey image is segmented as the RGB image whose three channels are its grey values
      byte[] greyValues = ((java.awt.image.DataBufferByte) grey.getRaster().getDataBuffer()).getData();
      assertEquals(image.getWidth() * image.getHeight(), greyValues.length);
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment rgb = arena.allocate(3L * greyValues.length);
        for (int i = 0; i < greyValues.length; i++) {
          for (int k = 0; k < 3; k++) {
            rgb.set(ValueLayout.JAVA_BYTE, 3L * i + k, greyValues[i]);
          }
        }
        try (Segmentation byHand = tiny.segment(Frame.of(rgb, image.getWidth(), image.getHeight(), PixelFormat.RGB))) {
          assertEquals(image.getWidth(), g.width());
          assertEquals(image.getHeight(), g.height());
          assertArrayEquals(byHand.toIntArray(), g.toIntArray(), "grey image");
          long differ = 0;
          int[] colour = a.toIntArray();
          int[] greyLabels = g.toIntArray();
          for (int i = 0; i < colour.length; i++) {
            differ += colour[i] != greyLabels[i] ? 1 : 0;
          }
          assertTrue(differ > 0, "the grey image gave the colour image's labels: its pixels were not grey");
        }
      }
    }
  }

  @Test
  void batchesMixSizesAndMatchSingleCalls() throws Exception {
    List<Frame> frames = new ArrayList<>();
    List<int[]> expected = new ArrayList<>();
    try (Arena arena = Arena.ofConfined()) {
      for (String image : new String[] {"scene_320x256", "scene_97x61", "scene_320x256", "scene_640x480"}) {
        frames.add(Images.read(TestModels.image(image), arena));
        expected.add(TestModels.goldenLabels("tiny", image));
      }
      List<Segmentation> results = tiny.segment(frames, SegmentOptions.DEFAULTS);
      try {
        for (int i = 0; i < frames.size(); i++) {
          assertArrayEquals(expected.get(i), results.get(i).toIntArray(), "frame " + i);
        }
      } finally {
        results.forEach(Segmentation::close);
      }
    }
  }

  @Test
  void k300ModelsNeedInt32Labels() throws Exception {
    try (Segmentation s = Images.segment(k300, TestModels.image("scene_97x61"), SegmentOptions.DEFAULTS)) {
      assertEquals(LabelType.I32, s.labelType());
      assertArrayEquals(TestModels.goldenLabels("tiny-k300", "scene_97x61"), s.toIntArray());
    }
  }

  @Test
  void withoutResizeTheNetworkSeesTheFrameAsItIs() throws Exception {
    // the tiny model's rule (short side 128, long side <= 512) halves 320x256; 160x128 it keeps
    assertEquals(new Size(160, 128), tiny.inputSize(320, 256));
    assertEquals(new Size(160, 128), tiny.inputSize(160, 128));
    Path file = TestModels.image("scene_320x256");
    SegmentOptions off = SegmentOptions.DEFAULTS.withResize(false).withScores(true);
    try (Segmentation resized = Images.segment(tiny, file, SegmentOptions.DEFAULTS.withScores(true));
        Segmentation asIs = Images.segment(tiny, file, off);
        Arena arena = Arena.ofConfined()) {
      // with the rule: Python's reference, which resizes
      assertArrayEquals(TestModels.goldenLabels("tiny", "scene_320x256"), resized.toIntArray());
      // without it the network saw 320x256, not 160x128: other scores, and labels at the frame's size
      assertEquals(320, asIs.width());
      assertEquals(256, asIs.height());
      float[] a = resized.scores().orElseThrow().toArray(ValueLayout.JAVA_FLOAT);
      float[] b = asIs.scores().orElseThrow().toArray(ValueLayout.JAVA_FLOAT);
      double worst = 0;
      for (int i = 0; i < a.length; i++) {
        worst = Math.max(worst, Math.abs(a[i] - b[i]));
      }
      assertTrue(worst > 1e-3, "resize on and off gave the same scores (max difference " + worst + ")");
      // the zero-copy batch call honours the flag the same way
      Frame frame = Images.read(file, arena);
      MemorySegment labels = arena.allocate(320 * 256 * 4, 4);
      tiny.segment(List.of(frame), List.of(Output.labels(labels, LabelType.I32)), SegmentOptions.DEFAULTS.withResize(false));
      assertArrayEquals(asIs.toIntArray(), labels.toArray(ValueLayout.JAVA_INT));
    }
    // where the rule changes nothing, on and off are the same computation
    try (Segmentation on = Images.segment(tiny, TestModels.image("scene_128x128"), SegmentOptions.DEFAULTS);
        Segmentation offSame = Images.segment(tiny, TestModels.image("scene_128x128"), SegmentOptions.DEFAULTS.withResize(false))) {
      assertEquals(new Size(128, 128), tiny.inputSize(128, 128));
      assertArrayEquals(on.toIntArray(), offSame.toIntArray());
    }
  }
}
