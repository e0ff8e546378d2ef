// SPDX-License-Identifier: Apache-2.0
#include "host_memory.hpp"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <type_traits>

#include "error.hpp"

namespace maskformer {

namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kHeader = 64;                 // block size lives just before the data
constexpr size_t kCacheMin = 128 * 1024;       // smaller blocks go straight back to malloc
constexpr size_t kHugeMin = size_t(4) << 20;   // blocks this large made at load ask for transparent huge pages
constexpr size_t kHugeCallMin = size_t(16) << 20;  // and blocks this large made by calls
constexpr size_t kAutoFloor = size_t(32) << 20;  // the automatic limit never goes below this
constexpr size_t kDefaultCap = size_t(2) << 30;  // nor above this, unless set explicitly

// Freed blocks of at least kCacheMin bytes, for reuse. A request takes the smallest cached block
// of its size class or up to two classes larger (at most ~28% slack); freeing into a full cache
// evicts the least recently freed blocks first. The limit is automatic unless set: the largest
// footprint one segment call needs (see CallShadow) times the calls seen in flight at once (so
// one call's worth of every concurrent caller is kept), between kAutoFloor and kDefaultCap.
//
// Why the footprint and not the working set: a call holds at most its working set at once (the
// peak of live bytes), but blocks of one size class cannot serve requests two classes away, so
// a call whose stages allocate different sizes (a Swin backbone's four resolutions, then the
// decoder's) needs several working sets' worth of blocks: measured 2.5x the working set for the
// demo model and 3.7x for Swin-T at 512x512. A limit of twice the working set evicted blocks
// that the same call mapped again a moment later: 13,600 page faults per steady demo call,
// 97,000 per Swin-T call.
void release_block(void* data);

struct Cache {
  struct Entry {
    size_t size;
    void* data;
  };
  std::mutex mu;
  std::list<Entry> lru;                                        // front: most recently freed
  std::multimap<size_t, std::list<Entry>::iterator> by_size;  // usable size -> entry
  size_t bytes = 0;
  int64_t explicit_limit = -1;  // -1: automatic
  size_t auto_limit = kAutoFloor;
  uint64_t hits = 0, misses = 0, evictions = 0, returned = 0;
  std::atomic<int64_t> in_use{0}, peak_in_use{0};
  size_t largest_call = 0, largest_footprint = 0;
  int concurrent_calls = 0, peak_concurrent_calls = 0;

  void update_auto_limit() {  // holds mu
    // a quarter more than the footprint: the real cache, warm, may pick other blocks than the
    // shadow's cold run did; never less than twice the working set
    const size_t one_call = std::max(2 * largest_call, largest_footprint + largest_footprint / 4);
    const size_t want = one_call * static_cast<size_t>(std::max(1, peak_concurrent_calls));
    auto_limit = std::min(kDefaultCap, std::max(kAutoFloor, want));
  }

  size_t limit() const { return explicit_limit >= 0 ? static_cast<size_t>(explicit_limit) : auto_limit; }

  void evict_lru() {  // holds mu
    Entry victim = lru.back();
    auto range = by_size.equal_range(victim.size);
    for (auto it = range.first; it != range.second; ++it)
      if (it->second->data == victim.data) {
        by_size.erase(it);
        break;
      }
    lru.pop_back();
    bytes -= victim.size;
    ++evictions;
    release_block(victim.data);
  }

