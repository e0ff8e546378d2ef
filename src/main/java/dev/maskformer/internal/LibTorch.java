// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.internal;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A LibTorch installation found on this machine, and the search that finds one.
 *
 * <p>Search order (README "Which LibTorch"): the system property {@code maskformer.libtorch}, else
 * the environment variable {@code LIBTORCH_HOME} (a LibTorch download, a Python torch package
 * folder, a folder holding {@code libtorch_cpu.so}, or a CMake {@code Torch} folder); else the
 * torch of the Python named by {@code maskformer.python} / {@code MASKFORMER_PYTHON}; else the
 * torch of {@code python3} on the {@code PATH}; else the system's folders ({@code
 * LD_LIBRARY_PATH}, {@code /etc/ld.so.conf}, the standard library folders: Debian's {@code
 * libtorch} lies there). An explicit setting is used alone: when it names no usable LibTorch the
 * search stops there.
 *
 * @param foundBy how it was found, for messages ("LIBTORCH_HOME=/opt/libtorch")
 * @param libDir the folder of libtorch_cpu and libc10
 * @param version its version, e.g. "2.13.0+cpu" ("" when unknown)
 * @param line major.minor, e.g. "2.13" ("" when unknown)
 * @param flavour "cpu", "cudaN" (N: the CUDA major version) or "cuda" (CUDA of unknown version)
 */
record LibTorch(String foundBy, Path libDir, String version, String line, String flavour) {

  /** The libraries to load, in dependency order (each one's torch/c10 needs are loaded first). */
  static final List<String> LOAD_ORDER = List.of("c10", "c10_cuda", "torch_cpu", "torch_cuda", "torch");

  /** The {@code <platform>-torch<line>-<flavour>} name of the shim built for this LibTorch. */
  String classifier(String platform) {
    return platform + "-torch" + line + "-" + flavour;
  }

  boolean cuda() {
    return flavour.startsWith("cuda");
  }

  /** "LibTorch 2.13.0+cpu (cpu) in DIR", for messages. */
  String describe() {
    return "LibTorch " + (version.isEmpty() ? "of unknown version" : version) + " (" + flavour + ") in " + libDir;
  }

  /** The files to load, in order: those of {@link #LOAD_ORDER} present in {@link #libDir}. */
  List<Path> libraries() {
    List<Path> files = new ArrayList<>();
    for (String name : LOAD_ORDER) {
      library(libDir, name).ifPresent(files::add);
    }
    return files;
  }

  /** {@code lib<name>.so}, or the shortest {@code lib<name>.so.*} (a versioned soname), in a folder. */
  static Optional<Path> library(Path dir, String name) {
    Path plain = dir.resolve("lib" + name + ".so");
    if (Files.exists(plain)) {
      return Optional.of(plain);
    }
    String prefix = "lib" + name + ".so.";
    try (Stream<Path> files = Files.list(dir)) {
      return files.filter(p -> p.getFileName().toString().startsWith(prefix))
          .filter(p -> p.getFileName().toString().substring(prefix.length()).matches("[0-9.]+"))
          .filter(Files::exists)
          .min((a, b) -> Integer.compare(a.getFileName().toString().length(), b.getFileName().toString().length()));
    } catch (IOException | SecurityException e) {
      return Optional.empty();
    }
  }

  /** One step of the search: what it looked at, and the LibTorch it found there (if any). */
  record Probe(String place, Optional<LibTorch> found, String note) {
    String line() {
      return place + ": " + found.map(LibTorch::describe).orElse(note);
    }
  }

  /** The environment the search reads (replaced in tests). */
  interface Environment {
    String property(String name);

    String variable(String name);

    /** The torch package folder of a Python (without importing torch), or an explanation. */
    PythonTorch pythonTorch(String python);

    /** Library folders the dynamic loader searches by default here. */
    List<Path> systemLibraryDirs();
  }

  /** What asking a Python for its torch gave: the package folder, or why there is none. */
  record PythonTorch(Optional<Path> folder, String note) {}

