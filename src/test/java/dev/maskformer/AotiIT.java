// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.images.Images;
import dev.maskformer.MaskFormer.Size;
import dev.maskformer.ModelInfo.ModelFormat;
import dev.maskformer.Output.LabelType;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * AOTInductor packages (.pt2): tiny.pt2 holds tiny.pt's weights compiled for the network size
 * 128x128 (models/fixtures.py). Parity with the TorchScript file and with the Python reference,
 * the explicit opt-in, and the errors for packages that cannot run here.
 */
class AotiIT {
  private static final SegmentOptions I32_SCORES =
      SegmentOptions.DEFAULTS.withLabelType(LabelType.I32).withScores(true);
  private static final LoadOptions TRUSTED = LoadOptions.DEFAULTS.withTrustedNativeCode(true);
  private static MaskFormer script;
  private static MaskFormer package_;

  static Path tinyPackage() {
    return TestModels.dir().resolve("tiny.pt2");
  }

  @BeforeAll
  static void load() {
    script = MaskFormer.load(TestModels.tiny());
    package_ = MaskFormer.load(tinyPackage(), TRUSTED);
  }

  @AfterAll
  static void close() {
    script.close();
    package_.close();
  }

  private static float[] scores(Segmentation s) {
    MemorySegment m = s.scores().orElseThrow();
    float[] out = new float[(int) (m.byteSize() / 4)];
    MemorySegment.copy(m, ValueLayout.JAVA_FLOAT, 0, out, 0, out.length);
    return out;
  }

  private static void assertParity(String what, int[] expected, float[] expectedScores, Segmentation got) {
    int[] labels = got.toIntArray();
    assertEquals(expected.length, labels.length, what);
    int same = 0;
    for (int i = 0; i < labels.length; i++) {
      same += labels[i] == expected[i] ? 1 : 0;
    }
    double agreement = (double) same / labels.length;
    float[] s = scores(got);
    assertEquals(expectedScores.length, s.length, what);
    double worst = 0;
    for (int i = 0; i < s.length; i++) {
      worst = Math.max(worst, Math.abs(s[i] - expectedScores[i]));
    }
    System.out.printf("aoti parity %s: labels %.6f, max |score difference| %.2e%n", what, agreement, worst);
    assertTrue(agreement >= 0.999, what + ": label agreement " + agreement);
    assertTrue(worst <= 1e-4, what + ": max |score difference| " + worst);
  }

  @Test
  void packageMatchesTorchScriptAndPythonReference() throws Exception {
    String image = "scene_128x128";
    assertEquals(new Size(128, 128), package_.inputSize(128, 128));
    try (Segmentation p = Images.segment(package_, TestModels.image(image), I32_SCORES);
        Segmentation t = Images.segment(script, TestModels.image(image), I32_SCORES)) {
      assertParity("pt2 vs pt", t.toIntArray(), scores(t), p);
      assertParity("pt2 vs Python", TestModels.goldenLabels("tiny", image),
          TestModels.goldenScores("tiny", image), p);
    }
    assertTrue(package_.info().metadataJson().contains("\"aoti\""));
    assertEquals(ModelFormat.AOTI, package_.format());
    assertEquals(ModelFormat.TORCHSCRIPT, script.format());
    assertEquals(script.info().classes(), package_.info().classes());
  }

  @Test
  void batchesOfOneSizeShareOneRunAndMatchSingleCalls() throws Exception {
    BufferedImage image = Images.readImage(TestModels.image("scene_128x128"));
    // a 256x256 frame has the network size 128x128 too (short side 128): a batch of two sizes
    BufferedImage big = new BufferedImage(256, 256, BufferedImage.TYPE_3BYTE_BGR);
    big.getGraphics().drawImage(image, 0, 0, 256, 256, null);
    try (Segmentation one = Images.segment(package_, image, I32_SCORES);
        Segmentation two = Images.segment(package_, big, I32_SCORES)) {
      List<Segmentation> batch;
      try (var a = java.lang.foreign.Arena.ofConfined()) {
        Frame f1 = Images.toFrame(image, a);
        Frame f2 = Images.toFrame(big, a);
        batch = package_.segment(List.of(f1, f2, f1), I32_SCORES);
      }
      try (Segmentation b0 = batch.get(0); Segmentation b1 = batch.get(1); Segmentation b2 = batch.get(2)) {
        assertParity("batch[0] vs single", one.toIntArray(), scores(one), b0);
        assertParity("batch[1] vs single", two.toIntArray(), scores(two), b1);
        assertParity("batch[2] vs single", one.toIntArray(), scores(one), b2);
      }
    }
  }