  void fit(size_t room) {  // holds mu: evicts until `room` more bytes fit under the limit
    while (!lru.empty() && bytes + room > limit()) evict_lru();
  }
};

// Never destroyed: tensors may be freed during static destruction at process exit.
Cache& cache() {
  static Cache* c = new Cache();
  return *c;
}

// Per-thread accounting of what one segment call holds (HostCallScope).
thread_local int64_t tl_live = 0;
thread_local int64_t tl_peak = 0;

// The footprint of one segment call: the bytes of blocks it would map if it started from an empty
// cache without a limit. The calling thread replays its own requests and frees of cacheable blocks
// against a shadow cache that holds only sizes and applies the cache's own rule (the smallest
// block of the size class or up to two classes larger), counting what the shadow had to map.
// This is the limit under which a repeated call at the same sizes is served from the cache alone,
// and it is measured the same whether or not the real cache was large enough this time. A few
// hundred set operations per call; frees on other threads (intra-op workers) are not seen.
struct CallShadow {
  int depth = 0;  // HostCallScope nesting on this thread; the outermost one measures
  bool valid = false;
  std::multiset<size_t> free_sizes;
  size_t mapped = 0;
};
thread_local CallShadow tl_shadow;

bool fits(size_t block, size_t request) { return block <= request + request / 4 + kAlignment; }

void shadow_take(size_t size) noexcept {
  CallShadow& s = tl_shadow;
  if (s.depth == 0 || !s.valid) return;
  auto it = s.free_sizes.lower_bound(size);
  if (it != s.free_sizes.end() && fits(*it, size))
    s.free_sizes.erase(it);
  else
    s.mapped += size;
}

void shadow_free(size_t size) noexcept {
  CallShadow& s = tl_shadow;
  if (s.depth == 0 || !s.valid) return;
  try {
    s.free_sizes.insert(size);
  } catch (...) {  // a deleter must not throw: this call's footprint is not known then
    s.valid = false;
  }
}

// Large sizes are rounded up to 1/8 of their power of two (at most 12.5% slack) so that blocks of
// nearly equal size, common between calls with slightly different frames, are shared.
size_t round_size(size_t n) {
  if (n < kCacheMin) return (n + kAlignment - 1) / kAlignment * kAlignment;
  size_t pow2 = size_t(1) << (63 - __builtin_clzll(static_cast<unsigned long long>(n)));
  size_t step = std::max(pow2 / 8, kCacheMin / 2);
  return (n + step - 1) / step * step;
}

thread_local int tl_long_lived = 0;  // LongLivedScope depth

bool huge_pages_wanted() {
  static const bool wanted = [] {
    const char* env = std::getenv("MASKFORMER_HUGE_PAGES");
    return env == nullptr || std::string(env) != "0";
  }();
  return wanted;
}

// Blocks of kCacheMin and more are mapped from the kernel directly, not taken from malloc: glibc
// serves large requests from its heaps once its dynamic mmap threshold has risen, and the holes
// such blocks leave when freed stay resident, so evicting from the cache would not give memory
// back. A mapping is returned exactly when it is unmapped.
void* raw_block(size_t usable) {
  if (usable >= kCacheMin) {
    void* base = ::mmap(nullptr, kHeader + usable, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return nullptr;
    // Transparent huge pages for a large block: it faults once per 2 MiB instead of once per 4 KiB.
    // On the VMs measured a 4 KiB fault costs ~11 us (touching 100 MB fresh: 280 ms; 6 ms with
    // huge pages once the host backs the memory). Blocks made while a model loads
    // (LongLivedScope: Swin-T's weights and their oneDNN copies, ~220 MB) from 4 MiB; blocks made
    // by calls from 16 MiB (Swin-T's first call faulted 212K pages, 120K with this; the demo's
    // calls at 512x384 make no block this large). Only where the system lets processes ask
    // (/sys/kernel/mm/transparent_hugepage/enabled "madvise" or "always").
    if (kHeader + usable >= (tl_long_lived > 0 ? kHugeMin : kHugeCallMin) && huge_pages_wanted())
      (void)::madvise(base, kHeader + usable, MADV_HUGEPAGE);
    *static_cast<size_t*>(base) = usable;
    return static_cast<char*>(base) + kHeader;
  }
  void* base = std::aligned_alloc(kAlignment, kHeader + usable);
  if (base == nullptr) return nullptr;
  *static_cast<size_t*>(base) = usable;
  return static_cast<char*>(base) + kHeader;
}

size_t block_size(void* data) {
  return *reinterpret_cast<size_t*>(static_cast<char*>(data) - kHeader);
}

void release_block(void* data) {
  char* base = static_cast<char*>(data) - kHeader;
  const size_t usable = block_size(data);
  if (usable >= kCacheMin)
    ::munmap(base, kHeader + usable);
  else
    std::free(base);
}

void account(int64_t delta) {
  Cache& c = cache();
  const int64_t now = c.in_use.fetch_add(delta, std::memory_order_relaxed) + delta;
  int64_t peak = c.peak_in_use.load(std::memory_order_relaxed);
  while (now > peak && !c.peak_in_use.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
  tl_live += delta;
  if (tl_live > tl_peak) tl_peak = tl_live;
}

void free_block(void* data) {
  if (data == nullptr) return;
  size_t size = block_size(data);
  account(-static_cast<int64_t>(size));
  if (size >= kCacheMin) {
    shadow_free(size);
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    if (size <= c.limit()) {
      c.fit(size);
      // a deleter must not throw: when the bookkeeping itself cannot allocate, the block goes
      // back to the system instead
      try {
        c.lru.push_front({size, data});
        try {
          c.by_size.emplace(size, c.lru.begin());
        } catch (...) {
          c.lru.pop_front();
          throw;
        }
        c.bytes += size;
        return;
      } catch (...) {
      }
    }
    ++c.returned;
  }
  release_block(data);
}

void* take_block(size_t n) {
  size_t size = round_size(n);
  if (size >= kCacheMin) {
    shadow_take(size);
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.by_size.lower_bound(size);
    // the next two size classes up: a step is 1/8 of the power of two, so ~2/8 more at most
    if (it != c.by_size.end() && fits(it->first, size)) {
      const size_t got = it->first;
      void* data = it->second->data;
      c.lru.erase(it->second);
      c.by_size.erase(it);
      c.bytes -= got;
      ++c.hits;
      account(static_cast<int64_t>(got));
      return data;
    }
    ++c.misses;
  }
  void* data = raw_block(size);
  if (data == nullptr) {
    // give the cache back to the system and try once more before reporting exhaustion
    {
      Cache& c = cache();
      std::lock_guard<std::mutex> lock(c.mu);
      while (!c.lru.empty()) c.evict_lru();
    }
    data = raw_block(size);
  }
  if (data != nullptr) account(static_cast<int64_t>(size));
  return data;
}

c10::DataPtr allocate_cpu(size_t n) {
  if (n == 0) return {nullptr, nullptr, &free_block, c10::Device(c10::DeviceType::CPU)};
  void* data = take_block(n);
  if (data == nullptr)
    throw Error(MF_ERR_OUT_OF_MEMORY, "out of memory: host allocation of " + std::to_string(n) + " bytes failed");
  return {data, data, &free_block, c10::Device(c10::DeviceType::CPU)};
}

// c10::Allocator::allocate is const up to LibTorch 2.2 and non-const from 2.3, which also added a
// pure virtual copy_data. These partial specialisations are only instantiated for the signature
// the LibTorch at hand declares.
constexpr bool kConstAllocate =
    std::is_same<decltype(&c10::Allocator::allocate), c10::DataPtr (c10::Allocator::*)(size_t) const>::value;

template <bool ConstAllocate, class Base = c10::Allocator>
struct CachingAllocator;

template <class Base>
struct CachingAllocator<true, Base> final : Base {
  c10::DataPtr allocate(size_t n) const override { return allocate_cpu(n); }
  c10::DeleterFnPtr raw_deleter() const override { return &free_block; }
};

template <class Base>
struct CachingAllocator<false, Base> final : Base {
  c10::DataPtr allocate(size_t n) override { return allocate_cpu(n); }
  c10::DeleterFnPtr raw_deleter() const override { return &free_block; }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    std::memcpy(dest, src, count);
  }
};

struct Buffer {
  int64_t size = 0;
  bool pinned = false;
  at::Tensor owner;  // defined for pinned memory, which LibTorch's CUDA host allocator owns
};

struct Buffers {
  std::shared_mutex mu;  // is_pinned, once per buffer and call, only reads
  std::map<uintptr_t, Buffer> by_address;
};

Buffers& buffers() {
  static Buffers* b = new Buffers();
  return *b;
}

}  // namespace

void install_host_allocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    static CachingAllocator<kConstAllocate> allocator;
    c10::SetCPUAllocator(&allocator, /*priority=*/1);
  });
}

