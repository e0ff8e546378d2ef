// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** A shim that cannot be loaded is a clear error naming every place tried, in a fresh JVM. */
class LoaderIT {
  record Run(int code, String output) {}

  /** `maskformer info` in a fresh JVM with these system properties and environment variables. */
  static Run info(List<String> properties, Map<String, String> env) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "--enable-native-access=ALL-UNNAMED"));
    cmd.addAll(properties);
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "info"));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().putAll(env);
    Process p = pb.start();
    String output = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(2, TimeUnit.MINUTES));
    return new Run(p.exitValue(), output);
  }

  @Test
  void missingLibraryNamesWhatWasTried() throws Exception {
    Run r = info(List.of("-Dmaskformer.library=/nonexistent/libmaskformer.so"), Map.of());
    assertEquals(1, r.code(), r.output());
    assertTrue(r.output().contains("could not load the maskformer native library"), r.output());
    assertTrue(r.output().contains("/nonexistent/libmaskformer.so does not exist"), r.output());
    assertTrue(r.output().contains("./maskformer setup"), r.output());
  }

  @Test
  void anotherLibtorchOnTheLibraryPathIsRefused() throws Exception {
    // Debian's 1.13 first on LD_LIBRARY_PATH, under a shim built against another LibTorch: the
    // loader must refuse it (unresolved symbols or the version check), not run on it
    Path debian = Path.of("/usr/lib/x86_64-linux-gnu");
    assumeTrue(Files.exists(debian.resolve("libtorch_cpu.so")), "no Debian LibTorch");
    assumeFalse(dev.maskformer.MaskFormer.runtime().libtorchVersion().startsWith("1.13"),
        "the shim is the 1.13 build itself");
    String shim = System.getProperty("maskformer.library", "");
    Run r = info(shim.isBlank() ? List.of() : List.of("-Dmaskformer.library=" + shim),
        Map.of("LD_LIBRARY_PATH", debian.toString()));
    assertEquals(1, r.code(), r.output());
    assertTrue(r.output().contains("could not load the maskformer native library"), r.output());
  }

  @Test
  void aFileThatIsNoLibraryIsReported() throws Exception {
    File notALibrary = File.createTempFile("libmaskformer", ".so");
    notALibrary.deleteOnExit();
    Files.writeString(notALibrary.toPath(), "not an ELF file");
    Run r = info(List.of(), Map.of("MASKFORMER_LIBRARY", notALibrary.getPath()));
    assertEquals(1, r.code(), r.output());
    assertTrue(r.output().contains("environment variable MASKFORMER_LIBRARY"), r.output());
    // the loader's message is not repeated with the path in front of it each time
    assertTrue(r.output().split(java.util.regex.Pattern.quote(notALibrary.getPath()), -1).length <= 3, r.output());
  }
}