  /**
   * The places to try, in order, each with what it holds. When a setting is explicit ({@code
   * maskformer.libtorch}, {@code LIBTORCH_HOME}, {@code maskformer.python}, {@code
   * MASKFORMER_PYTHON}), only that one is returned.
   */
  static List<Probe> search(Environment env) {
    List<Probe> probes = new ArrayList<>();
    String home = firstSet(env.property("maskformer.libtorch"), env.variable("LIBTORCH_HOME"));
    if (home != null) {
      String name = isSet(env.property("maskformer.libtorch")) ? "system property maskformer.libtorch" : "LIBTORCH_HOME";
      probes.add(atHome(name + "=" + home, Path.of(home)));
      return probes;
    }
    String python = firstSet(env.property("maskformer.python"), env.variable("MASKFORMER_PYTHON"));
    if (python != null) {
      String name = isSet(env.property("maskformer.python")) ? "system property maskformer.python" : "MASKFORMER_PYTHON";
      probes.add(ofPython(name + "=" + python, python, env));
      return probes;
    }
    probes.add(ofPython("python3 on the PATH", "python3", env));
    Set<Path> seen = new LinkedHashSet<>();
    for (Path dir : env.systemLibraryDirs()) {
      Path real = realOrSelf(dir);
      if (!seen.add(real) || !Files.isDirectory(real)) {
        continue;
      }
      if (library(real, "torch_cpu").isPresent()) {
        probes.add(atLibDir("the system folder " + real, real, null));
      }
    }
    if (seen.isEmpty() || probes.size() == 1) {
      probes.add(new Probe("the system's library folders (" + String.join(", ",
          env.systemLibraryDirs().stream().map(Path::toString).toList()) + ")", Optional.empty(),
          "no libtorch_cpu.so"));
    }
    return probes;
  }

  private static Probe ofPython(String place, String python, Environment env) {
    PythonTorch torch = env.pythonTorch(python);
    if (torch.folder().isEmpty()) {
      return new Probe(place, Optional.empty(), torch.note());
    }
    return atHome(place + " (torch in " + torch.folder().get() + ")", torch.folder().get());
  }

  /**
   * A LibTorch given by its home: a download or torch package folder (with lib/), a folder of
   * the libraries themselves, or a CMake folder (.../share/cmake/Torch or .../lib/cmake/Torch).
   */
  static Probe atHome(String place, Path home) {
    if (!Files.isDirectory(home)) {
      return new Probe(place, Optional.empty(), Files.exists(home) ? "not a folder" : "does not exist");
    }
    List<Path> candidates = new ArrayList<>(List.of(home.resolve("lib"), home));
    if (home.endsWith(Path.of("cmake", "Torch"))) {
      Path cmake = home.getParent();
      Path above = cmake.getParent();               // share or lib (or a multiarch lib folder)
      candidates.add(above);                        // Debian: /usr/lib/<triplet>/cmake/Torch
      if (above.getParent() != null) {
        candidates.add(above.getParent().resolve("lib")); // a package: torch/share/cmake/Torch
      }
    }
    for (Path dir : candidates) {
      if (library(dir, "torch_cpu").isPresent()) {
        return atLibDir(place, dir, home);
      }
    }
    return new Probe(place, Optional.empty(), "no libtorch_cpu.so in " + home + " or its lib/ folder");
  }

  /** The LibTorch whose libraries lie in {@code dir}, with its version and flavour. */
  static Probe atLibDir(String place, Path dir, Path home) {
    List<Path> metadataDirs = new ArrayList<>();
    if (home != null) {
      metadataDirs.add(home);
    }
    if (dir.getParent() != null) {
      metadataDirs.add(dir.getParent());
    }
    String version = "";
    String cuda = null;
    boolean cudaKnown = false;
    for (Path d : metadataDirs) {
      Path pyVersion = d.resolve("version.py");             // a Python torch package
      Path buildVersion = d.resolve("build-version");       // a LibTorch download
      if (Files.isRegularFile(pyVersion)) {
        String text = read(pyVersion);
        version = match(text, "(?m)^__version__\\s*=\\s*['\"]([^'\"]+)['\"]");
        String c = match(text, "(?m)^cuda\\s*(?::[^=]*)?=\\s*['\"]([^'\"]+)['\"]");
        cuda = c.isEmpty() ? null : c;
        cudaKnown = true;
        break;
      }
      if (Files.isRegularFile(buildVersion)) {
        version = read(buildVersion).strip();
        String local = match(version, "\\+cu(\\d+)$");
        cuda = local.length() >= 2 ? local.substring(0, local.length() - 1) : null;
        cudaKnown = !local.isEmpty() || version.contains("+cpu");
        break;
      }
    }
    if (version.isEmpty()) {
      // a system LibTorch: the soname carries major.minor (libtorch_cpu.so.1.13)
      version = library(dir, "torch_cpu").map(p -> realOrSelf(p).getFileName().toString())
          .map(n -> match(n, "\\.so\\.(\\d+\\.\\d+(?:\\.\\d+)?)$")).orElse("");
    }
    boolean cudaLibrary = library(dir, "torch_cuda").isPresent();
    String flavour;
    if (cuda != null) {
      flavour = "cuda" + cuda.split("\\.")[0];
    } else if (cudaLibrary && !cudaKnown) {
      flavour = "cuda";
    } else {
      flavour = cudaLibrary ? "cuda" : "cpu";
    }
    String line = match(version, "^(\\d+\\.\\d+)");
    return new Probe(place, Optional.of(new LibTorch(place, dir, version, line, flavour)), "");
  }