void set_host_cache_limit(int64_t bytes) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.explicit_limit = bytes < 0 ? -1 : bytes;
  c.fit(0);
}

int64_t host_cache_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return static_cast<int64_t>(c.bytes);
}

HostCacheStats host_cache_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  HostCacheStats s;
  s.cached_bytes = static_cast<int64_t>(c.bytes);
  s.cached_blocks = static_cast<int64_t>(c.lru.size());
  s.limit = static_cast<int64_t>(c.limit());
  s.automatic = c.explicit_limit < 0;
  s.hits = c.hits;
  s.misses = c.misses;
  s.evictions = c.evictions;
  s.returned = c.returned;
  s.in_use = c.in_use.load();
  s.peak_in_use = c.peak_in_use.load();
  s.largest_call = static_cast<int64_t>(c.largest_call);
  return s;
}

LongLivedScope::LongLivedScope() { ++tl_long_lived; }
LongLivedScope::~LongLivedScope() { --tl_long_lived; }

HostCallScope::HostCallScope() {
  saved_live_ = tl_live;
  saved_peak_ = tl_peak;
  tl_live = 0;
  tl_peak = 0;
  if (tl_shadow.depth++ == 0) {
    tl_shadow.free_sizes.clear();
    tl_shadow.mapped = 0;
    tl_shadow.valid = true;
  }
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  if (++c.concurrent_calls > c.peak_concurrent_calls) {
    c.peak_concurrent_calls = c.concurrent_calls;
    c.update_auto_limit();  // more callers at once: room for each one's working set
  }
}

