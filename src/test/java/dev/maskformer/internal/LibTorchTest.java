// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The LibTorch search, on folders laid out like each kind of installation (no library is loaded). */
class LibTorchTest {

  /** An environment of given properties, variables, Pythons and system folders. */
  static final class Env implements LibTorch.Environment {
    final Map<String, String> properties = new HashMap<>();
    final Map<String, String> variables = new HashMap<>();
    final Map<String, LibTorch.PythonTorch> pythons = new HashMap<>();
    List<Path> systemDirs = List.of();

    @Override
    public String property(String name) {
      return properties.get(name);
    }

    @Override
    public String variable(String name) {
      return variables.get(name);
    }

    @Override
    public LibTorch.PythonTorch pythonTorch(String python) {
      return pythons.getOrDefault(python, new LibTorch.PythonTorch(Optional.empty(), "not found on the PATH"));
    }

    @Override
    public List<Path> systemLibraryDirs() {
      return systemDirs;
    }
  }

  private static Path touch(Path file) throws Exception {
    Files.createDirectories(file.getParent());
    Files.writeString(file, "");
    return file;
  }

  /** A pip torch package folder: lib/ with the libraries, version.py. */
  private static Path pipTorch(Path root, String version, String cuda) throws Exception {
    Path torch = root.resolve("site-packages/torch");
    for (String lib : List.of("c10", "torch_cpu", "torch")) {
      touch(torch.resolve("lib/lib" + lib + ".so"));
    }
    if (cuda != null) {
      touch(torch.resolve("lib/libc10_cuda.so"));
      touch(torch.resolve("lib/libtorch_cuda.so"));
    }
    Files.writeString(torch.resolve("version.py"), "__version__ = '" + version + "'\ndebug = False\n"
        + "cuda: Optional[str] = " + (cuda == null ? "None" : "'" + cuda + "'") + "\n");
    return torch;
  }

  @Test
  void aPipTorchIsReadFromItsVersionFile(@TempDir Path tmp) throws Exception {
    Path torch = pipTorch(tmp, "2.13.0+cpu", null);
    LibTorch t = LibTorch.atHome("LIBTORCH_HOME=" + torch, torch).found().orElseThrow();
    assertEquals(torch.resolve("lib"), t.libDir());
    assertEquals("2.13.0+cpu", t.version());
    assertEquals("2.13", t.line());
    assertEquals("cpu", t.flavour());
    assertEquals("linux-x86_64-torch2.13-cpu", t.classifier("linux-x86_64"));
    assertEquals(List.of("libc10.so", "libtorch_cpu.so", "libtorch.so"),
        t.libraries().stream().map(p -> p.getFileName().toString()).toList());
  }

  @Test
  void aCudaPipTorchIsOfItsCudaMajorVersion(@TempDir Path tmp) throws Exception {
    Path torch = pipTorch(tmp, "2.14.1", "13.0");
    LibTorch t = LibTorch.atHome("x", torch).found().orElseThrow();
    assertEquals("cuda13", t.flavour());
    assertTrue(t.cuda());
    // the CUDA libraries load after the CPU ones they need, before libtorch
    assertEquals(List.of("libc10.so", "libc10_cuda.so", "libtorch_cpu.so", "libtorch_cuda.so", "libtorch.so"),
        t.libraries().stream().map(p -> p.getFileName().toString()).toList());
  }

  @Test
  void aLibtorchDownloadIsReadFromBuildVersion(@TempDir Path tmp) throws Exception {
    Path home = tmp.resolve("libtorch");
    touch(home.resolve("lib/libtorch_cpu.so"));
    touch(home.resolve("lib/libtorch_cuda.so"));
    Files.writeString(home.resolve("build-version"), "2.14.1+cu130\n");
    LibTorch t = LibTorch.atHome("x", home).found().orElseThrow();
    assertEquals("2.14.1+cu130", t.version());
    assertEquals("cuda13", t.flavour());
    Files.writeString(home.resolve("build-version"), "2.13.0+cpu\n");
    Files.delete(home.resolve("lib/libtorch_cuda.so"));
    assertEquals("cpu", LibTorch.atHome("x", home).found().orElseThrow().flavour());
  }

  @Test
  void aSystemLibtorchIsReadFromItsSoname(@TempDir Path tmp) throws Exception {
    // Debian: versioned files in a multiarch folder, the CMake config in cmake/Torch below it
    Path lib = tmp.resolve("usr/lib/x86_64-linux-gnu");
    touch(lib.resolve("libtorch_cpu.so.1.13.0"));
    Files.createSymbolicLink(lib.resolve("libtorch_cpu.so.1.13"), Path.of("libtorch_cpu.so.1.13.0"));
    touch(lib.resolve("libc10.so.1.13.0"));
    Files.createSymbolicLink(lib.resolve("libc10.so.1.13"), Path.of("libc10.so.1.13.0"));
    touch(lib.resolve("cmake/Torch/TorchConfig.cmake"));
    LibTorch t = LibTorch.atHome("LIBTORCH_HOME", lib.resolve("cmake/Torch")).found().orElseThrow();
    assertEquals(lib, t.libDir());
    assertEquals("1.13", t.line());
    assertEquals("cpu", t.flavour());
    // the shortest versioned name: the soname, which the shim's dependency names
    assertEquals(List.of("libc10.so.1.13", "libtorch_cpu.so.1.13"),
        t.libraries().stream().map(p -> p.getFileName().toString()).toList());
  }

