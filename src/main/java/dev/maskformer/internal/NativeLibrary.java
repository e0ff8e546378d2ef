// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.internal;

import dev.maskformer.NativeLibraryException;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.maskformer.internal.ffi.maskformer_h;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.invoke.MethodHandle;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * Finds, loads and checks the native shim, once per class loader.
 *
 * <p>Search order: the system property {@code maskformer.library} (a file), the environment
 * variable {@code MASKFORMER_LIBRARY} (a file), then the shim packed in the jar under {@code
 * /native/<os>-<arch>/libmaskformer.so}, extracted to a per-user cache directory keyed by its
 * hash. LibTorch itself is found by the shim's run path (set at build time) or the system's
 * library path. Any failure becomes a {@link NativeLibraryException} listing every place tried.
 *
 * <p>Thread-safety: all methods are thread-safe.
 */
public final class NativeLibrary {
  /** The C ABI version these bindings were generated for. */
  public static final int EXPECTED_ABI = 3;

  private static final String LIBRARY = "libmaskformer.so";

  /** Written by the CMake build beside the shim: the folders of the LibTorch it linked. */
  static final String TORCH_DIRS = "libmaskformer.torch";
  private static volatile boolean loaded;
  private static NativeLibraryException failure;

  private NativeLibrary() {}

  /** Loads the shim if needed; throws the same exception on every call after a failure. */
  public static void ensureLoaded() {
    if (loaded) {
      return;
    }
    synchronized (NativeLibrary.class) {
      if (loaded) {
        return;
      }
      if (failure != null) {
        throw failure;
      }
      try {
        load();
        loaded = true;
      } catch (NativeLibraryException e) {
        failure = e;
        throw e;
      }
    }
  }

  /** Where a native file of this platform lies in the jar. */
  private static String resource(String name) {
    return "/native/" + platform() + "/" + name;
  }

  /** The {@code <os>-<arch>} folder name of this platform's shim in the jar. */
  public static String platform() {
    String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
    String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
    String osName = os.contains("linux") ? "linux" : os.replaceAll("[^a-z0-9]", "");
    String archName =
        switch (arch) {
          case "amd64", "x86_64" -> "x86_64";
          case "aarch64", "arm64" -> "aarch64";
          default -> arch;
        };
    return osName + "-" + archName;
  }

  /** How long an idle OpenMP thread spins before it sleeps, unless the user chose (see below). */
  static final String DEFAULT_SPIN_COUNT = "1000";