HostCallScope::~HostCallScope() {
  const int64_t inner_peak = std::max<int64_t>(0, tl_peak);
  // an enclosing scope sees this one's peak on top of what it held when this one began
  tl_peak = std::max(saved_peak_, saved_live_ + inner_peak);
  tl_live += saved_live_;
  size_t footprint = 0;
  if (--tl_shadow.depth == 0) {
    if (tl_shadow.valid) footprint = tl_shadow.mapped;
    tl_shadow.valid = false;
    tl_shadow.free_sizes.clear();
  }
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  --c.concurrent_calls;
  bool grew = false;
  if (static_cast<size_t>(inner_peak) > c.largest_call) {
    c.largest_call = static_cast<size_t>(inner_peak);
    grew = true;
  }
  if (footprint > c.largest_footprint) {
    c.largest_footprint = footprint;
    grew = true;
  }
  if (grew) c.update_auto_limit();
}

void* host_buffer_alloc(int64_t size, bool* pinned) {
  require(size > 0, "size must be positive, got " + std::to_string(size));
  Buffer b;
  b.size = size;
  void* ptr = nullptr;
  if (torch::cuda::is_available()) {
    b.owner = at::empty({size}, at::TensorOptions().dtype(at::kByte).pinned_memory(true));
    b.pinned = true;
    ptr = b.owner.data_ptr();
  } else {
    size_t rounded = (static_cast<size_t>(size) + kAlignment - 1) / kAlignment * kAlignment;
    ptr = std::aligned_alloc(kAlignment, rounded);
    if (ptr == nullptr)
      throw Error(MF_ERR_OUT_OF_MEMORY, "out of memory: host allocation of " + std::to_string(size) + " bytes failed");
  }
  Buffers& all = buffers();
  std::lock_guard<std::shared_mutex> lock(all.mu);
  all.by_address.emplace(reinterpret_cast<uintptr_t>(ptr), std::move(b));
  if (pinned != nullptr) *pinned = all.by_address[reinterpret_cast<uintptr_t>(ptr)].pinned;
  return ptr;
}

bool host_buffer_release(void* ptr) {
  if (ptr == nullptr) return false;
  Buffer victim;
  {
    Buffers& all = buffers();
    std::lock_guard<std::shared_mutex> lock(all.mu);
    auto it = all.by_address.find(reinterpret_cast<uintptr_t>(ptr));
    if (it == all.by_address.end()) return false;
    victim = std::move(it->second);
    all.by_address.erase(it);
  }
  if (!victim.pinned) std::free(ptr);
  // pinned: `victim.owner` goes out of scope here and hands the memory back to LibTorch
  return true;
}

bool host_buffer_is_pinned(const void* ptr, int64_t size) {
  auto address = reinterpret_cast<uintptr_t>(ptr);
  Buffers& all = buffers();
  std::shared_lock<std::shared_mutex> lock(all.mu);  // concurrent calls do not wait on each other
  auto it = all.by_address.upper_bound(address);
  if (it == all.by_address.begin()) return false;
  --it;
  return it->second.pinned && address >= it->first &&
         address + static_cast<uintptr_t>(size) <= it->first + static_cast<uintptr_t>(it->second.size);
}

}  // namespace maskformer
