// SPDX-License-Identifier: Apache-2.0
// The window-attention kernel for generic (instruction-set flags in CMakeLists.txt).
#define MF_ATTENTION attention_generic
#include "attention_kernels_impl.inc"
