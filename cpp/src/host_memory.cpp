// SPDX-License-Identifier: Apache-2.0
#include "host_memory.hpp"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <type_traits>

#include "error.hpp"

namespace maskformer {

namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kHeader = 64;                 // block size lives just before the data
constexpr size_t kCacheMin = 128 * 1024;       // smaller blocks go straight back to malloc
constexpr size_t kDefaultLimit = size_t(2) << 30;

struct Cache {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;  // usable size -> data pointer
  size_t bytes = 0;
  size_t limit = kDefaultLimit;
};

// Never destroyed: tensors may be freed during static destruction at process exit.
Cache& cache() {
  static Cache* c = new Cache();
  return *c;
}

// Large sizes are rounded up to 1/8 of their power of two (at most 12.5% slack) so that blocks of
// nearly equal size, common between calls with slightly different frames, are shared.
size_t round_size(size_t n) {
  if (n < kCacheMin) return (n + kAlignment - 1) / kAlignment * kAlignment;
  size_t pow2 = size_t(1) << (63 - __builtin_clzll(static_cast<unsigned long long>(n)));
  size_t step = std::max(pow2 / 8, kCacheMin / 2);
  return (n + step - 1) / step * step;
}

void* raw_block(size_t usable) {
  void* base = std::aligned_alloc(kAlignment, kHeader + usable);
  if (base == nullptr) return nullptr;
  *static_cast<size_t*>(base) = usable;
  return static_cast<char*>(base) + kHeader;
}

size_t block_size(void* data) {
  return *reinterpret_cast<size_t*>(static_cast<char*>(data) - kHeader);
}

void release_block(void* data) { std::free(static_cast<char*>(data) - kHeader); }

void free_block(void* data) {
  if (data == nullptr) return;
  size_t size = block_size(data);
  if (size >= kCacheMin) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.bytes + size <= c.limit) {
      c.free_blocks.emplace(size, data);
      c.bytes += size;
      return;
    }
  }
  release_block(data);
}

void* take_block(size_t n) {
  size_t size = round_size(n);
  if (size >= kCacheMin) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free_blocks.find(size);
    if (it != c.free_blocks.end()) {
      void* data = it->second;
      c.free_blocks.erase(it);
      c.bytes -= size;
      return data;
    }
  }
  void* data = raw_block(size);
  if (data == nullptr) {
    // give the cache back to the system and try once more before reporting exhaustion
    {
      Cache& c = cache();
      std::lock_guard<std::mutex> lock(c.mu);
      for (auto& kv : c.free_blocks) release_block(kv.second);
      c.free_blocks.clear();
      c.bytes = 0;
    }
    data = raw_block(size);
  }
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
  c.limit = bytes < 0 ? 0 : static_cast<size_t>(bytes);
  // drop the largest blocks first until the cache fits
  while (c.bytes > c.limit && !c.free_blocks.empty()) {
    auto it = std::prev(c.free_blocks.end());
    c.bytes -= it->first;
    release_block(it->second);
    c.free_blocks.erase(it);
  }
}

int64_t host_cache_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return static_cast<int64_t>(c.bytes);
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
