// SPDX-License-Identifier: Apache-2.0
// The window-attention kernel for avx512 (instruction-set flags in CMakeLists.txt).
#define MF_ATTENTION attention_avx512
#include "attention_kernels_impl.inc"
