// SPDX-License-Identifier: Apache-2.0
// The fused semantic kernels for AVX2 and FMA (compiled with -mavx2 -mfma, see CMakeLists.txt).
#define MF_KERNEL_ENTRY rows_avx2
#include "fused_kernels_impl.inc"
