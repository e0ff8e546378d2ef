// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.cli;

import dev.maskformer.MaskFormerRuntime;
import dev.maskformer.MaskFormerRuntime.RuntimeInfo;
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
    cmd.addAll(sameLibtorch(properties, env));
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "info"));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().putAll(env);
    Process p = pb.start();
    String output = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(2, TimeUnit.MINUTES));
    return new Run(p.exitValue(), output);
  }

  /**
   * This JVM's LibTorch setting for a child that sets none itself, so that it finds the same
   * LibTorch whatever the PATH of the test run holds.
   */
  static List<String> sameLibtorch(List<String> properties, Map<String, String> env) {
    String libtorch = System.getProperty("maskformer.libtorch", "");
    boolean set = env.containsKey("LIBTORCH_HOME") || properties.stream().anyMatch(p -> p.startsWith("-Dmaskformer.libtorch="));
    return libtorch.isBlank() || set ? List.of() : List.of("-Dmaskformer.libtorch=" + libtorch);
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
    RuntimeInfo here = dev.maskformer.MaskFormerRuntime.info();
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
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "--enable-native-access=ALL-UNNAMED"));
    cmd.addAll(sameLibtorch(List.of(), Map.of()));
    cmd.addAll(List.of("-cp", jar + File.pathSeparator + System.getProperty("java.class.path"), Main.class.getName(), "info"));
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

  /**
   * A shim from a jar (as users get it) is extracted to the cache folder; a later JVM reuses the
   * copy; a copy whose bytes were changed (same size) is written again before it is loaded.
   */
  @Test
  void aShimFromAJarIsExtractedAndADamagedCopyReplaced(@TempDir Path tmp) throws Exception {
    String classifier = dev.maskformer.internal.NativeLibraryAccess.loadedClassifier();
    assumeTrue(classifier != null, "the shim in use came from maskformer.library, not the class path");
    String version = dev.maskformer.internal.NativeLibrary.version();
    byte[] shim = Files.readAllBytes(dev.maskformer.internal.NativeLibraryAccess.loadedShim());
    Path jar = tmp.resolve("maskformer-native-" + version + "-" + classifier + ".jar");
    try (var out = new java.util.jar.JarOutputStream(Files.newOutputStream(jar))) {
      String dir = "dev/maskformer/native/" + classifier + "/";
      out.putNextEntry(new java.util.jar.JarEntry(dir + "libmaskformer.so"));
      out.write(shim);
      out.putNextEntry(new java.util.jar.JarEntry(dir + "libmaskformer.properties"));
      out.write(("version=" + version + "\nabi=" + dev.maskformer.internal.NativeLibrary.EXPECTED_ABI
          + "\nclassifier=" + classifier + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "--enable-native-access=ALL-UNNAMED"));
    cmd.addAll(sameLibtorch(List.of(), Map.of()));
    cmd.addAll(List.of("-cp", jar + File.pathSeparator + System.getProperty("java.class.path"), Main.class.getName(), "info"));
    Path cache = tmp.resolve("cache");
    java.util.function.Supplier<String> run = () -> {
      try {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("XDG_CACHE_HOME", cache.toString());
        pb.environment().remove("MASKFORMER_LIBRARY");
        Process p = pb.start();
        String output = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(2, TimeUnit.MINUTES));
        assertEquals(0, p.exitValue(), output);
        return output;
      } catch (Exception e) {
        throw new AssertionError(e);
      }
    };
    String first = run.get();
    assertTrue(first.contains(jar.getFileName().toString()), "the shim came from the jar:\n" + first);
    List<Path> copies;
    try (var files = Files.walk(cache)) {
      copies = files.filter(f -> f.getFileName().toString().equals("libmaskformer.so")).toList();
    }
    assertEquals(1, copies.size(), copies.toString());
    Path copy = copies.get(0);
    assertTrue(copy.startsWith(cache.resolve("maskformer-java")), copy.toString());
    assertTrue(java.util.Arrays.equals(shim, Files.readAllBytes(copy)));
    long written = Files.getLastModifiedTime(copy).toMillis();
    Thread.sleep(20);
    run.get();
    assertEquals(written, Files.getLastModifiedTime(copy).toMillis(), "an intact copy is reused, not written again");
    // damage it, keeping its size: the next JVM must not load it
    byte[] damaged = shim.clone();
    for (int i = damaged.length / 2; i < damaged.length / 2 + 4096 && i < damaged.length; i++) {
      damaged[i] ^= 0x5a;
    }
    Files.write(copy, damaged);
    run.get();
    assertTrue(java.util.Arrays.equals(shim, Files.readAllBytes(copy)), "the damaged copy was written again");
  }
}
