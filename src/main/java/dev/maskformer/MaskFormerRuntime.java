// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Set;
import dev.maskformer.internal.NativeRuntime;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * The process-wide side of the library: which LibTorch and shim are loaded, devices, LibTorch's
 * intra-op threads, the host cache, pinned host memory, and counters for leak checks. Settings
 * here apply to every model of the process: set them once at start-up.
 *
 * <p>Thread-safety: all methods are thread-safe.
 */
public final class MaskFormerRuntime {
  private MaskFormerRuntime() {}

  /** Versions and devices of the native side (loads it if needed). */
  public static RuntimeInfo info() {
    NativeRuntime.Info i = NativeCalls.call(NativeRuntime::info);
    return new RuntimeInfo(i.version(), i.abi(), i.libtorchCompiled(), i.libtorchLoaded(), i.libtorchFile(),
        i.cudaCompiled(), i.cudaDevices(), i.threads(), i.defaultThreads(), i.maxThreads(), CpuFeature.of(i.cpuFeatures()),
        i.openMp(), i.hostCacheBytes(), i.description());
  }

  /**
   * Free and total memory of a CUDA device, e.g. to size batches or watch for growth.
   *
   * @throws UnsupportedDeviceException for the CPU, a shim without CUDA, or no such device
   */
  public static DeviceMemory deviceMemory(Device device) {
    Objects.requireNonNull(device, "device");
    if (device.isCpu()) {
      throw new UnsupportedDeviceException("device memory is reported for CUDA devices, not the CPU");
    }
    long[] m = NativeCalls.call(() -> NativeRuntime.cudaMemory(device.index()));
    return new DeviceMemory(m[0], m[1]);
  }

  /** Number of usable CUDA devices (0 without CUDA). */
  public static int cudaDeviceCount() {
    return info().cudaDevices();
  }

  /**
   * Sets LibTorch's intra-op threads for the whole process; call once at start-up. Without it,
   * the first model load sets {@link RuntimeInfo#defaultThreads()} (the CPUs this process may
   * use), unless {@code OMP_NUM_THREADS} is set.
   *
   * @throws IllegalArgumentException outside 1..{@link RuntimeInfo#maxThreads()}
   */
  public static void setIntraOpThreads(int threads) {
    NativeCalls.run(() -> NativeRuntime.setThreads(threads));
  }

  /** {@link #setHostCacheLimit(long)}'s automatic limit (the default). */
  public static final long HOST_CACHE_AUTO = -1;

  /**
   * Bytes of freed CPU tensor memory the process keeps for reuse, so that calls in a steady state
   * do not page-fault. The default, {@link #HOST_CACHE_AUTO}, follows the workload: twice the
   * largest working set of one segment call times the most calls seen in flight at once, between
   * 32 MiB and 2 GiB. 0 releases it all and disables the cache; a smaller limit evicts the least
   * recently freed blocks first.
   */
  public static void setHostCacheLimit(long bytes) {
    NativeCalls.run(() -> NativeRuntime.setHostCacheLimit(bytes));
  }

