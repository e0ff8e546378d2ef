// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.internal;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.maskformer.internal.ffi.maskformer_h;
import dev.maskformer.internal.ffi.mf_host_cache_stats;
import dev.maskformer.internal.ffi.mf_image;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Process-wide native facilities: versions, threads, the host memory cache and host buffers.
 *
 * <p>Thread-safety: all methods are thread-safe.
 */
public final class NativeRuntime {
  private NativeRuntime() {}

  /**
   * The native side as loaded: the shim's version and ABI, the LibTorch compiled against and the
   * one loaded (version, file), CUDA, threads, the MF_CPU_* bits, OpenMP settings, host cache
   * bytes, and how the libraries were found.
   */
  public record Info(String version, int abi, String libtorchCompiled, String libtorchLoaded, String libtorchFile,
      boolean cudaCompiled, int cudaDevices, int threads, int defaultThreads, int maxThreads, int cpuFeatures,
      String openMp, long hostCacheBytes, String description) {}

  public static Info info() {
    NativeLibrary.ensureLoaded();
    String[] loaded = loadedLibtorch();
    return new Info(
        maskformer_h.mf_version().reinterpret(256).getString(0),
        maskformer_h.mf_abi_version(),
        maskformer_h.mf_libtorch_version().reinterpret(256).getString(0),
        loaded[0],
        loaded[1],
        maskformer_h.mf_cuda_compiled() != 0,
        maskformer_h.mf_cuda_device_count(),
        maskformer_h.mf_get_num_threads(),
        maskformer_h.mf_default_threads(),
        maskformer_h.mf_max_threads(),
        maskformer_h.mf_cpu_features(),
        NativeLibrary.openMpSettings(),
        maskformer_h.mf_host_cache_bytes(),
        NativeLibrary.description());
  }

  /** {version, file} of the LibTorch loaded in this process ("" when unknown). */
  static String[] loadedLibtorch() {
    try (Arena call = Arena.ofConfined()) {
      MemorySegment version = call.allocate(ADDRESS);
      MemorySegment file = call.allocate(ADDRESS);
      NativeStatus.check(maskformer_h.mf_libtorch_loaded(version, file), "libtorch version", null);
      return new String[] {
        version.get(ADDRESS, 0).reinterpret(4096).getString(0),
        file.get(ADDRESS, 0).reinterpret(4096).getString(0)
      };
    }
  }

  private static final ConcurrentHashMap<Integer, maskformer_h.mf_image_to_rgb> TO_RGB =
      new ConcurrentHashMap<>();

  /**
   * mf_image_to_rgb: the image as packed RGB into {@code rgb} (checked by the caller: native,
   * writable, large enough). The image's segments and {@code rgb} are downcall arguments, so no
   * arena can free them during the conversion. {@code context} names the image in messages.
   */
  public static void toRgb(NativeModel.Image image, MemorySegment rgb, String context) {
    NativeLibrary.ensureLoaded();
    try (Arena call = Arena.ofConfined()) {
      MemorySegment struct = mf_image.allocate(call);
      Set<MemorySegment> keep = Collections.newSetFromMap(new IdentityHashMap<>());
      NativeModel.describe(image, struct, keep);
      keep.add(rgb);
      Object[] args = keep.toArray();
      maskformer_h.mf_image_to_rgb invoker = TO_RGB.computeIfAbsent(args.length, n ->
          maskformer_h.mf_image_to_rgb.makeInvoker(NativeModel.addresses(n)));
      int status = NativeModel.call(() -> invoker.apply(struct, rgb, rgb.byteSize(), args.length, args));
      NativeStatus.check(status, "toRgb", context);
    }
  }

  /** {free, total} bytes of a CUDA device. */
  public static long[] cudaMemory(int device) {
    NativeLibrary.ensureLoaded();
    try (Arena call = Arena.ofConfined()) {
      MemorySegment free = call.allocate(JAVA_LONG);
      MemorySegment total = call.allocate(JAVA_LONG);
      NativeStatus.check(maskformer_h.mf_cuda_memory(device, free, total), "device memory", "cuda:" + device);
      return new long[] {free.get(JAVA_LONG, 0), total.get(JAVA_LONG, 0)};
    }
  }

  /** The largest thread count LibTorch may be given here. */
  public static int maxThreads() {
    NativeLibrary.ensureLoaded();
    return maskformer_h.mf_max_threads();
  }