  @Test
  void anExplicitSettingIsUsedAlone(@TempDir Path tmp) throws Exception {
    Env env = new Env();
    Path torch = pipTorch(tmp, "2.13.0+cpu", null);
    env.variables.put("LIBTORCH_HOME", tmp.resolve("nothing-here").toString());
    env.pythons.put("python3", new LibTorch.PythonTorch(Optional.of(torch), ""));
    List<LibTorch.Probe> probes = LibTorch.search(env);
    assertEquals(1, probes.size(), probes.toString());
    assertTrue(probes.get(0).line().contains("LIBTORCH_HOME=" + tmp.resolve("nothing-here") + ": does not exist"),
        probes.get(0).line());
    // the system property wins over the variable
    env.properties.put("maskformer.libtorch", torch.toString());
    probes = LibTorch.search(env);
    assertEquals(1, probes.size());
    assertTrue(probes.get(0).place().startsWith("system property maskformer.libtorch="), probes.get(0).place());
    assertEquals("2.13", probes.get(0).found().orElseThrow().line());
  }

  @Test
  void aNamedPythonComesBeforeThePathAndTheSystem(@TempDir Path tmp) throws Exception {
    Env env = new Env();
    Path torch = pipTorch(tmp, "2.13.0+cpu", null);
    env.variables.put("MASKFORMER_PYTHON", "/opt/venv/bin/python");
    env.pythons.put("/opt/venv/bin/python", new LibTorch.PythonTorch(Optional.of(torch), ""));
    List<LibTorch.Probe> probes = LibTorch.search(env);
    assertEquals(1, probes.size());
    assertTrue(probes.get(0).place().startsWith("MASKFORMER_PYTHON=/opt/venv/bin/python (torch in "), probes.get(0).place());
  }

  @Test
  void withoutSettingsPythonOnThePathThenTheSystemFolders(@TempDir Path tmp) throws Exception {
    Env env = new Env();
    Path lib = tmp.resolve("lib");
    touch(lib.resolve("libtorch_cpu.so.1.13"));
    Path empty = Files.createDirectories(tmp.resolve("empty"));
    env.systemDirs = List.of(empty, lib, lib);  // a folder named twice is searched once
    env.pythons.put("python3", new LibTorch.PythonTorch(Optional.empty(), "has no torch (pip install torch)"));
    List<LibTorch.Probe> probes = LibTorch.search(env);
    assertEquals(2, probes.size(), probes.toString());
    assertEquals("python3 on the PATH: has no torch (pip install torch)", probes.get(0).line());
    assertEquals("1.13", probes.get(1).found().orElseThrow().line());
  }

  @Test
  void nothingAnywhereSaysWhereItLooked(@TempDir Path tmp) throws Exception {
    Env env = new Env();
    env.systemDirs = List.of(Files.createDirectories(tmp.resolve("a")));
    List<LibTorch.Probe> probes = LibTorch.search(env);
    String text = String.join("\n", probes.stream().map(LibTorch.Probe::line).toList());
    assertTrue(text.contains("python3 on the PATH: not found on the PATH"), text);
    assertTrue(text.contains("the system's library folders (" + tmp.resolve("a") + "): no libtorch_cpu.so"), text);
  }

  @Test
  void aFolderWithoutLibtorchIsSaid(@TempDir Path tmp) throws Exception {
    LibTorch.Probe p = LibTorch.atHome("LIBTORCH_HOME=" + tmp, tmp);
    assertTrue(p.found().isEmpty());
    assertTrue(p.line().endsWith("no libtorch_cpu.so in " + tmp + " or its lib/ folder"), p.line());
  }

  @Test
  void ldSoConfIncludesAreFollowed(@TempDir Path tmp) throws Exception {
    Path conf = tmp.resolve("ld.so.conf");
    Files.createDirectories(tmp.resolve("ld.so.conf.d"));
    Files.writeString(conf, "# comment\ninclude ld.so.conf.d/*.conf\n/opt/first\n");
    Files.writeString(tmp.resolve("ld.so.conf.d/b.conf"), "/opt/b\n");
    Files.writeString(tmp.resolve("ld.so.conf.d/a.conf"), "/opt/a # trailing comment\n");
    List<Path> dirs = LibTorch.defaultLibraryDirs("/x:/y", conf);
    assertEquals(List.of(Path.of("/x"), Path.of("/y"), Path.of("/opt/a"), Path.of("/opt/b"), Path.of("/opt/first")),
        dirs.subList(0, 5));
    assertTrue(dirs.contains(Path.of("/usr/lib")), dirs.toString());
  }

  @Test
  void aPythonThatIsNoProgramIsSaid(@TempDir Path tmp) throws Exception {
    assertEquals("does not exist", LibTorch.findPythonTorch(tmp.resolve("python").toString()).note());
    assertEquals("not found on the PATH",
        LibTorch.findPythonTorch("no-such-python-" + System.nanoTime()).note());
    Path script = tmp.resolve("fails");
    Files.writeString(script, "#!/bin/sh\necho 'it broke' >&2\nexit 3\n");
    script.toFile().setExecutable(true);
    assertEquals("exited with 3: it broke", LibTorch.findPythonTorch(script.toString()).note());
    Path none = tmp.resolve("none");
    Files.writeString(none, "#!/bin/sh\necho\n");
    none.toFile().setExecutable(true);
    assertEquals("has no torch (pip install torch)", LibTorch.findPythonTorch(none.toString()).note());
  }
}
