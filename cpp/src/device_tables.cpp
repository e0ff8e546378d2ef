// SPDX-License-Identifier: Apache-2.0
#include "device_tables.hpp"

#include <c10/core/impl/DeviceGuardImplInterface.h>

#include <list>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace maskformer {

namespace {

struct Cache {
  std::mutex mu;
  std::list<std::pair<std::string, std::vector<at::Tensor>>> order;  // most recent first
  std::unordered_map<std::string, decltype(order)::iterator> by_key;
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: device memory outlives static destructors
  return *c;
}

}  // namespace

std::vector<at::Tensor> device_tables(const std::function<std::string()>& key, const at::Device& device,
                                      const std::function<std::vector<at::Tensor>()>& build) {
  if (device.is_cpu()) return build();
  const std::string full = device.str() + "/" + key();
  Cache& c = cache();
  std::vector<at::Tensor> tables;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.by_key.find(full);
    if (it != c.by_key.end()) {
      c.order.splice(c.order.begin(), c.order, it->second);
      tables = it->second->second;
    }
  }
  if (tables.empty()) {
    // a synchronous copy from pageable memory: complete when .to() returns
    for (at::Tensor& t : build()) tables.push_back(t.to(device));
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.by_key.find(full) == c.by_key.end()) {
      c.order.emplace_front(full, tables);
      c.by_key[full] = c.order.begin();
      while (c.order.size() > kDeviceTableEntries) {
        c.by_key.erase(c.order.back().first);
        c.order.pop_back();
      }
    }
  }
  const auto* impl = c10::impl::getDeviceGuardImpl(device.type());
  const c10::Stream stream = impl->getStream(device);
  for (at::Tensor& t : tables)
    if (t.numel() > 0) t.record_stream(stream);
  return tables;
}

}  // namespace maskformer
