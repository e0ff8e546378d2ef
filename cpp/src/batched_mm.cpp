// SPDX-License-Identifier: Apache-2.0
#include "batched_mm.hpp"

#include <torch/library.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace maskformer {

namespace {

// Registered like winograd_conv3x3 (winograd.cpp): under a namespace of this loaded copy of the
// shim, once, never undone; a failed registration leaves the rewrite off.
const std::string& registration() {
  static const std::string name = [] {
    static const char anchor = 0;
    char ns[64];
    std::snprintf(ns, sizeof ns, "maskformer_%llx",
                  static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(&anchor)));
    try {
      auto* library = new torch::Library(torch::Library::DEF, ns, c10::nullopt, __FILE__, __LINE__);
      library->def("matmul_by_mm(Tensor a, Tensor b) -> Tensor", &matmul_by_mm);
      return std::string(ns) + "::matmul_by_mm";
    } catch (const std::exception&) {
      return std::string();
    }
  }();
  return name;
}

}  // namespace

bool batched_mm_available() { return !registration().empty(); }

const std::string& batched_mm_op_name() { return registration(); }

at::Tensor matmul_by_mm(const at::Tensor& a, const at::Tensor& b) {
  if (a.dim() < 2 || b.dim() < 2 || a.scalar_type() != b.scalar_type() || !a.device().is_cpu() ||
      !b.device().is_cpu() || a.requires_grad() || b.requires_grad() || a.size(-1) != b.size(-2) ||
      a.is_sparse() || b.is_sparse() || a.is_mkldnn() || b.is_mkldnn() ||
      (a.scalar_type() != at::kFloat && a.scalar_type() != at::kBFloat16))
    return at::matmul(a, b);
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  const std::vector<int64_t> batch =
      at::infer_size(a.sizes().slice(0, a.dim() - 2), b.sizes().slice(0, b.dim() - 2));
  std::vector<int64_t> a_shape(batch), b_shape(batch), out_shape(batch);
  a_shape.insert(a_shape.end(), {m, k});
  b_shape.insert(b_shape.end(), {k, n});
  out_shape.insert(out_shape.end(), {m, n});
  const at::Tensor ae = a.expand(a_shape), be = b.expand(b_shape);
  at::Tensor out = at::empty(out_shape, a.options());
  int64_t count = 1;
  for (int64_t s : batch) count *= s;
  std::vector<int64_t> index(batch.size(), 0);
  for (int64_t i = 0; i < count; ++i) {
    at::Tensor x = ae, y = be, z = out;
    for (size_t d = 0; d < batch.size(); ++d) {
      x = x.select(0, index[d]);
      y = y.select(0, index[d]);
      z = z.select(0, index[d]);
    }
    at::mm_out(z, x, y);
    for (size_t d = batch.size(); d-- > 0;) {  // the next batch index, last dimension fastest
      if (++index[d] < batch[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

}  // namespace maskformer
