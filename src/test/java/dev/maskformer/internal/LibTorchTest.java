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
import org.junit.jupiter.api.Assumptions;
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

  /** A venv laid out as {@code python -m venv} makes it, its python a script that must not run. */
  private static Path venv(Path root, String cfg, boolean withTorch) throws Exception {
    Files.createDirectories(root.resolve("bin"));
    Files.writeString(root.resolve("pyvenv.cfg"), cfg);
    Path python = root.resolve("bin/python3");
    Files.writeString(python, "#!/bin/sh\necho 'asked the python' >&2\nexit 7\n");
    python.toFile().setExecutable(true);
    if (withTorch) {
      Path torch = root.resolve("lib/python3.11/site-packages/torch");
      Files.createDirectories(torch.resolve("lib"));
      Files.writeString(torch.resolve("__init__.py"), "");
      Files.writeString(torch.resolve("lib/libtorch_cpu.so"), "");
    }
    return python;
  }

  @Test
  void aVenvsTorchIsReadWithoutRunningItsPython(@TempDir Path tmp) throws Exception {
    Path python = venv(tmp.resolve("v"), "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.7\n", true);
    assertEquals(Optional.of(tmp.resolve("v/lib/python3.11/site-packages/torch")),
        LibTorch.findPythonTorch(python.toString()).folder());
    // uv writes version_info
    Path uv = venv(tmp.resolve("uv"), "home = /usr/bin\nversion_info = 3.11.7\n", true);
    assertEquals(Optional.of(tmp.resolve("uv/lib/python3.11/site-packages/torch")),
        LibTorch.findPythonTorch(uv.toString()).folder());
  }

  @Test
  void anythingElseIsLeftToThePython(@TempDir Path tmp) throws Exception {
    // no torch in the venv (it may still come from the system's site-packages): ask
    Path empty = venv(tmp.resolve("empty"), "version = 3.11.7\n", false);
    assertEquals("exited with 7: asked the python", LibTorch.findPythonTorch(empty.toString()).note());
    // torch of another Python version, a cfg without a version, a torch without its libraries
    Path other = venv(tmp.resolve("other"), "version = 3.12.1\n", true);
    assertEquals("exited with 7: asked the python", LibTorch.findPythonTorch(other.toString()).note());
    Path noVersion = venv(tmp.resolve("nover"), "home = /usr/bin\n", true);
    assertEquals("exited with 7: asked the python", LibTorch.findPythonTorch(noVersion.toString()).note());
    Path noLibs = venv(tmp.resolve("nolibs"), "version = 3.11.7\n", true);
    Files.delete(tmp.resolve("nolibs/lib/python3.11/site-packages/torch/lib/libtorch_cpu.so"));
    assertEquals("exited with 7: asked the python", LibTorch.findPythonTorch(noLibs.toString()).note());
  }

  /** On the build's own Python (the project's .venv under ./maskformer): the shortcut's answer is the Python's. */
  @Test
  void theShortcutAgreesWithThePython() throws Exception {
    String python = System.getProperty("maskformer.testPython", "");
    Path executable = Path.of(python);
    Assumptions.assumeTrue(!python.isEmpty() && Files.isExecutable(executable), "no test Python");
    Optional<Path> shortcut = LibTorch.venvTorch(executable);
    Assumptions.assumeTrue(shortcut.isPresent(), python + " is no venv with torch");
    Process p = new ProcessBuilder(python, "-I", "-c",
        "import importlib.util as u, os; print(os.path.dirname(u.find_spec('torch').origin))")
        .redirectErrorStream(true).start();
    String answer = new String(p.getInputStream().readAllBytes()).strip();
    assertEquals(0, p.waitFor(), answer);
    assertEquals(Path.of(answer).toRealPath(), shortcut.get().toRealPath());
  }
}
