// SPDX-License-Identifier: Apache-2.0
// Small tensors that depend only on sizes (the tap tables of the resizes), made on the host once
// per (sizes, device) and kept on the device, so that a frame on a GPU needs no upload but its
// pixels. At most kDeviceTableEntries tables are kept; the least recently used goes first.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <vector>

namespace maskformer {

constexpr size_t kDeviceTableEntries = 256;

// The tensors for key() on `device`: made by `build` (on the host) and uploaded on the first
// request, then shared. Each use is recorded on the calling thread's current stream, so that
// memory of a table dropped from the cache is not reused while that stream still reads it.
// On the CPU `build` runs every time and nothing is kept. Thread-safe.
// The key is made only off the CPU, so the CPU path pays no string per call.
std::vector<at::Tensor> device_tables(const std::function<std::string()>& key, const at::Device& device,
                                      const std::function<std::vector<at::Tensor>()>& build);

}  // namespace maskformer
