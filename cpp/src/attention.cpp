// SPDX-License-Identifier: Apache-2.0
#include "attention.hpp"

#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "attention_kernels.hpp"
#include "fused_kernels.hpp"

namespace maskformer {

namespace kernels {

int64_t attention_scratch_floats(const AttentionProblem& p) {
  const int64_t np = (p.n + 15) / 16 * 16, dp = (p.d + 15) / 16 * 16;
  // k transposed, q and v, a block of rows of probabilities
  return p.d * np + 2 * p.n * dp + kAttentionRowBlock * np;
}

// The same instruction sets as the fused semantic kernels (fused_kernels.cpp decides which run).
AttentionFn best_attention(const char** name) {
#if defined(MF_KERNELS_X86)
  if (rows_named("avx512") != nullptr) {
    if (name != nullptr) *name = "avx512";
    return &attention_avx512;
  }
  if (rows_named("avx2") != nullptr) {
    if (name != nullptr) *name = "avx2";
    return &attention_avx2;
  }
#endif
  if (name != nullptr) *name = "generic";
  return &attention_generic;
}

AttentionFn attention_named(const char* name) {
  if (name == nullptr || rows_named(name) == nullptr) return nullptr;
#if defined(MF_KERNELS_X86)
  if (std::strcmp(name, "avx512") == 0) return &attention_avx512;
  if (std::strcmp(name, "avx2") == 0) return &attention_avx2;
#endif
  return &attention_generic;
}

}  // namespace kernels

namespace {

struct Chosen {
  kernels::AttentionFn fn;
  const char* name;
};

Chosen best() {
  Chosen c{nullptr, nullptr};
  c.fn = kernels::best_attention(&c.name);
  return c;
}

std::atomic<kernels::AttentionFn>& chosen_fn() {
  static std::atomic<kernels::AttentionFn> fn{best().fn};
  return fn;
}

// Registered like winograd_conv3x3 (winograd.cpp): under a namespace of this loaded copy of the
// shim, once, never undone; a failed registration leaves the rewrite off.
struct Registration {
  std::string name;                   // "" when it failed
  torch::Library* library = nullptr;  // kept for good (held here, so that leak checkers see it held)
};

const Registration& registration() {
  static const Registration r = [] {
    static const char anchor = 0;
    char ns[64];
    std::snprintf(ns, sizeof ns, "maskformer_%llx",
                  static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(&anchor)));
    Registration made;
    try {
      made.library = new torch::Library(torch::Library::DEF, ns, c10::nullopt, __FILE__, __LINE__);
      made.library->def(
          "window_attention(Tensor x, int[] qkv_shape, float scale, Tensor bias, Tensor? mask, int[] mask_view, "
          "int[] attn_view, int[] out_shape) -> Tensor",
          &window_attention);
      made.name = std::string(ns) + "::window_attention";
    } catch (const std::exception&) {
      // no name: the rewrite stays off (a Library made before the failure stays held)
    }
    return made;
  }();
  return r;
}

bool same(at::IntArrayRef a, std::initializer_list<int64_t> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace

bool attention_available() { return !registration().name.empty(); }

const std::string& attention_op_name() { return registration().name; }

const char* attention_kernel_name() {
  const kernels::AttentionFn fn = chosen_fn().load();
#if defined(MF_KERNELS_X86)
  if (fn == &kernels::attention_avx512) return "avx512";
  if (fn == &kernels::attention_avx2) return "avx2";
#endif
  return fn == &kernels::attention_generic ? "generic" : "?";
}

bool use_attention_kernel(const char* name) {
  const kernels::AttentionFn fn = name == nullptr ? best().fn : kernels::attention_named(name);
  if (fn == nullptr) return false;
  chosen_fn().store(fn);
  return true;
}

at::Tensor window_attention_reference(const at::Tensor& x, at::IntArrayRef qkv_shape, double scale,
                                      const at::Tensor& bias, const c10::optional<at::Tensor>& mask,
                                      at::IntArrayRef mask_view, at::IntArrayRef attn_view, at::IntArrayRef out_shape) {
  const at::Tensor p = x.reshape(qkv_shape).permute({2, 0, 3, 1, 4});
  at::Tensor a = at::matmul(p.select(0, 0).mul(scale), p.select(0, 1).transpose(-2, -1)).add(bias);
  if (mask.has_value() && mask->defined())
    a = a.view(mask_view).add(mask->unsqueeze(1).unsqueeze(0)).view(attn_view);
  return at::matmul(a.softmax(-1), p.select(0, 2)).transpose(1, 2).reshape(out_shape);
}

at::Tensor window_attention(const at::Tensor& x, at::IntArrayRef qkv_shape, double scale, const at::Tensor& bias,
                            const c10::optional<at::Tensor>& mask, at::IntArrayRef mask_view,
                            at::IntArrayRef attn_view, at::IntArrayRef out_shape) {
  const bool masked = mask.has_value() && mask->defined();
  const auto reference = [&] {
    return window_attention_reference(x, qkv_shape, scale, bias, mask, mask_view, attn_view, out_shape);
  };
  const at::ScalarType type = x.scalar_type();
  if (x.dim() != 3 || !x.device().is_cpu() || x.requires_grad() || (type != at::kFloat && type != at::kBFloat16) ||
      qkv_shape.size() != 5)
    return reference();
  const int64_t b = x.size(0), n = x.size(1), heads = qkv_shape[3], d = qkv_shape[4];
  // heads * d from x's own size, never multiplied out: shapes come from the model file
  if (b < 1 || n < 1 || n > kernels::kAttentionMaxTokens || heads < 1 || d < 1 ||
      d > kernels::kAttentionMaxChannels || !same(qkv_shape, {b, n, 3, heads, d}) || x.size(2) % (3 * d) != 0 ||
      x.size(2) / (3 * d) != heads)
    return reference();
  if (!bias.defined() || bias.scalar_type() != type || !bias.device().is_cpu() || bias.requires_grad() ||
      !(same(bias.sizes(), {1, heads, n, n}) || same(bias.sizes(), {heads, n, n})))
    return reference();
  int64_t windows = 0;
  if (masked) {
    const at::Tensor& m = *mask;
    windows = m.dim() == 3 ? m.size(0) : 0;
    if (m.scalar_type() != type || !m.device().is_cpu() || m.requires_grad() || windows < 1 || b % windows != 0 ||
        !same(m.sizes(), {windows, n, n}) || !same(mask_view, {b / windows, windows, heads, n, n}) ||
        !same(attn_view, {b, heads, n, n}))
      return reference();
  }
  const at::Tensor xc = x.contiguous(), bc = bias.contiguous();
  const at::Tensor mc = masked ? mask->contiguous() : at::Tensor();
  at::Tensor out = at::empty({b, n, heads * d}, x.options());
  kernels::AttentionProblem p;
  p.windows = b;
  p.n = n;
  p.heads = heads;
  p.d = d;
  p.bf16 = type == at::kBFloat16;
  p.scale = static_cast<float>(scale);
  p.qkv = xc.data_ptr();
  p.bias = bc.data_ptr();
  p.mask = masked ? mc.data_ptr() : nullptr;
  p.mask_windows = windows;
  p.out = out.data_ptr();
  const kernels::AttentionFn fn = chosen_fn().load();
  const int64_t floats = kernels::attention_scratch_floats(p);
  at::parallel_for(0, b * heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(static_cast<size_t>(floats));
    fn(p, begin, end, scratch.data());
  });
  return out.reshape(out_shape);
}

}  // namespace maskformer
