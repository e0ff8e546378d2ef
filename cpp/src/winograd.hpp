// SPDX-License-Identifier: Apache-2.0
// 3x3 convolutions (stride 1, padding 1, no dilation or groups) as Winograd F(2x2, 3x3) on the
// CPU: the operator winograd_conv3x3 (registered by the shim, winograd_op_name()), which the load-time rewrites put in place of
// such convolutions when they are wide enough to gain (cpu_optimize.cpp). Its 16 matrix products
// per block of tiles run on oneDNN with weights transformed and prepacked once, at the rewrite;
// the transforms are the shim's own kernels (winograd_kernels.hpp). fp32 and bf16.
//
// Numerics: the products see transformed inputs and weights (sums and differences of up to 16
// values, weights halved and quartered), so each output is a different sum of the same terms:
// fp32 results differ from a direct convolution's at the level of its own rounding; bf16 ones
// round the transformed inputs and the products to bf16, about twice the direct bf16 error.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace maskformer {

// The operator is registered (on the first call of either function) and the oneDNN linear ops it
// calls are there (LibTorch builds with oneDNN; not Debian's 1.13).
bool winograd_available();

// Its qualified name, "maskformer_<this copy of the shim>::winograd_conv3x3" (winograd.cpp).
const std::string& winograd_op_name();

// The 16 transformed weights U[p] = (G g G^T)[p] (K x C each, the weight's dtype), prepacked for
// oneDNN's matrix products; computed in double from `weight` (K, C, 3, 3). Throws if oneDNN
// cannot pack them.
std::vector<at::Tensor> winograd_pack(const at::Tensor& weight);

// The operator's computation, for tests: x (N, C, H, W) float or bf16, `packed` from
// winograd_pack, bias (K floats) or undefined. Returns (N, K, H, W) in channels-last order.
at::Tensor winograd_conv3x3(const at::Tensor& x, at::TensorList packed, const c10::optional<at::Tensor>& bias,
                            int64_t out_channels, bool relu);

// The name of the transform kernels this CPU runs ("avx512", "avx2", "generic").
const char* winograd_kernels_name();

}  // namespace maskformer