  /** The host cache's counters now. */
  public static HostCacheStats hostCacheStats() {
    long[] s = NativeCalls.call(NativeRuntime::hostCacheStats);
    return new HostCacheStats(s[0] != 0, s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10]);
  }

  /**
   * Host memory for frames and outputs, owned by {@code arena} (freed when it closes). With CUDA
   * the memory is page-locked, so frames reach the GPU, and results come back, in one
   * asynchronous transfer each; without CUDA it is ordinary 64-byte aligned memory.
   */
  public static MemorySegment allocateHost(Arena arena, long bytes) {
    return NativeCalls.call(() -> NativeRuntime.allocateHost(arena, bytes));
  }

  /** Live native handles (models and host buffers) of the process; for leak checks. */
  public static long liveNativeHandles() {
    return NativeCalls.call(NativeRuntime::liveHandles);
  }

  /**
   * The native side as loaded in this process.
   *
   * @param shimVersion version of the maskformer shim
   * @param abiVersion its C ABI version
   * @param libtorchVersion version of the LibTorch it was compiled against
   * @param libtorchLoaded version of the LibTorch loaded in this process ("" if it does not say);
   *     its major.minor always equals the compiled one (the library refuses to load otherwise)
   * @param libtorchFile the loaded libtorch_cpu library ("" if unknown)
   * @param cudaCompiled whether that LibTorch has CUDA support
   * @param cudaDevices usable CUDA devices
   * @param intraOpThreads LibTorch's intra-op thread count now
   * @param defaultThreads the count set when the first model loads and none was chosen: the CPUs
   *     this process may run on
   * @param maxThreads the largest count {@link MaskFormerRuntime#setIntraOpThreads} and {@link
   *     LoadOptions#intraOpThreads} accept
   * @param cpuFeatures the CPU's inference-relevant instruction sets
   * @param openMp the OpenMP settings in force, e.g. {@code GOMP_SPINCOUNT=1000} (the library's
   *     default, set before LibTorch loads unless {@code OMP_WAIT_POLICY} or {@code GOMP_SPINCOUNT}
   *     were set by the user)
   * @param hostCacheBytes bytes of freed CPU tensor memory kept for reuse
   * @param loadedFrom which LibTorch and which shim were loaded, and how they were found (README
   *     "Which LibTorch"), e.g. {@code LibTorch 2.13.0+cpu (cpu) in /opt/venv/.../torch/lib, found
   *     through MASKFORMER_PYTHON=...; shim linux-x86_64-torch2.13-cpu from maskformer-native-...jar}
   */
  public record RuntimeInfo(
      String shimVersion,
      int abiVersion,
      String libtorchVersion,
      String libtorchLoaded,
      String libtorchFile,
      boolean cudaCompiled,
      int cudaDevices,
      int intraOpThreads,
      int defaultThreads,
      int maxThreads,
      Set<CpuFeature> cpuFeatures,
      String openMp,
      long hostCacheBytes,
      String loadedFrom) {
    public RuntimeInfo {
      cpuFeatures = cpuFeatures.isEmpty() ? Set.of()
          : Collections.unmodifiableSet(EnumSet.copyOf(cpuFeatures)); // in declaration order
    }

    /** Whether bf16 runs natively on this CPU ({@link Precision#BF16} on the CPU needs it). */
    public boolean cpuNativeBf16() {
      return CpuFeature.nativeBf16(cpuFeatures);
    }
  }

  /**
   * Counters of the process-wide host cache: freed CPU tensor memory kept for reuse so that calls
   * in a steady state do not page-fault (see {@link MaskFormerRuntime#setHostCacheLimit(long)}).
   *
   * @param automatic whether the limit is the automatic one ({@link MaskFormerRuntime#HOST_CACHE_AUTO})
   * @param limit the limit in force, in bytes
   * @param cachedBytes bytes held for reuse now
   * @param cachedBlocks blocks held for reuse now
   * @param hits allocations served from the cache
   * @param misses cacheable allocations (128 KiB and more) the cache could not serve
   * @param evictions blocks dropped, least recently freed first, to stay under the limit
   * @param returned freed blocks larger than the limit, returned to the system at once
   * @param inUse bytes of CPU tensors alive now, the weights of loaded CPU models included
   * @param peakInUse the most bytes alive at once so far
   * @param largestCall the largest working set of one segment call so far
   */
  public record HostCacheStats(
      boolean automatic,
      long limit,
      long cachedBytes,
      long cachedBlocks,
      long hits,
      long misses,
      long evictions,
      long returned,
      long inUse,
      long peakInUse,
      long largestCall) {

    /** Hits over cacheable allocations, 0 when there were none. */
    public double hitRate() {
      long all = hits + misses;
      return all == 0 ? 0.0 : (double) hits / all;
    }
  }

  /**
   * Memory of a CUDA device as its driver reports it ({@link MaskFormerRuntime#deviceMemory}); memory that
   * LibTorch's caching allocator holds for reuse counts as used.
   *
   * @param freeBytes bytes free now
   * @param totalBytes bytes the device has
   */
  public record DeviceMemory(long freeBytes, long totalBytes) {}

  /**
   * Instruction-set features of this machine's CPU that matter for inference, as the shim detects
   * them (supported by the processor and enabled by the operating system).
   */
  public enum CpuFeature {
    AVX2(1),
    AVX512(2),
    /** Native bf16 dot products: {@link Precision#BF16} runs natively. */
    AVX512_BF16(4),
    /** Advanced Matrix Extensions tiles with bf16: {@link Precision#BF16} runs natively. */
    AMX_BF16(8);

    private final int bit;

    CpuFeature(int bit) {
      this.bit = bit;
    }

    /** The features whose bits are set in {@code bits} (the C ABI's MF_CPU_* values). */
    public static Set<CpuFeature> of(int bits) {
      EnumSet<CpuFeature> set = EnumSet.noneOf(CpuFeature.class);
      for (CpuFeature f : values()) {
        if ((bits & f.bit) != 0) {
          set.add(f);
        }
      }
      return set;
    }

    /** Whether a CPU with these features runs bf16 natively (otherwise bf16 loads are refused). */
    public static boolean nativeBf16(Set<CpuFeature> features) {
      return features.contains(AVX512_BF16) || features.contains(AMX_BF16);
    }
  }
}