  /** Checks a thread count against 1..maxThreads(), before any native call uses it. */
  public static void checkThreads(int threads, String what) {
    int max = maxThreads();
    if (threads < 1 || threads > max) {
      throw new IllegalArgumentException(what + " must be 1.." + max + " (4 x the CPUs this process"
          + " may use), got " + threads);
    }
  }

  public static void setThreads(int threads) {
    checkThreads(threads, "thread count");
    NativeStatus.check(maskformer_h.mf_set_num_threads(threads), "set threads", null);
  }

  /** Milliseconds of each forward pass alone at a network size (benchmarks). */
  public static double[] benchmarkForward(MemorySegment model, int width, int height, int batch, int iters) {
    try (Arena call = Arena.ofConfined()) {
      MemorySegment out = call.allocate(JAVA_DOUBLE, iters);
      NativeStatus.check(maskformer_h.mf_model_benchmark_forward(model, width, height, batch, iters, out),
          "forward benchmark", width + "x" + height + " x " + batch);
      return out.toArray(JAVA_DOUBLE);
    }
  }

  /** Best matmul GFLOP/s of this LibTorch on a device (-1: CPU) in a precision. */
  public static double matmulGflops(int device, int precision, int n, int iters) {
    NativeLibrary.ensureLoaded();
    try (Arena call = Arena.ofConfined()) {
      MemorySegment out = call.allocate(JAVA_DOUBLE);
      NativeStatus.check(maskformer_h.mf_benchmark_matmul(device, precision, n, iters, out),
          "matmul benchmark", n + "x" + n);
      return out.get(JAVA_DOUBLE, 0);
    }
  }

  public static void setHostCacheLimit(long bytes) {
    if (bytes < 0 && bytes != maskformer_h.MF_HOST_CACHE_AUTO()) {
      throw new IllegalArgumentException("cache limit must be >= 0 or HOST_CACHE_AUTO (-1), got " + bytes);
    }
    NativeLibrary.ensureLoaded();
    NativeStatus.check(maskformer_h.mf_set_host_cache_limit(bytes), "set host cache limit", null);
  }

  /**
   * The host cache's counters, mf_host_cache_stats's fields after struct_size in their order:
   * automatic (1 or 0), limit, cached bytes, cached blocks, hits, misses, evictions, returned,
   * bytes in use, peak in use, largest call.
   */
  public static long[] hostCacheStats() {
    NativeLibrary.ensureLoaded();
    try (Arena call = Arena.ofConfined()) {
      MemorySegment s = mf_host_cache_stats.allocate(call);
      mf_host_cache_stats.struct_size(s, (int) mf_host_cache_stats.sizeof());
      NativeStatus.check(maskformer_h.mf_host_cache_stats_get(s), "host cache stats", null);
      return new long[] {
          mf_host_cache_stats.automatic(s),
          mf_host_cache_stats.limit(s),
          mf_host_cache_stats.cached_bytes(s),
          mf_host_cache_stats.cached_blocks(s),
          mf_host_cache_stats.hits(s),
          mf_host_cache_stats.misses(s),
          mf_host_cache_stats.evictions(s),
          mf_host_cache_stats.returned(s),
          mf_host_cache_stats.in_use(s),
          mf_host_cache_stats.peak_in_use(s),
          mf_host_cache_stats.largest_call(s)};
    }
  }

  /** Host memory from mf_host_alloc, freed by mf_host_free when {@code arena} closes. */
  public static MemorySegment allocateHost(Arena arena, long bytes) {
    Objects.requireNonNull(arena, "arena");
    if (bytes <= 0) {
      throw new IllegalArgumentException("size must be positive, got " + bytes);
    }
    NativeLibrary.ensureLoaded();
    MemorySegment raw;
    try (Arena call = Arena.ofConfined()) {
      MemorySegment out = call.allocate(ADDRESS);
      MemorySegment pinned = call.allocate(JAVA_INT);
      NativeStatus.check(maskformer_h.mf_host_alloc(bytes, out, pinned), "host allocation",
          bytes + " bytes");
      raw = out.get(ADDRESS, 0);
    }
    try {
      return raw.reinterpret(bytes, arena, NativeRuntime::free);
    } catch (RuntimeException e) { // arena already closed
      maskformer_h.mf_host_free(raw);
      throw e;
    }
  }

  private static void free(MemorySegment segment) {
    maskformer_h.mf_host_free(segment);
  }

  public static long liveHandles() {
    NativeLibrary.ensureLoaded();
    return maskformer_h.mf_debug_live_handles();
  }

  /** Minor page faults of the process so far. */
  public static long pageFaults() {
    NativeLibrary.ensureLoaded();
    return maskformer_h.mf_debug_page_faults();
  }
}
