// SPDX-License-Identifier: Apache-2.0
// MaskFormer's mask product on the CPU as plain matrix products: the operator matmul_by_mm
// (registered by the shim, batched_mm_op_name()), which the load-time rewrites put in place of
// the traced `torch.matmul(embed, mask_features.flatten(2).unsqueeze(0))` of
// models/maskformer/head.py (cpu_optimize.cpp). It computes torch.matmul's result for any input;
// for inputs of two or more dimensions each of the same dtype it runs one at::mm per batch index
// into a contiguous output instead of one batched product.
//
// Why: the mask features come from a channels-last convolution, so `flatten(2)` is a transposed
// view (B, C, HW) with strides (C*HW, 1, C). In bf16 LibTorch's batched product hands that view to
// oneDNN, which first reorders it with its element-by-element reference reorder: 16 ms at 2 threads
// for Swin-T at 512x512 (100 queries, 256 channels, 128x128), against about 1.4 ms for the same
// product as at::mm, which takes the transposed operand as it is.
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace maskformer {

// The operator is registered (on the first call of either function).
bool batched_mm_available();

// Its qualified name, "maskformer_<this copy of the shim>::matmul_by_mm".
const std::string& batched_mm_op_name();

// The operator's computation: torch.matmul(a, b).
at::Tensor matmul_by_mm(const at::Tensor& a, const at::Tensor& b);

}  // namespace maskformer
