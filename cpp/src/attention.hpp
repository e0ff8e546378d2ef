// SPDX-License-Identifier: Apache-2.0
// Swin's window attention as one operator on the CPU: window_attention (registered by the shim,
// attention_op_name()), which the load-time rewrites put in place of the traced attention of
// models/maskformer/swin.py (cpu_optimize.cpp). It computes exactly what the graph it replaces
// computes, from the same inputs:
//
//   p = x.reshape(qkv_shape).permute(2, 0, 3, 1, 4); q, k, v = p[0], p[1], p[2]
//   a = (q * scale) @ k.transpose(-2, -1) + bias
//   if mask: a = (a.view(mask_view) + mask.unsqueeze(1).unsqueeze(0)).view(attn_view)
//   return (a.softmax(-1) @ v).transpose(1, 2).reshape(out_shape)
//
// When the shapes are Swin's (qkv_shape = [B, n, 3, H, d], bias (1, H, n, n), mask (W, n, n) with
// mask_view = [B / W, W, H, n, n] and attn_view = [B, H, n, n], n <= 256, d <= 128, one dtype,
// float or bf16), it runs the shim's kernel (attention_kernels.hpp), in parallel over the (window,
// head) pairs, without materialising the (B, H, n, n) scores; any other input runs the lines
// above in ATen. Numerics: the kernel keeps the scores, the softmax and the sums in float and
// rounds bf16 once, at the output (the graph rounds each step's result to bf16); fp32 results
// differ from the graph's at the level of its rounding (another order of the same sums).
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace maskformer {

// The operator is registered (on the first call of either function).
bool attention_available();

// Its qualified name, "maskformer_<this copy of the shim>::window_attention".
const std::string& attention_op_name();

// The operator's computation (above), for tests.
at::Tensor window_attention(const at::Tensor& x, at::IntArrayRef qkv_shape, double scale, const at::Tensor& bias,
                            const c10::optional<at::Tensor>& mask, at::IntArrayRef mask_view,
                            at::IntArrayRef attn_view, at::IntArrayRef out_shape);

// The same in ATen operators only (what the rewrite replaced), for tests.
at::Tensor window_attention_reference(const at::Tensor& x, at::IntArrayRef qkv_shape, double scale,
                                      const at::Tensor& bias, const c10::optional<at::Tensor>& mask,
                                      at::IntArrayRef mask_view, at::IntArrayRef attn_view, at::IntArrayRef out_shape);

// The name of the kernel this CPU runs ("avx512", "avx2", "generic").
const char* attention_kernel_name();

// Tests: run the kernel called `name` instead of the best one (nullptr: the best again). False if
// this CPU cannot run it.
bool use_attention_kernel(const char* name);

}  // namespace maskformer
