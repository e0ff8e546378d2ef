// SPDX-License-Identifier: Apache-2.0
// The Winograd transforms for any CPU (the build's default flags).
#define MF_WINOGRAD_IN winograd_in_generic
#define MF_WINOGRAD_OUT winograd_out_generic
#include "winograd_kernels_impl.inc"
