// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.internal;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.maskformer.RuntimeInfo;
import dev.maskformer.internal.ffi.maskformer_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * Process-wide native facilities: versions, threads, the host memory cache and host buffers.
 *
 * <p>Thread-safety: all methods are thread-safe.
 */
public final class NativeRuntime {
  private NativeRuntime() {}

  public static RuntimeInfo info() {
    NativeLibrary.ensureLoaded();
    return new RuntimeInfo(
        maskformer_h.mf_version().reinterpret(256).getString(0),
        maskformer_h.mf_abi_version(),
        maskformer_h.mf_libtorch_version().reinterpret(256).getString(0),
        maskformer_h.mf_cuda_compiled() != 0,
        maskformer_h.mf_cuda_device_count(),
        maskformer_h.mf_get_num_threads(),
        maskformer_h.mf_host_cache_bytes());
  }

  public static void setThreads(int threads) {
    if (threads < 1) {
      throw new IllegalArgumentException("thread count must be >= 1, got " + threads);
    }
    NativeLibrary.ensureLoaded();
    NativeStatus.check(maskformer_h.mf_set_num_threads(threads), "set threads", null);
  }

  public static void setHostCacheLimit(long bytes) {
    if (bytes < 0) {
      throw new IllegalArgumentException("cache limit must be >= 0, got " + bytes);
    }
    NativeLibrary.ensureLoaded();
    NativeStatus.check(maskformer_h.mf_set_host_cache_limit(bytes), "set host cache limit", null);
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
