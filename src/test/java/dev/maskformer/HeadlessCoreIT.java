// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.maskformer.Output.LabelType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The API package needs no AWT: a JVM limited to java.base (no java.desktop, as a jlink image of
 * a headless service) loads a model, segments a frame and reads the runtime; only
 * dev.maskformer.images would need java.desktop.
 */
class HeadlessCoreIT {
  /** Runs in the limited JVM: args[0] is the model. */
  public static void main(String[] args) throws Exception {
    try {
      Class.forName("java.awt.image.BufferedImage");
      System.out.println("java.desktop present");
    } catch (ClassNotFoundException e) {
      System.out.println("no java.desktop");
    }
    try (MaskFormer model = MaskFormer.load(Path.of(args[0])); Arena arena = Arena.ofConfined()) {
      ImageLayout layout = new ImageLayout(64, 48, 64 * 3, PixelFormat.RGB);
      MemorySegment pixels = arena.allocate(layout.byteSize());
      MemorySegment labels = arena.allocate(layout.pixels());
      model.segment(new Frame(pixels, layout), Output.labels(labels, LabelType.U8));
      try (Segmentation s = model.segment(new Frame(pixels, layout))) {
        System.out.println("segmented " + s.width() + "x" + s.height() + " on " + MaskFormerRuntime.info().libtorchVersion());
      }
    }
  }

  @Test
  void theApiRunsWithoutJavaDesktop() throws Exception {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--limit-modules", "java.base", "--enable-native-access=ALL-UNNAMED"));
    String libtorch = System.getProperty("maskformer.libtorch", "");
    if (!libtorch.isBlank()) {
      cmd.add("-Dmaskformer.libtorch=" + libtorch);
    }
    String library = System.getProperty("maskformer.library", "");
    if (!library.isBlank()) {
      cmd.add("-Dmaskformer.library=" + library);
    }
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), HeadlessCoreIT.class.getName(),
        TestModels.tiny().toString()));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(2, TimeUnit.MINUTES));
    assertEquals(0, p.exitValue(), out);
    assertTrue(out.contains("no java.desktop"), out);
    assertTrue(out.contains("segmented 64x48 on "), out);
  }
}
