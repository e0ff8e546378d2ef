// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** A shim that cannot be loaded is a clear error naming every place tried, in a fresh JVM. */
class LoaderIT {
  @Test
  void missingLibraryNamesWhatWasTried() throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder pb = new ProcessBuilder(List.of(java, "--enable-native-access=ALL-UNNAMED",
        "-Dmaskformer.library=/nonexistent/libmaskformer.so", "-cp",
        System.getProperty("java.class.path"), Main.class.getName(), "info"));
    pb.redirectErrorStream(true);
    Process p = pb.start();
    String output = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(2, TimeUnit.MINUTES));
    assertEquals(1, p.exitValue(), output);
    assertTrue(output.contains("could not load the maskformer native library"), output);
    assertTrue(output.contains("/nonexistent/libmaskformer.so does not exist"), output);
    assertTrue(output.contains("./maskformer setup"), output);
  }

  @Test
  void anotherLibtorchOnTheLibraryPathIsRefused() throws Exception {
    // Debian's 1.13 first on LD_LIBRARY_PATH, under a shim built against another LibTorch: the
    // loader must refuse it (unresolved symbols or the version check), not run on it
    Path debian = Path.of("/usr/lib/x86_64-linux-gnu");
    assumeTrue(java.nio.file.Files.exists(debian.resolve("libtorch_cpu.so")), "no Debian LibTorch");
    assumeFalse(dev.maskformer.MaskFormer.runtime().libtorchVersion().startsWith("1.13"),
        "the shim is the 1.13 build itself");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> cmd = new java.util.ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED"));
    String shim = System.getProperty("maskformer.library", "");
    if (!shim.isBlank()) {
      cmd.add("-Dmaskformer.library=" + shim);
    }
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "info"));
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().put("LD_LIBRARY_PATH", debian.toString());
    pb.redirectErrorStream(true);
    Process p = pb.start();
    String output = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(2, TimeUnit.MINUTES));
    assertEquals(1, p.exitValue(), output);
    assertTrue(output.contains("could not load the maskformer native library"), output);
  }

  @Test
  void aFileThatIsNoLibraryIsReported() throws Exception {
    File notALibrary = File.createTempFile("libmaskformer", ".so");
    notALibrary.deleteOnExit();
    java.nio.file.Files.writeString(notALibrary.toPath(), "not an ELF file");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder pb = new ProcessBuilder(List.of(java, "--enable-native-access=ALL-UNNAMED",
        "-cp", System.getProperty("java.class.path"), Main.class.getName(), "info"));
    pb.environment().put("MASKFORMER_LIBRARY", notALibrary.getPath());
    pb.redirectErrorStream(true);
    Process p = pb.start();
    String output = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(2, TimeUnit.MINUTES));
    assertEquals(1, p.exitValue(), output);
    assertTrue(output.contains("environment variable MASKFORMER_LIBRARY"), output);
  }
}
