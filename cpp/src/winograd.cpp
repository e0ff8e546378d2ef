// SPDX-License-Identifier: Apache-2.0
#include "winograd.hpp"

#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "fused_kernels.hpp"
#include "winograd_kernels.hpp"

namespace maskformer {

namespace kernels {

// The same instruction sets as the fused semantic kernels (fused_kernels.cpp decides which run).
WinogradKernels best_winograd() {
#if defined(MF_KERNELS_X86)
  if (rows_named("avx512") != nullptr) return {&winograd_in_avx512, &winograd_out_avx512, "avx512"};
  if (rows_named("avx2") != nullptr) return {&winograd_in_avx2, &winograd_out_avx2, "avx2"};
#endif
  return {&winograd_in_generic, &winograd_out_generic, "generic"};
}

WinogradKernels winograd_named(const char* name) {
  if (name == nullptr || rows_named(name) == nullptr) return {nullptr, nullptr, nullptr};
#if defined(MF_KERNELS_X86)
  if (std::strcmp(name, "avx512") == 0) return {&winograd_in_avx512, &winograd_out_avx512, "avx512"};
  if (std::strcmp(name, "avx2") == 0) return {&winograd_in_avx2, &winograd_out_avx2, "avx2"};
#endif
  return {&winograd_in_generic, &winograd_out_generic, "generic"};
}

}  // namespace kernels

namespace {

// Tiles per block: 512 for 512 input and output channels, more for fewer (each oneDNN product
// costs some tens of microseconds besides its arithmetic). A block's V (16 x tiles x C) and M
// (16 x tiles x K) are 16 MiB or less in fp32, not the whole image's (Swin-T's widest
// convolution at 512x512: 134 MB of each).
int64_t tiles_per_block(int64_t c, int64_t k) { return std::clamp<int64_t>((int64_t{1} << 19) / (c + k), 16, 4096); }

const c10::OperatorHandle* linear_op() {
  static const c10::optional<c10::OperatorHandle> op =
      c10::Dispatcher::singleton().findSchema({"mkldnn::_linear_pointwise", ""});
  return op ? &*op : nullptr;
}

const c10::OperatorHandle* pack_op() {
  static const c10::optional<c10::OperatorHandle> op =
      c10::Dispatcher::singleton().findSchema({"mkldnn::_reorder_linear_weight", ""});
  return op ? &*op : nullptr;
}

c10::IValue call(const c10::OperatorHandle& op, std::vector<c10::IValue> args) {
  torch::jit::Stack stack(std::make_move_iterator(args.begin()), std::make_move_iterator(args.end()));
  op.callBoxed(&stack);
  return stack.at(0);
}

// The operator's qualified name, registered on first use under a namespace of this loaded copy of
// the shim ("maskformer_" and the address of a static of it): two copies in one process (two
// versions of the library in one JVM, say) then register two operators, each running its own
// code, instead of the second one's registration failing. A failed registration leaves the
// rewrite off. The registration is never undone: graphs may hold the operator until the process
// ends, and deregistering at static destruction could race a call still running.
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
      made.library->def("winograd_conv3x3(Tensor x, Tensor[] packed, Tensor? bias, int out_channels, bool relu) -> Tensor",
                     &winograd_conv3x3);
      made.name = std::string(ns) + "::winograd_conv3x3";
    } catch (const std::exception&) {
      // no name: the rewrite stays off (a Library made before the failure stays held)
    }
    return made;
  }();
  return r;
}

const kernels::WinogradKernels& chosen() {
  static const kernels::WinogradKernels k = kernels::best_winograd();
  return k;
}

}  // namespace

const char* winograd_kernels_name() { return chosen().name; }

bool winograd_available() {
  return linear_op() != nullptr && pack_op() != nullptr && !registration().name.empty();
}

const std::string& winograd_op_name() { return registration().name; }

std::vector<at::Tensor> winograd_pack(const at::Tensor& weight) {
  TORCH_CHECK(weight.dim() == 4 && weight.size(2) == 3 && weight.size(3) == 3, "not a 3x3 convolution weight");
  TORCH_CHECK(pack_op() != nullptr, "oneDNN's linear weight packing is not in this LibTorch");
  const int64_t k = weight.size(0), c = weight.size(1);
  const at::Tensor g = weight.to(at::kFloat).contiguous();
  at::Tensor u = at::empty({16, k, c}, g.options());
  const float* src = g.data_ptr<float>();
  float* dst = u.data_ptr<float>();
  static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  at::parallel_for(0, k * c, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t kc = begin; kc < end; ++kc) {
      const float* w = src + kc * 9;
      double gw[4][3];  // G g, in double: U is rounded once, to the weight's type
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 3; ++j) gw[i][j] = G[i][0] * w[j] + G[i][1] * w[3 + j] + G[i][2] * w[6 + j];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
          dst[(i * 4 + j) * k * c + kc] =
              static_cast<float>(gw[i][0] * G[j][0] + gw[i][1] * G[j][1] + gw[i][2] * G[j][2]);
    }
  });
  const at::Tensor typed = u.to(weight.scalar_type());
  std::vector<at::Tensor> packed;
  packed.reserve(16);
  for (int64_t p = 0; p < 16; ++p)
    packed.push_back(call(*pack_op(), {typed.select(0, p).contiguous(), c10::IValue()}).toTensor());
  return packed;
}

