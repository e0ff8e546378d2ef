// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import dev.maskformer.RuntimeInfo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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
    assertTrue(r.output().contains("system property maskformer.library=/nonexistent/libmaskformer.so: does not exist"),
        r.output());
    assertTrue(r.output().contains("Shims on the class path"), r.output());
  }

  @Test
  void anotherLibtorchOnTheLibraryPathDoesNotReplaceTheOneFound() throws Exception {
    // Debian's 1.13 first on LD_LIBRARY_PATH: the libraries are loaded by absolute path from the
    // LibTorch the search found, so the shim runs on that one, not on whatever the path offers
    Path debian = Path.of("/usr/lib/x86_64-linux-gnu");
    assumeTrue(Files.exists(debian.resolve("libtorch_cpu.so")), "no Debian LibTorch");
    RuntimeInfo here = dev.maskformer.MaskFormer.runtime();
    assumeFalse(here.libtorchVersion().startsWith("1.13"), "the shim is the 1.13 build itself");
    String shim = System.getProperty("maskformer.library", "");
    Run r = info(shim.isBlank() ? List.of() : List.of("-Dmaskformer.library=" + shim),
        Map.of("LD_LIBRARY_PATH", debian.toString()));
    assertEquals(0, r.code(), r.output());
    assertTrue(r.output().contains("from " + here.libtorchFile()), r.output());
  }

  @Test
  void noLibtorchWhereTheSettingPointsIsAClearError(@TempDir Path empty) throws Exception {
    Run r = info(List.of("-Dmaskformer.libtorch=" + empty), Map.of());
    assertEquals(1, r.code(), r.output());
    assertTrue(r.output().contains("system property maskformer.libtorch=" + empty + ": no libtorch_cpu.so"), r.output());
    assertFalse(r.output().contains("UnsatisfiedLinkError"), r.output());
    // an explicit setting is used alone: nothing else was tried
    assertFalse(r.output().contains("  - python3 on the PATH"), r.output());
  }

  @Test
  void aShimOfAnotherVersionIsRefused(@TempDir Path tmp) throws Exception {
    // a native jar of version 0.0.1 first on the class path, for the LibTorch in use
    String classifier = dev.maskformer.internal.NativeLibraryAccess.loadedClassifier();
    assumeTrue(classifier != null, "the shim in use came from maskformer.library, not the class path");
    Path jar = tmp.resolve("maskformer-native-0.0.1-" + classifier + ".jar");
    try (var out = new java.util.jar.JarOutputStream(Files.newOutputStream(jar))) {
      String dir = "dev/maskformer/native/" + classifier + "/";
      out.putNextEntry(new java.util.jar.JarEntry(dir + "libmaskformer.so"));
      out.write(Files.readAllBytes(dev.maskformer.internal.NativeLibraryAccess.loadedShim()));
      out.putNextEntry(new java.util.jar.JarEntry(dir + "libmaskformer.properties"));
      out.write(("version=0.0.1\nabi=" + dev.maskformer.internal.NativeLibrary.EXPECTED_ABI + "\nclassifier="
          + classifier + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "--enable-native-access=ALL-UNNAMED",
        "-cp", jar + File.pathSeparator + System.getProperty("java.class.path"), Main.class.getName(), "info"));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(2, TimeUnit.MINUTES));
    assertEquals(1, p.exitValue(), output);
    assertTrue(output.contains("is of maskformer-java 0.0.1, this jar is " + dev.maskformer.internal.NativeLibrary.version()),
        output);
  }

  @Test
  void aFileThatIsNoLibraryIsReported() throws Exception {
    File notALibrary = File.createTempFile("libmaskformer", ".so");
    notALibrary.deleteOnExit();
    Files.writeString(notALibrary.toPath(), "not an ELF file");
    Run r = info(List.of(), Map.of("MASKFORMER_LIBRARY", notALibrary.getPath()));
    assertEquals(1, r.code(), r.output());
    assertTrue(r.output().contains("MASKFORMER_LIBRARY=" + notALibrary.getPath()), r.output());
    assertFalse(r.output().contains("UnsatisfiedLinkError"), r.output());
    // the loader's message is not repeated with the path in front of it each time
    assertTrue(r.output().split(java.util.regex.Pattern.quote(notALibrary.getPath()), -1).length <= 4, r.output());
  }
}