  private static String read(Path file) {
    try (InputStream in = Files.newInputStream(file)) {
      return new String(in.readNBytes(64 * 1024), StandardCharsets.UTF_8);
    } catch (IOException | SecurityException e) {
      return "";
    }
  }

  private static String match(String text, String regex) {
    Matcher m = Pattern.compile(regex).matcher(text);
    return m.find() ? m.group(1) : "";
  }

  private static boolean isSet(String s) {
    return s != null && !s.isBlank();
  }

  private static String firstSet(String a, String b) {
    return isSet(a) ? a.strip() : isSet(b) ? b.strip() : null;
  }

  static Path realOrSelf(Path p) {
    try {
      return p.toRealPath();
    } catch (IOException | SecurityException e) {
      return p;
    }
  }

  /** This process's environment. */
  static final Environment SYSTEM = new Environment() {
    @Override
    public String property(String name) {
      return System.getProperty(name);
    }

    @Override
    public String variable(String name) {
      return System.getenv(name);
    }

    @Override
    public PythonTorch pythonTorch(String python) {
      return findPythonTorch(python);
    }

    @Override
    public List<Path> systemLibraryDirs() {
      return defaultLibraryDirs(System.getenv("LD_LIBRARY_PATH"), Path.of("/etc/ld.so.conf"));
    }
  };

  /** How long a Python may take to say where its torch is. */
  static final long PYTHON_TIMEOUT_MS = 15_000;

  /**
   * Asks {@code python} where its torch package is, without importing torch (importlib's
   * find_spec reads no torch code): a fraction of a second even for a CUDA build.
   */
  static PythonTorch findPythonTorch(String python) {
    String executable = python;
    if (!python.contains("/")) {
      Optional<Path> onPath = onPath(python, System.getenv("PATH"));
      if (onPath.isEmpty()) {
        return new PythonTorch(Optional.empty(), "not found on the PATH");
      }
      executable = onPath.get().toString();
    } else if (!Files.isExecutable(Path.of(python))) {
      return new PythonTorch(Optional.empty(), Files.exists(Path.of(python)) ? "not executable" : "does not exist");
    }
    Optional<Path> inVenv = venvTorch(Path.of(executable));
    if (inVenv.isPresent()) {
      return new PythonTorch(inVenv, "");
    }
    String code = "import importlib.util as u, os\n"
        + "s = u.find_spec('torch')\n"
        + "print(os.path.dirname(s.origin) if s is not None and s.origin else '')\n";
    ProcessBuilder pb = new ProcessBuilder(executable, "-I", "-c", code)
        .redirectErrorStream(true)
        .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
    // -I (isolated) ignores PYTHONPATH and the user's site folder, which a plain `python3` would
    // read; a virtual environment's own site-packages still counts
    pb.environment().remove("PYTHONSTARTUP");
    Process p;
    try {
      p = pb.start();
    } catch (IOException e) {
      return new PythonTorch(Optional.empty(), "could not run it: " + e.getMessage());
    }
    try (InputStream out = p.getInputStream()) {
      if (!p.waitFor(PYTHON_TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        return new PythonTorch(Optional.empty(), "gave no answer in " + PYTHON_TIMEOUT_MS / 1000 + " s");
      }
      String text = new String(out.readNBytes(16 * 1024), StandardCharsets.UTF_8).strip();
      if (p.exitValue() != 0) {
        String last = text.lines().reduce((a, b) -> b).orElse("");
        return new PythonTorch(Optional.empty(), "exited with " + p.exitValue() + (last.isEmpty() ? "" : ": " + last));
      }
      String folder = text.lines().reduce((a, b) -> b).orElse("").strip();
      if (folder.isEmpty()) {
        return new PythonTorch(Optional.empty(), "has no torch (pip install torch)");
      }
      return new PythonTorch(Optional.of(Path.of(folder)), "");
    } catch (IOException e) {
      return new PythonTorch(Optional.empty(), "could not read its answer: " + e.getMessage());
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      return new PythonTorch(Optional.empty(), "interrupted");
    }
  }

  /**
   * The torch of a virtual environment's Python, read from its folders instead of asking the
   * Python (which costs a process start, 100-200 ms of a first load): when {@code executable} sits
   * in a virtual environment ({@code pyvenv.cfg} beside it or one folder up, as Python itself looks)
   * and that environment's {@code lib/pythonX.Y/site-packages/torch} is a package with its
   * libraries, that is the folder {@code python -I} would find first (its search path is the
   * standard library, then this folder). Anything else (no venv, torch elsewhere, a cfg without a
   * version) is left to the Python.
   */
  static Optional<Path> venvTorch(Path executable) {
    Path bin = executable.toAbsolutePath().getParent();
    if (bin == null) {
      return Optional.empty();
    }
    for (Path cfg : new Path[] {bin.resolve("pyvenv.cfg"), bin.getParent() == null ? null : bin.getParent().resolve("pyvenv.cfg")}) {
      if (cfg == null || !Files.isRegularFile(cfg)) {
        continue;
      }
      String version = match(read(cfg), "(?m)^\\s*version(?:_info)?\\s*=\\s*(\\d+\\.\\d+)");
      if (version.isEmpty()) {
        return Optional.empty();
      }
      Path torch = cfg.getParent().resolve("lib").resolve("python" + version).resolve("site-packages").resolve("torch");
      boolean complete = Files.isRegularFile(torch.resolve("__init__.py"))
          && library(torch.resolve("lib"), "torch_cpu").isPresent();
      return complete ? Optional.of(torch) : Optional.empty();
    }
    return Optional.empty();
  }

  static Optional<Path> onPath(String name, String path) {
    if (path == null) {
      return Optional.empty();
    }
    for (String dir : path.split(":")) {
      if (dir.isEmpty()) {
        continue;
      }
      Path candidate = Path.of(dir, name);
      if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
        return Optional.of(candidate);
      }
    }
    return Optional.empty();
  }

