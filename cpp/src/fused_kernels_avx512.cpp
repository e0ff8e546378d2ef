// SPDX-License-Identifier: Apache-2.0
// The fused semantic kernels for AVX-512 (compiled with -mavx512f -mavx512dq -mavx512bw -mavx512vl -mfma, see CMakeLists.txt).
#define MF_KERNEL_ENTRY rows_avx512
#include "fused_kernels_impl.inc"
