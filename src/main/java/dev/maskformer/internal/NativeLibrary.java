// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.internal;

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
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Properties;
import java.util.zip.CRC32;

/**
 * Finds LibTorch, loads it, then the native shim built for it, and checks both; once per class
 * loader.
 *
 * <p>LibTorch is found at run time (see {@link LibTorch} for the order: {@code maskformer.libtorch}
 * / {@code LIBTORCH_HOME}, a Python's torch, the system) and its libraries are loaded by absolute
 * path. The shim is chosen by what was found: the resource {@code
 * dev/maskformer/native/<platform>-torch<major.minor>-<flavour>/libmaskformer.so} from the class
 * path (a {@code maskformer-native} jar of that classifier, or the build's classes folder),
 * extracted to a per-user cache folder (reused while its bytes are the jar's); or the file named by the system property
 * {@code maskformer.library} / {@code MASKFORMER_LIBRARY}. The shim has no run path: its
 * libtorch/libc10 dependencies resolve to the libraries already loaded. Every failure is a {@link
 * NativeException} (status {@link NativeException#LIBRARY}; the public side's
 * NativeLibraryException) that lists each place tried, what was found there, and the shims on the
 * class path; never an {@link UnsatisfiedLinkError}.
 *
 * <p>Thread-safety: all methods are thread-safe.
 */
public final class NativeLibrary {
  /** The C ABI version these bindings were generated for. */
  public static final int EXPECTED_ABI = 5;

  private static final String LIBRARY = "libmaskformer.so";
  private static final String PROPERTIES = "libmaskformer.properties";
  /** In every native jar (and a build's classes folder): what its shim was built for. */
  static final String INDEX = "META-INF/maskformer-native.properties";

  private static volatile boolean loaded;
  private static NativeException failure;
  private static volatile String description = "";
  private static volatile Path shimFile;
  private static volatile String shimClassifier;

  private NativeLibrary() {}