  /**
   * OpenMP settings the shim wants before LibTorch's OpenMP runtime starts (libgomp reads them
   * once, when it is loaded with the shim). Idle pool threads spin only briefly ({@code
   * GOMP_SPINCOUNT=1000}) before they sleep: libgomp's default (300,000 spins) makes a forward
   * pass collapse when another process holds a core, sleeping at once ({@code
   * OMP_WAIT_POLICY=PASSIVE}) costs small models 40% on an idle machine. Measured on 2 cores with
   * the demo model (512x384) and Swin-T (512x512), p50 of the whole call: default 63 / 736 ms
   * idle, 190 / 1826 ms with one core busy; passive 88 / 766 and 96 / 1269 ms; 1000 spins 63 /
   * (about idle) and 124 / 1367 ms (README, Threads). Nothing is changed when the user set {@code
   * OMP_WAIT_POLICY} or {@code GOMP_SPINCOUNT}; the system property {@code
   * maskformer.ompSpinCount} picks another count (empty: leave libgomp's default).
   */
  static void setOpenMpDefaults() {
    String spins = System.getProperty("maskformer.ompSpinCount", DEFAULT_SPIN_COUNT);
    if (spins.isBlank() || System.getenv("OMP_WAIT_POLICY") != null || System.getenv("GOMP_SPINCOUNT") != null) {
      return;
    }
    try (Arena call = Arena.ofConfined()) {
      Linker linker = Linker.nativeLinker();
      MethodHandle setenv = linker.downcallHandle(
          linker.defaultLookup().find("setenv").orElseThrow(),
          FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
      int rc = (int) setenv.invokeExact(call.allocateFrom("GOMP_SPINCOUNT"), call.allocateFrom(spins), 0);
      assert rc == 0 : "setenv failed";
    } catch (Throwable e) { // a libc without setenv: libgomp's default applies, which info reports
      System.getLogger(NativeLibrary.class.getName()).log(System.Logger.Level.DEBUG,
          "could not set GOMP_SPINCOUNT: " + e);
    }
  }

  /** The OpenMP settings in force for this process, for {@code info} and benchmarks. */
  public static String openMpSettings() {
    String policy = System.getenv("OMP_WAIT_POLICY");
    String spins = System.getenv("GOMP_SPINCOUNT");
    if (policy != null || spins != null) {
      return (policy != null ? "OMP_WAIT_POLICY=" + policy + " " : "") + (spins != null ? "GOMP_SPINCOUNT=" + spins : "");
    }
    String ours = System.getProperty("maskformer.ompSpinCount", DEFAULT_SPIN_COUNT);
    return ours.isBlank() ? "libgomp default" : "GOMP_SPINCOUNT=" + ours;
  }

  private static void load() {
    setOpenMpDefaults();
    List<String> tried = new ArrayList<>();
    String property = System.getProperty("maskformer.library");
    String env = System.getenv("MASKFORMER_LIBRARY");
    if (property != null && !property.isBlank()) {
      tryLoad(Path.of(property), "system property maskformer.library", tried);
    } else if (env != null && !env.isBlank()) {
      tryLoad(Path.of(env), "environment variable MASKFORMER_LIBRARY", tried);
    } else {
      tried.add("system property maskformer.library: not set");
      tried.add("environment variable MASKFORMER_LIBRARY: not set");
      String resource = resource(LIBRARY);
      URL url = NativeLibrary.class.getResource(resource);
      if (url == null) {
        tried.add("jar resource " + resource + ": absent (no shim was built for " + platform() + ")");
        throw failed(tried, null);
      }
      tryLoad(materialise(url, resource, tried), "jar resource " + resource, tried);
    }
    checkAbi(tried);
  }

  private static void tryLoad(Path file, String source, List<String> tried) {
    if (!Files.isRegularFile(file)) {
      tried.add(source + ": " + file + " does not exist");
      throw failed(tried, null);
    }
    try {
      System.load(file.toAbsolutePath().toString());
      tried.add(source + ": " + file + " loaded");
    } catch (UnsatisfiedLinkError e) {
      tried.add(source + ": " + file + ": " + withoutPath(e.getMessage(), file));
      tried.addAll(libtorchDiagnosis(e.getMessage(), builtAgainst(file), System.getenv("LD_LIBRARY_PATH")));
      throw failed(tried, e);
    }
  }

  /** dlerror() text names the file (often twice); the line already does. */
  static String withoutPath(String message, Path file) {
    if (message == null) {
      return "unknown error";
    }
    String m = message;
    for (String name : List.of(file.toAbsolutePath().toString(), file.toString())) {
      while (m.startsWith(name + ": ")) {
        m = m.substring(name.length() + 2);
      }
    }
    return m;
  }

  /**
   * What to tell about LibTorch when loading the shim failed with {@code error}: the folders the
   * shim was built against (its run path), whether they still hold LibTorch, and LD_LIBRARY_PATH.
   * Empty when the error is not about a missing library.
   */
  static List<String> libtorchDiagnosis(String error, List<String> builtAgainst, String ldLibraryPath) {
    List<String> lines = new ArrayList<>();
    if (error == null || !error.contains("cannot open shared object file")) {
      return lines;
    }
    for (String dir : builtAgainst) {
      Path d = Path.of(dir);
      String state =
          !Files.isDirectory(d) ? "does not exist"
              : Files.exists(d.resolve("libtorch_cpu.so")) || Files.exists(d.resolve("libtorch.so"))
                  ? "holds LibTorch" : "exists but holds no libtorch_cpu.so";
      lines.add("LibTorch folder the shim was built against (its run path): " + dir + ": " + state);
    }
    if (builtAgainst.isEmpty()) {
      lines.add("LibTorch folder the shim was built against: unknown (no libmaskformer.torch beside it)");
    }
    lines.add("LD_LIBRARY_PATH: " + (ldLibraryPath == null || ldLibraryPath.isBlank() ? "not set" : ldLibraryPath));
    lines.add("system library folders (/etc/ld.so.cache, /lib, /usr/lib): searched by the dynamic loader");
    return lines;
  }

  /** The LibTorch folders recorded by the build beside the shim, or in the jar. */
  private static List<String> builtAgainst(Path shim) {
    try {
      Path beside = shim.resolveSibling(TORCH_DIRS);
      String text = null;
      if (Files.isRegularFile(beside)) {
        text = Files.readString(beside);
      } else {
        try (InputStream in = NativeLibrary.class.getResourceAsStream(resource(TORCH_DIRS))) {
          if (in != null) {
            text = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
          }
        }
      }
      if (text == null) {
        return List.of();
      }
      return java.util.Arrays.stream(text.strip().split("[;\n]")).filter(s -> !s.isBlank()).toList();
    } catch (IOException | RuntimeException e) {
      return List.of();
    }
  }

  /** A file for the resource: itself when the classes are a directory, else a cached copy. */
  private static Path materialise(URL url, String resource, List<String> tried) {
    if ("file".equals(url.getProtocol())) {
      try {
        return Path.of(url.toURI());
      } catch (URISyntaxException e) {
        tried.add("jar resource " + resource + ": bad URL " + url);
        throw failed(tried, e);
      }
    }
    try (InputStream in = url.openStream()) {
      byte[] bytes = in.readAllBytes();
      String hash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
      Path dir = cacheDirectory().resolve(hash.substring(0, 16));
      Path file = dir.resolve(LIBRARY);
      if (!Files.isRegularFile(file) || Files.size(file) != bytes.length) {
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "libmaskformer", ".tmp");
        Files.write(tmp, bytes);
        try {
          Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
          Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
        }
      }
      return file;
    } catch (IOException | NoSuchAlgorithmException e) {
      tried.add("jar resource " + resource + ": could not extract: " + e);
      throw failed(tried, e);
    }
  }

