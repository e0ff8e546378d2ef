// SPDX-License-Identifier: Apache-2.0
// The fused semantic kernels for any x86-64 or other CPU (the build's default flags).
#define MF_KERNEL_ENTRY rows_generic
#include "fused_kernels_impl.inc"