  /** Loads LibTorch and the shim if needed; throws the same exception on every call after a failure. */
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
        // CPU rewrites still running in the background stop before exit() destroys LibTorch's
        // globals (mf_stop_cpu_rewrites); the models keep the network they run
        try {
          Runtime.getRuntime().addShutdownHook(
              new Thread(maskformer_h::mf_stop_cpu_rewrites, "maskformer-stop-cpu-rewrites"));
        } catch (IllegalStateException shuttingDown) {
          maskformer_h.mf_stop_cpu_rewrites(); // loaded during shutdown: no rewrite may start
        }
      } catch (NativeException e) {
        failure = e;
        throw e;
      }
    }
  }

  /** Which LibTorch and which shim this process loaded, and how they were found ("" before). */
  public static String description() {
    return description;
  }

  /** The shim file loaded (null before). */
  static Path shimFile() {
    return shimFile;
  }

  /** The classifier of the shim loaded from the class path (null before, or for maskformer.library). */
  static String shimClassifier() {
    return shimClassifier;
  }

  /** The version of this jar (pom.xml's), which the shim's must equal. */
  public static String version() {
    try (InputStream in = NativeLibrary.class.getResourceAsStream("version.properties")) {
      Properties p = new Properties();
      if (in != null) {
        p.load(in);
      }
      return p.getProperty("version", "unknown");
    } catch (IOException e) {
      return "unknown";
    }
  }

  /** Where a shim for a classifier lies on the class path. */
  static String resource(String classifier, String name) {
    return "dev/maskformer/native/" + classifier + "/" + name;
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
   * (about idle) and 124 / 1367 ms (docs/performance.md, Threads). Nothing is changed when the user set {@code
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
    Steps steps = new Steps();
    setOpenMpDefaults();
    List<String> tried = new ArrayList<>();
    String platform = platform();
    Shim override = overrideShim(tried);
    steps.done("settings");

    LibTorch chosen = null;
    Shim shim = null;
    for (LibTorch.Probe probe : LibTorch.search(LibTorch.SYSTEM)) {
      if (probe.found().isEmpty()) {
        tried.add(probe.line());
        continue;
      }
      LibTorch torch = probe.found().get();
      if (torch.line().isEmpty()) {
        tried.add(probe.line() + "; its version is unknown (no version.py, build-version or versioned soname),"
            + " so no shim can be chosen for it");
        continue;
      }
      String classifier = torch.classifier(platform);
      if (override != null) {
        if (override.classifier() != null && !override.classifier().equals(classifier)) {
          tried.add(probe.line() + "; but " + override.source() + " is built for " + override.classifier()
              + ", not " + classifier);
          continue;
        }
        shim = override;
      } else {
        URL url = NativeLibrary.class.getClassLoader() == null ? null
            : NativeLibrary.class.getClassLoader().getResource(resource(classifier, LIBRARY));
        if (url == null) {
          tried.add(probe.line() + "; but no shim for it on the class path (add the maskformer-native jar of"
              + " classifier " + classifier + ")");
          continue;
        }
        shim = shimAt(url, classifier, tried);
      }
      tried.add(probe.line());
      chosen = torch;
      break;
    }
    if (chosen == null) {
      throw failed(tried, null);
    }
    steps.done("LibTorch search");
    String checked = checkShimVersion(shim);
    if (checked != null) {
      tried.add(checked);
      throw failed(tried, null);
    }
    String already = alreadyLoaded(chosen);
    if (already != null) {
      tried.add(already);
      throw failed(tried, null);
    }
    steps.done("checks");
    for (Path library : chosen.libraries()) {
      try {
        Dl.open(library, Dl.RTLD_LAZY);
      } catch (Dl.LoadError e) {
        tried.add("loading " + library + ": " + withoutPath(e.getMessage(), library));
        String lib = library.getFileName().toString();
        if (chosen.cuda() && (lib.matches("lib(c10|torch)_cuda\\.so.*") || e.getMessage().matches("(?s).*lib(cu|nv).*"))) {
          tried.add(chosen.describe() + " is a CUDA build, and its CUDA runtime libraries could not be loaded:"
              + " a pip torch gets them from the nvidia-* wheels it depends on (install torch without"
              + " --no-deps); a LibTorch download needs the CUDA " + chosen.flavour().replace("cuda", "").strip()
              + (chosen.flavour().equals("cuda") ? "" : " ") + "runtime (libcudart, cuBLAS, cuDNN) on"
              + " LD_LIBRARY_PATH. Without a GPU, use a CPU build of torch.");
        }
        throw failed(tried, null);
      }
    }
    steps.done("LibTorch libraries");
    Path file = materialise(shim, tried);
    steps.done("shim file");
    try {
      Dl.open(file, Dl.RTLD_NOW);   // every symbol bound now: a mismatch is this exception, not a crash later
      System.load(file.toAbsolutePath().toString());
    } catch (Dl.LoadError | UnsatisfiedLinkError e) {
      tried.add("loading the shim " + shim.source() + " (" + file + "): " + withoutPath(e.getMessage(), file));
      throw failed(tried, e);
    }
    steps.done("shim");
    checkAbi(tried);
    steps.done("ABI");
    description = chosen.describe() + ", found through " + chosen.foundBy() + "; shim " + shim.source();
    steps.report(description);
    shimFile = file;
    shimClassifier = shim.url() != null ? shim.classifier() : null;
  }

  /**
   * Milliseconds of each loading step, printed to stderr with MASKFORMER_VERBOSE=1 (where a slow
   * first call spends its time: docs/libtorch.md).
   */
  private static final class Steps {
    private final boolean verbose = "1".equals(System.getenv("MASKFORMER_VERBOSE"));
    private final StringBuilder text = new StringBuilder();
    private final long start = System.nanoTime();
    private long last = start;

    void done(String step) {
      if (verbose) {
        long now = System.nanoTime();
        text.append(text.isEmpty() ? "" : ", ").append(step).append(' ').append((now - last) / 1_000_000).append(" ms");
        last = now;
      }
    }

    void report(String what) {
      if (verbose) {
        System.err.println("maskformer: loaded " + what + " in " + (System.nanoTime() - start) / 1_000_000 + " ms ("
            + text + ")");
      }
    }
  }

  /** A shim: where it comes from, and what it was built for (null fields: not said). */
  record Shim(String source, URL url, Path file, String classifier, String version, String abi) {}

  /** The shim named by maskformer.library / MASKFORMER_LIBRARY, or null. */
  private static Shim overrideShim(List<String> tried) {
    String property = System.getProperty("maskformer.library");
    String env = System.getenv("MASKFORMER_LIBRARY");
    String name = property != null && !property.isBlank() ? "system property maskformer.library"
        : env != null && !env.isBlank() ? "MASKFORMER_LIBRARY" : null;
    if (name == null) {
      return null;
    }
    Path file = Path.of(name.startsWith("system") ? property : env);
    if (!Files.isRegularFile(file)) {
      tried.add(name + "=" + file + ": does not exist");
      throw failed(tried, null);
    }
    Properties p = readProperties(file.resolveSibling(PROPERTIES));
    return new Shim(name + "=" + file, null, file, p.getProperty("classifier"), p.getProperty("version"),
        p.getProperty("abi"));
  }

  private static Shim shimAt(URL url, String classifier, List<String> tried) {
    Properties p = new Properties();
    String props = resource(classifier, PROPERTIES);
    try (InputStream in = NativeLibrary.class.getClassLoader().getResourceAsStream(props)) {
      if (in != null) {
        p.load(in);
      }
    } catch (IOException e) {
      tried.add("  " + props + ": unreadable (" + e.getMessage() + ")");
    }
    return new Shim(classifier + " from " + where(url), url, null, classifier, p.getProperty("version"),
        p.getProperty("abi"));
  }

  /** The jar (or folder) a resource comes from, for messages. */
  static String where(URL url) {
    String s = url.toString();
    int bang = s.indexOf("!/");
    if (s.startsWith("jar:") && bang > 0) {
      return s.substring(4, bang).replaceFirst("^file:", "");
    }
    return s.replaceFirst("^file:", "");
  }

  /** Why the shim's version or ABI (as its properties say) does not fit this jar, or null. */
  static String checkShimVersion(Shim shim) {
    String mine = version();
    if (shim.version() != null && !shim.version().equals(mine)) {
      return "the shim " + shim.source() + " is of maskformer-java " + shim.version() + ", this jar is "
          + mine + ": use the maskformer-native jar of the same version";
    }
    if (shim.abi() != null && !shim.abi().equals(Integer.toString(EXPECTED_ABI))) {
      return "the shim " + shim.source() + " has C ABI " + shim.abi() + ", this jar needs " + EXPECTED_ABI;
    }
    return null;
  }

  /** The shims on the class path, as their native jars' index entries say. */
  static List<Shim> availableShims() {
    List<Shim> shims = new ArrayList<>();
    ClassLoader loader = NativeLibrary.class.getClassLoader();
    if (loader == null) {
      return shims;
    }
    try {
      Enumeration<URL> urls = loader.getResources(INDEX);
      while (urls.hasMoreElements()) {
        URL url = urls.nextElement();
        Properties p = new Properties();
        try (InputStream in = url.openStream()) {
          p.load(in);
        }
        // a native jar names its one shim; a jar of several (the runnable CLI) lists them
        if (p.getProperty("classifiers") != null) {
          for (String c : p.getProperty("classifiers").split(",")) {
            Properties one = new Properties();
            try (InputStream in = loader.getResourceAsStream(resource(c.strip(), PROPERTIES))) {
              if (in != null) {
                one.load(in);
              }
            }
            shims.add(new Shim(where(url), url, null, c.strip(), one.getProperty("version", "?"),
                one.getProperty("abi", "?")));
          }
          continue;
        }
        shims.add(new Shim(where(url), url, null, p.getProperty("classifier", "?"), p.getProperty("version", "?"),
            p.getProperty("abi", "?")));
      }
    } catch (IOException e) {
      // listed as none
    }
    return shims;
  }

  private static Properties readProperties(Path file) {
    Properties p = new Properties();
    if (Files.isRegularFile(file)) {
      try (InputStream in = Files.newInputStream(file)) {
        p.load(in);
      } catch (IOException e) {
        // no sidecar: the shim is checked after loading
      }
    }
    return p;
  }

  /**
   * Why {@code torch} cannot be loaded because another LibTorch already is (by other code in this
   * process: its libraries would take the place of ours by soname), or null.
   */
  static String alreadyLoaded(LibTorch torch) {
    Path maps = Path.of("/proc/self/maps");
    if (!Files.isReadable(maps)) {
      return null;
    }
    Path ours = LibTorch.realOrSelf(torch.libDir());
    try {
      for (String line : Files.readAllLines(maps)) {
        int slash = line.indexOf('/');
        if (slash < 0) {
          continue;
        }
        Path mapped = Path.of(line.substring(slash).strip());
        String name = mapped.getFileName().toString();
        if (name.matches("lib(torch_cpu|c10)\\.so.*") && !LibTorch.realOrSelf(mapped.getParent()).equals(ours)
            && !mapped.getParent().equals(torch.libDir())) {
          return "another LibTorch is already loaded in this process (" + mapped + "), by other code (another"
              + " library of this JVM?); the shim must run on the same one: point LIBTORCH_HOME at "
              + mapped.getParent();
        }
      }
    } catch (IOException | RuntimeException e) {
      return null;
    }
    return null;
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

  /** A file for the shim: itself when the classes are a directory, else a cached copy. */
  private static Path materialise(Shim shim, List<String> tried) {
    if (shim.file() != null) {
      return shim.file();
    }
    URL url = shim.url();
    if ("file".equals(url.getProtocol())) {
      try {
        return Path.of(url.toURI());
      } catch (URISyntaxException e) {
        tried.add("shim " + shim.source() + ": bad URL " + url);
        throw failed(tried, e);
      }
    }
    try (InputStream in = url.openStream()) {
      byte[] bytes = in.readAllBytes();
      // named by version, classifier and CRC-32 (cheap in a fresh JVM, unlike a MessageDigest's
      // provider set-up); a copy is used only if its bytes are the jar's, else written again
      CRC32 crc = new CRC32();
      crc.update(bytes);
      Path dir = cacheDirectory().resolve(NativeLibrary.version() + "-" + shim.classifier() + "-"
          + Long.toHexString(crc.getValue() | 1L << 32).substring(1)); // 8 hex digits, no Formatter to load
      Path file = dir.resolve(LIBRARY);
      if (!sameBytes(file, bytes)) {
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
    } catch (IOException | RuntimeException e) {
      tried.add("shim " + shim.source() + ": could not extract it to " + cacheDirectory() + ": " + e);
      throw failed(tried, e);
    }
  }

  /** Whether {@code file} is a regular file holding exactly {@code bytes}. */
  static boolean sameBytes(Path file, byte[] bytes) {
    try {
      return Files.isRegularFile(file) && Files.size(file) == bytes.length
          && Arrays.equals(Files.readAllBytes(file), bytes);
    } catch (IOException | RuntimeException e) {
      return false;
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
    String shimVersion = maskformer_h.mf_version().reinterpret(256).getString(0);
    if (!shimVersion.equals(version())) {
      tried.add("version: the shim is of maskformer-java " + shimVersion + ", this jar is " + version()
          + ": use the maskformer-native jar of the same version");
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

  private static NativeException failed(List<String> tried, Throwable cause) {
    // the shims of the whole class path are listed only here: finding them opens every jar (a
    // quarter second with Flink's jars on the class path), a successful load needs only its own
    List<Shim> available = availableShims();
    StringBuilder b = new StringBuilder("could not load the maskformer native library; tried:");
    for (String t : tried) {
      b.append("\n  - ").append(t);
    }
    b.append("\nShims on the class path (maskformer-native jars):");
    if (available.isEmpty()) {
      b.append(" none");
    }
    for (Shim s : available) {
      b.append("\n  - ").append(s.classifier()).append(" (version ").append(s.version()).append(", ABI ")
          .append(s.abi()).append(", ").append(s.source()).append(")");
    }
    b.append("\nThis jar is maskformer-java ").append(version()).append(" for ").append(platform())
        .append(". It needs a LibTorch and the maskformer-native jar built for its version and flavour:")
        .append(" pip install torch (found through python3 on the PATH or MASKFORMER_PYTHON),")
        .append(" LIBTORCH_HOME=<an unpacked LibTorch> (or -Dmaskformer.libtorch),")
        .append(" or Debian's apt-get install libtorch-dev (1.13).")
        .append(" README \"Which LibTorch\" lists the search order and the native classifiers.");
    return new NativeException(b.toString(), cause);
  }
}