  private static Path cacheDirectory() {
    String xdg = System.getenv("XDG_CACHE_HOME");
    Path base =
        xdg != null && !xdg.isBlank()
            ? Path.of(xdg)
            : Path.of(System.getProperty("user.home", System.getProperty("java.io.tmpdir")), ".cache");
    if (!Files.isWritable(base.getParent() == null ? base : base.getParent())) {
      base = Path.of(System.getProperty("java.io.tmpdir"));
    }
    return base.resolve("maskformer-java");
  }

  private static void checkAbi(List<String> tried) {
    int abi;
    try {
      abi = maskformer_h.mf_abi_version();
    } catch (Throwable e) { // a shim without the symbol: not ours, or far too old
      tried.add("mf_abi_version(): " + e);
      throw failed(tried, e);
    }
    if (abi != EXPECTED_ABI || maskformer_h.MF_ABI_VERSION() != EXPECTED_ABI) {
      tried.add("ABI version: shim " + abi + ", bindings " + maskformer_h.MF_ABI_VERSION()
          + ", library expects " + EXPECTED_ABI);
      throw failed(tried, null);
    }
    String compiled = maskformer_h.mf_libtorch_version().reinterpret(256).getString(0);
    String[] running = NativeRuntime.loadedLibtorch();
    String mismatch = libtorchMismatch(compiled, running[0], running[1]);
    if (mismatch != null) {
      tried.add(mismatch);
      throw failed(tried, null);
    }
  }

  /**
   * Why the loaded LibTorch cannot run a shim compiled against {@code compiled}, or null when it
   * can (same major.minor, or a LibTorch that does not report its version).
   */
  static String libtorchMismatch(String compiled, String running, String file) {
    if (running == null || running.isBlank() || majorMinor(compiled).equals(majorMinor(running))) {
      return null;
    }
    return "LibTorch: the shim was compiled against " + compiled + ", but this process loaded "
        + running + " (" + (file == null || file.isBlank() ? "file unknown" : file) + "), e.g. through"
        + " LD_LIBRARY_PATH (" + Objects.requireNonNullElse(System.getenv("LD_LIBRARY_PATH"), "not set")
        + "): rebuild the shim against that LibTorch or let it find its own";
  }

  private static String majorMinor(String version) {
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("^(\\d+\\.\\d+)").matcher(version);
    return m.find() ? m.group(1) : version;
  }

  private static NativeLibraryException failed(List<String> tried, Throwable cause) {
    StringBuilder b = new StringBuilder("could not load the maskformer native library; tried:");
    for (String t : tried) {
      b.append("\n  - ").append(t);
    }
    b.append("\nThe shim needs the LibTorch it was built against at run time (./maskformer setup builds")
        .append(" it against the torch in the project's .venv); for a LibTorch download add its lib/")
        .append(" folder to LD_LIBRARY_PATH.")
        .append(" Build the shim with `mvn package` (or ./maskformer, which builds on first use),")
        .append(" or point -Dmaskformer.library / MASKFORMER_LIBRARY at a built libmaskformer.so.");
    return new NativeLibraryException(b.toString(), cause);
  }
}
