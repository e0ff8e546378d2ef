// SPDX-License-Identifier: Apache-2.0
// The Winograd transforms for avx512 (instruction-set flags in CMakeLists.txt).
#define MF_WINOGRAD_IN winograd_in_avx512
#define MF_WINOGRAD_OUT winograd_out_avx512
#include "winograd_kernels_impl.inc"
