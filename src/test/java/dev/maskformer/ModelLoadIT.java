// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.images.Images;
import dev.maskformer.MaskFormer.Size;
import dev.maskformer.MaskFormerRuntime.RuntimeInfo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Loading real exports, and every way a model file can be wrong. */
class ModelLoadIT {
  private static long handlesBefore;

  @BeforeAll
  static void baseline() {
    handlesBefore = MaskFormerRuntime.liveNativeHandles();
  }

  @AfterAll
  static void noLeaks() {
    assertEquals(handlesBefore, MaskFormerRuntime.liveNativeHandles(), "native handles leaked");
  }

  @Test
  void metadataOfATinyExport() {
    try (MaskFormer m = MaskFormer.load(TestModels.tiny())) {
      ModelInfo i = m.info();
      assertEquals("test-tiny", i.variant());
      assertEquals(150, i.numClasses());
      assertEquals(12, i.numQueries());
      assertEquals("wall", i.classes().get(0).name());
      assertEquals("building, edifice", i.classes().get(1).name());
      assertEquals(0x787878, i.classes().get(0).rgb());
      assertEquals(0x06E6E6, i.classes().get(2).rgb());
      assertEquals(List.of(123.675, 116.28, 103.53), i.mean());
      assertEquals(List.of(58.395, 57.12, 57.375), i.std());
      assertEquals(512, i.resizeLong());
      assertEquals(128, i.resizeShort());
      assertEquals(Device.CPU, i.device());
      assertEquals(Precision.FP32, i.precision());
      assertTrue(i.metadataJson().contains("\"format\": \"maskformer-java\""));
      // the keep-ratio rule: short side to 128 unless the long side would pass 512
      assertEquals(new Size(171, 128), m.inputSize(640, 480));
      assertEquals(new Size(512, 64), m.inputSize(2000, 250));
    }
  }

  @ParameterizedTest
  @CsvSource({
    "empty.pt, MODEL_FORMAT, empty",
    "truncated.pt, MODEL_FORMAT, not a readable TorchScript archive",
    "text.pt, MODEL_FORMAT, not a readable TorchScript archive",
    "no-metadata.pt, MODEL_FORMAT, carries no maskformer.json",
    "bad-json.pt, MODEL_FORMAT, invalid JSON",
    "missing-field.pt, MODEL_FORMAT, missing field \"classes\"",
    "future-format.pt, MODEL_FORMAT, newer than this library",
    "wrong-outputs.pt, MODEL_FORMAT, does not keep the MaskFormer contract"
  })
  void brokenModelsGiveModelLoadException(String file, Status status, String text) {
    Path path = TestModels.bad(file);
    ModelLoadException e = assertThrows(ModelLoadException.class, () -> MaskFormer.load(path));
    assertEquals(status, e.status());
    assertTrue(e.getMessage().contains(text), e.getMessage());
    assertTrue(e.getMessage().startsWith("load failed: " + status), e.getMessage());
  }

  /** Out of memory inside the TorchScript interpreter is classified as such, not as INTERNAL. */
  @Test
  void aForwardThatRunsOutOfMemoryIsNativeOutOfMemory() throws Exception {
    var load = assertThrows(NativeOutOfMemoryException.class, () -> MaskFormer.load(TestModels.bad("greedy-always.pt")));
    assertEquals(Status.OUT_OF_MEMORY, load.status());
    assertTrue(load.getMessage().contains("out of memory"), load.getMessage());
    assertTrue(load.getMessage().length() < 1000, load.getMessage());
    try (MaskFormer m = MaskFormer.load(TestModels.bad("greedy-large.pt"))) {
      // 256 rows at its own size: the forward pass asks for 1 PiB
      var e = assertThrows(NativeOutOfMemoryException.class, () -> Images.segment(m, TestModels.image("scene_320x256"), SegmentOptions.DEFAULTS.withResize(false)).close());
      assertEquals(Status.OUT_OF_MEMORY, e.status());
      // and the model keeps working
      try (Segmentation s = Images.segment(m, TestModels.image("scene_97x61"), SegmentOptions.DEFAULTS.withResize(false))) {
        assertEquals(97 * 61, s.toIntArray().length);
      }
    }
  }

  @Test
  void missingFilesAndFoldersAreIoErrors() {
    ModelLoadException e = assertThrows(ModelLoadException.class,
        () -> MaskFormer.load(Path.of("/nonexistent/model.pt")));
    assertEquals(Status.IO, e.status());
    assertTrue(e.getMessage().contains("/nonexistent/model.pt"), e.getMessage());
    ModelLoadException dir = assertThrows(ModelLoadException.class,
        () -> MaskFormer.load(TestModels.dir()));
    assertEquals(Status.IO, dir.status());
  }

  @Test
  void unavailableDevicesAreReported() {
    if (MaskFormerRuntime.cudaDeviceCount() == 0) {
      var e = assertThrows(UnsupportedDeviceException.class, () -> MaskFormer.load(TestModels.tiny(),
          LoadOptions.DEFAULTS.withDevice(Device.cuda(0))));
      assertTrue(e.getMessage().contains("CUDA is not available"), e.getMessage());
    }
    var many = assertThrows(UnsupportedDeviceException.class, () -> MaskFormer.load(TestModels.tiny(),
        LoadOptions.DEFAULTS.withDevice(Device.cuda(63))));
    assertEquals(Status.UNSUPPORTED, many.status());
    var half = assertThrows(UnsupportedDeviceException.class, () -> MaskFormer.load(TestModels.tiny(),
        LoadOptions.DEFAULTS.withPrecision(Precision.FP16)));
    assertTrue(half.getMessage().contains("fp16 needs a CUDA device"), half.getMessage());
  }

  @Test
  void closeIsIdempotentAndLaterUseFails() throws Exception {
    MaskFormer m = MaskFormer.load(TestModels.tiny());
    m.close();
    m.close();
    var e = assertThrows(IllegalStateException.class, () -> m.inputSize(10, 10));
    assertTrue(e.getMessage().contains("closed"), e.getMessage());
    assertThrows(IllegalStateException.class, () -> Images.segment(m, TestModels.image("scene_97x61"), SegmentOptions.DEFAULTS));
    assertThrows(IllegalStateException.class, () -> m.warmup(new Size(8, 8)));
  }

  @Test
  void runtimeFacts() {
    RuntimeInfo r = MaskFormerRuntime.info();
    assertEquals(dev.maskformer.internal.NativeLibrary.EXPECTED_ABI, r.abiVersion());
    assertTrue(r.libtorchVersion().matches("\\d+\\.\\d+.*"), r.libtorchVersion());
    // ./maskformer test names the LibTorch each run must be on (2.x, then Debian's 1.13)
    String expected = System.getProperty("maskformer.expectLibtorch", "");
    if (!expected.isBlank()) {
      assertTrue(r.libtorchVersion().startsWith(expected + "."),
          "expected LibTorch " + expected + ", the shim runs on " + r.libtorchVersion());
    }
    assertTrue(r.cudaDevices() >= 0);
    assertInstanceOf(String.class, r.shimVersion());
    assertTrue(r.loadedFrom().contains(", found through ") && r.loadedFrom().contains("; shim "), r.loadedFrom());
  }
}
