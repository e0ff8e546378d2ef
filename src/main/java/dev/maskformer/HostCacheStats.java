// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/**
 * Counters of the process-wide host cache: freed CPU tensor memory kept for reuse so that calls
 * in a steady state do not page-fault (see {@link MaskFormer#setHostCacheLimit(long)}).
 *
 * @param automatic whether the limit is the automatic one ({@link MaskFormer#HOST_CACHE_AUTO})
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