  /**
   * The folders the dynamic loader searches: {@code LD_LIBRARY_PATH}, those of {@code
   * /etc/ld.so.conf} (and its includes), then the standard ones.
   */
  static List<Path> defaultLibraryDirs(String ldLibraryPath, Path ldSoConf) {
    Set<Path> dirs = new LinkedHashSet<>();
    if (ldLibraryPath != null) {
      for (String d : ldLibraryPath.split(":")) {
        if (!d.isBlank()) {
          dirs.add(Path.of(d));
        }
      }
    }
    readLdConf(ldSoConf, dirs, 0);
    String multiarch = switch (System.getProperty("os.arch", "").toLowerCase(Locale.ROOT)) {
      case "amd64", "x86_64" -> "x86_64-linux-gnu";
      case "aarch64", "arm64" -> "aarch64-linux-gnu";
      default -> null;
    };
    if (multiarch != null) {
      dirs.add(Path.of("/usr/lib", multiarch));
      dirs.add(Path.of("/lib", multiarch));
    }
    for (String d : List.of("/usr/local/lib", "/usr/lib64", "/lib64", "/usr/lib", "/lib")) {
      dirs.add(Path.of(d));
    }
    return List.copyOf(dirs);
  }

  private static void readLdConf(Path conf, Set<Path> dirs, int depth) {
    if (depth > 4 || !Files.isRegularFile(conf)) {
      return;
    }
    for (String raw : read(conf).split("\n")) {
      String line = raw.replaceAll("#.*", "").strip();
      if (line.isEmpty()) {
        continue;
      }
      if (line.startsWith("include ")) {
        String pattern = line.substring("include ".length()).strip();
        Path glob = conf.getParent().resolve(pattern);
        Path dir = glob.getParent();
        String filePattern = glob.getFileName().toString();
        try (Stream<Path> files = Files.list(dir)) {
          var matcher = dir.getFileSystem().getPathMatcher("glob:" + filePattern);
          files.filter(f -> matcher.matches(f.getFileName())).sorted()
              .forEach(f -> readLdConf(f, dirs, depth + 1));
        } catch (IOException | SecurityException e) {
          // an unreadable include adds nothing
        }
      } else if (line.startsWith("/")) {
        dirs.add(Path.of(line));
      }
    }
  }
}