  @Test
  void concurrentCallsOnOnePackageGiveTheSameLabels() throws Exception {
    int[] expected;
    try (Segmentation s = Images.segment(package_, TestModels.image("scene_128x128"), SegmentOptions.DEFAULTS)) {
      expected = s.toIntArray();
    }
    var pool = java.util.concurrent.Executors.newFixedThreadPool(4);
    try {
      List<java.util.concurrent.Future<int[]>> runs = new java.util.ArrayList<>();
      for (int i = 0; i < 8; i++) {
        runs.add(pool.submit(() -> {
          try (Segmentation s = Images.segment(package_, TestModels.image("scene_128x128"), SegmentOptions.DEFAULTS)) {
            return s.toIntArray();
          }
        }));
      }
      for (var run : runs) {
        org.junit.jupiter.api.Assertions.assertArrayEquals(expected, run.get());
      }
    } finally {
      pool.shutdown();
    }
  }

  @Test
  void aNetworkSizeOutsideThePackageIsAClearError() {
    // 97x61 resizes to 204x128 under the tiny model's rule: not compiled into the package
    var e = assertThrows(IllegalArgumentException.class,
        () -> Images.segment(package_, TestModels.image("scene_97x61"), SegmentOptions.DEFAULTS).close());
    assertTrue(e.getMessage().contains("204x128") && e.getMessage().contains("128x128")
        && e.getMessage().contains("--sizes"), e.getMessage());
    // and the model stays usable
    try (Segmentation s = Images.segment(package_, TestModels.image("scene_128x128"), SegmentOptions.DEFAULTS)) {
      assertEquals(128 * 128, s.toIntArray().length);
    } catch (java.io.IOException io) {
      throw new AssertionError(io);
    }
  }

  @Test
  void loadingAPackageNeedsTheExplicitOptIn(@TempDir Path dir) throws Exception {
    long before = MaskFormerRuntime.liveNativeHandles();
    var e = assertThrows(ModelLoadException.class, () -> MaskFormer.load(tinyPackage()));
    assertTrue(e.getMessage().contains("runs that native code")
        && e.getMessage().contains("withTrustedNativeCode(true)"), e.getMessage());
    // renaming does not help: the format is read from the content, not the name
    Path renamed = Files.copy(tinyPackage(), dir.resolve("innocent.pt"));
    var r = assertThrows(ModelLoadException.class, () -> MaskFormer.load(renamed));
    assertTrue(r.getMessage().contains("AOTInductor package"), r.getMessage());
    assertEquals(before, MaskFormerRuntime.liveNativeHandles());
  }

  @Test
  void packagesThatCannotRunHereAreRefusedBeforeTheirCodeRuns() {
    var cuda = assertThrows(UnsupportedDeviceException.class,
        () -> MaskFormer.load(TestModels.bad("cuda.pt2"), TRUSTED));
    assertTrue(cuda.getMessage().contains("compiled for cuda"), cuda.getMessage());
    var bf16 = assertThrows(UnsupportedDeviceException.class,
        () -> MaskFormer.load(tinyPackage(), TRUSTED.withPrecision(Precision.BF16)));
    assertTrue(bf16.getMessage().contains("compiled for fp32") || bf16.getMessage().contains("bf16 on the CPU"),
        bf16.getMessage());
    var future = assertThrows(ModelLoadException.class,
        () -> MaskFormer.load(TestModels.bad("future-torch.pt2"), TRUSTED));
    assertTrue(future.getMessage().contains("torch 99.0") && future.getMessage().contains("newer than this LibTorch"),
        future.getMessage());
    var none = assertThrows(ModelLoadException.class,
        () -> MaskFormer.load(TestModels.bad("no-metadata.pt2"), TRUSTED));
    assertTrue(none.getMessage().contains("carries no maskformer.json"), none.getMessage());
    var cut = assertThrows(ModelLoadException.class,
        () -> MaskFormer.load(TestModels.bad("truncated.pt2"), TRUSTED));
    assertTrue(cut.getMessage().contains("nor a readable AOTInductor package"), cut.getMessage());
  }

  @Test
  void torchScriptLoadsWhetherOrNotNativeCodeIsTrusted() {
    try (MaskFormer m = MaskFormer.load(TestModels.tiny(), TRUSTED)) {
      assertEquals(script.numClasses(), m.numClasses());
    }
  }
}