at::Tensor winograd_conv3x3(const at::Tensor& x, at::TensorList packed, const c10::optional<at::Tensor>& bias,
                            int64_t out_channels, bool relu) {
  TORCH_CHECK(x.dim() == 4 && x.device().is_cpu(), "winograd_conv3x3: expected a 4-d CPU tensor, got ", x.sizes());
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16,
              "winograd_conv3x3: expected float or bfloat16, got ", x.scalar_type());
  TORCH_CHECK(packed.size() == 16, "winograd_conv3x3: expected 16 packed weights");
  TORCH_CHECK(out_channels > 0, "winograd_conv3x3: no output channels");
  for (const at::Tensor& u : packed)
    TORCH_CHECK(u.dim() == 2 && u.size(0) == out_channels && u.size(1) == x.size(1) && u.scalar_type() == x.scalar_type(),
                "winograd_conv3x3: weights of ", u.sizes(), " for an input of ", x.size(1), " channels and ",
                out_channels, " outputs");
  const at::Tensor* b = bias && bias->defined() ? &*bias : nullptr;
  TORCH_CHECK(b == nullptr || (b->scalar_type() == at::kFloat && b->is_contiguous() && b->numel() == out_channels),
              "winograd_conv3x3: expected a contiguous float bias of ", out_channels, " values");
  TORCH_CHECK(linear_op() != nullptr, "oneDNN's linear operator is not in this LibTorch");
  const bool bf16 = x.scalar_type() == at::kBFloat16;
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  at::Tensor y = at::empty({n, out_channels, h, w}, x.options().memory_format(at::MemoryFormat::ChannelsLast));
  if (y.numel() == 0) return y;
  const at::Tensor xc = x.contiguous(at::MemoryFormat::ChannelsLast);

  kernels::WinogradProblem p;
  p.n = n;
  p.h = h;
  p.w = w;
  p.c = c;
  p.k = out_channels;
  p.tiles_h = (h + 1) / 2;
  p.tiles_w = (w + 1) / 2;
  p.bf16 = bf16;
  p.x = xc.data_ptr();
  p.y = y.data_ptr();
  p.bias = b != nullptr ? b->data_ptr<float>() : nullptr;
  p.relu = relu;
  const kernels::WinogradKernels& k = chosen();
  const int64_t tiles = n * p.tiles_h * p.tiles_w;
  const int64_t per_block = tiles_per_block(c, out_channels);
  const c10::IValue none;
  const c10::IValue attr(std::string("none"));
  const c10::IValue scalars(c10::List<c10::optional<at::Scalar>>{});
  // Per block of tiles: the input transform, 16 products, the output transform. Only the
  // transforms run on the pool's threads (raw kernels, no allocation, no dispatch); the products
  // are oneDNN's, threaded by it, and all buffers are allocated here, on the calling thread (whose
  // call the host cache accounts). Threads taking whole blocks each measured no faster.
  // one V for all blocks of the call (a shorter last block uses the start of each position's rows)
  const int64_t stride = std::min(per_block, tiles);
  const at::Tensor v = at::empty({16, stride, c}, x.options());
  void* v_data = v.data_ptr();
  for (int64_t t0 = 0; t0 < tiles; t0 += per_block) {
    const int64_t len = std::min(per_block, tiles - t0);
    at::parallel_for(t0, t0 + len, 16, [&](int64_t a, int64_t e) { k.in(p, t0, stride, a, e, v_data); });
    std::array<at::Tensor, 16> m;
    std::array<const void*, 16> rows;
    for (int64_t q = 0; q < 16; ++q) {
      m[q] = call(*linear_op(), {v.select(0, q).narrow(0, 0, len), packed[q], none, attr, scalars, none}).toTensor();
      TORCH_CHECK(m[q].is_contiguous() && m[q].scalar_type() == x.scalar_type() && m[q].dim() == 2 &&
                      m[q].size(0) == len && m[q].size(1) == out_channels,
                  "winograd_conv3x3: unexpected product of shape ", m[q].sizes());
      rows[q] = m[q].data_ptr();
    }
    at::parallel_for(t0, t0 + len, 16, [&](int64_t a, int64_t e) { k.out(p, t0, rows.data(), a, e); });
  }
  return y;
}

}  // namespace maskformer
