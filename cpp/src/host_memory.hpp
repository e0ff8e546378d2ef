// SPDX-License-Identifier: Apache-2.0
// Host memory: a caching CPU allocator for LibTorch, and frame buffers (pinned when CUDA exists).
//
// Why the caching allocator: a forward pass allocates and frees the same large tensors on every
// call. Called from a JVM thread, glibc serves such blocks with fresh mmaps (or trims its
// per-thread heaps) and the kernel faults every page in again: measured at 8x the time of the
// same work in a Python process. Keeping freed large blocks for reuse makes steady-state calls
// fault-free, whatever the malloc settings of the host process.
#pragma once

#include <cstddef>
#include <cstdint>

namespace maskformer {

// Installs the caching allocator as LibTorch's CPU allocator (idempotent, thread-safe).
void install_host_allocator();

// Bytes the cache may keep; 0 disables caching and frees what it holds; < 0: automatic.
void set_host_cache_limit(int64_t bytes);
int64_t host_cache_bytes();

struct HostCacheStats {
  int64_t cached_bytes = 0, cached_blocks = 0, limit = 0;
  bool automatic = true;
  uint64_t hits = 0, misses = 0, evictions = 0, returned = 0;
  int64_t in_use = 0, peak_in_use = 0, largest_call = 0;
};
HostCacheStats host_cache_stats();

// Marks one segment call on this thread: the bytes it holds at most (its working set) size the
// automatic cache limit. Nestable; the thread's own accounting is restored on exit.
class HostCallScope {
 public:
  HostCallScope();
  ~HostCallScope();
  HostCallScope(const HostCallScope&) = delete;
  HostCallScope& operator=(const HostCallScope&) = delete;

 private:
  int64_t saved_live_ = 0, saved_peak_ = 0;
};

// Marks a model load on this thread: large blocks allocated meanwhile (the weights as read, the
// weights prepacked for oneDNN) live as long as the model and are mapped with transparent huge
// pages from 4 MiB, where the system allows it and MASKFORMER_HUGE_PAGES is not 0: they fault
// once per 2 MiB instead of once per 4 KiB. Blocks made by calls get them only from 16 MiB (huge
// pages for all call blocks from 4 MiB made steady demo calls 3-8% slower once). Nestable.
class LongLivedScope {
 public:
  LongLivedScope();
  ~LongLivedScope();
  LongLivedScope(const LongLivedScope&) = delete;
  LongLivedScope& operator=(const LongLivedScope&) = delete;
};

// Frame buffers for callers (mf_host_alloc). Pinned when CUDA is available.
void* host_buffer_alloc(int64_t size, bool* pinned);
// Releases a buffer; false when `ptr` did not come from host_buffer_alloc (nothing is done).
bool host_buffer_release(void* ptr);
// Whether [ptr, ptr+size) lies inside one pinned buffer from host_buffer_alloc.
bool host_buffer_is_pinned(const void* ptr, int64_t size);

}  // namespace maskformer
