// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Set;

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
 * @param maxThreads the largest count {@link MaskFormer#setIntraOpThreads} and {@link
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
