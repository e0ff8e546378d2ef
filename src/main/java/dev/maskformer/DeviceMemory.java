// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/**
 * Memory of a CUDA device as its driver reports it ({@link MaskFormer#deviceMemory}); memory that
 * LibTorch's caching allocator holds for reuse counts as used.
 *
 * @param freeBytes bytes free now
 * @param totalBytes bytes the device has
 */
public record DeviceMemory(long freeBytes, long totalBytes) {}
