// SPDX-License-Identifier: Apache-2.0
// Scratch sizes and the run-time choice among the fused kernels (fused_kernels.hpp). Compiled with
// the build's default flags.
#include "fused_kernels.hpp"

namespace maskformer {
namespace kernels {

namespace {
int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }
}  // namespace

int64_t scratch_floats(const SemanticProblem& p) {
  const int64_t np = round_up(p.net_w, kColumnBlock);
  const int64_t op = round_up(p.resized ? p.out_w : p.net_w, kColumnBlock);
  return p.q * np + p.k_padded * np + (p.resized ? 2 * p.k * op : 0) + 2 * op;
}

RowsFn best_rows(const char** name) {
#if defined(MF_KERNELS_X86)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
    if (name != nullptr) *name = "avx512";
    return &rows_avx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    if (name != nullptr) *name = "avx2";
    return &rows_avx2;
  }
#endif
  if (name != nullptr) *name = "generic";
  return &rows_generic;
}

}  // namespace kernels
}  // namespace maskformer
