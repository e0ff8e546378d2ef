// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/**
 * The native side as loaded in this process.
 *
 * @param shimVersion version of the maskformer shim
 * @param abiVersion its C ABI version
 * @param libtorchVersion version of the LibTorch it was built against
 * @param cudaCompiled whether that LibTorch has CUDA support
 * @param cudaDevices usable CUDA devices
 * @param intraOpThreads LibTorch's intra-op thread count
 * @param hostCacheBytes bytes of freed CPU tensor memory kept for reuse
 */
public record RuntimeInfo(
    String shimVersion,
    int abiVersion,
    String libtorchVersion,
    boolean cudaCompiled,
    int cudaDevices,
    int intraOpThreads,
    long hostCacheBytes) {}
