// SPDX-License-Identifier: Apache-2.0
// Scratch sizes and the run-time choice among the fused kernels (fused_kernels.hpp). Compiled with
// the build's default flags.
#include "fused_kernels.hpp"

#include <cstring>

namespace maskformer {
namespace kernels {

namespace {
int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }
}  // namespace

int64_t scratch_floats(const SemanticProblem& p) {
  const int64_t np = round_up(p.net_w, kColumnBlock);
  const int64_t op = round_up(p.resized ? p.out_w : p.net_w, kColumnBlock);
  // resized: two rows of class scores, each block's candidate classes and counts, one row of
  // class maxima (fused_kernels_impl.inc)
  if (p.resized) return p.q * np + 2 * p.k_padded * np + (op / kCandidateBlock) * (p.k + 1) + p.k + 2 * op;
  return p.q * np + 2 * op;  // network-size frames: the scores stay in registers
}

namespace {
#if defined(MF_KERNELS_X86)
bool runs_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}
bool runs_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif
}  // namespace

RowsFn best_rows(const char** name) {
#if defined(MF_KERNELS_X86)
  if (runs_avx512()) {
    if (name != nullptr) *name = "avx512";
    return &rows_avx512;
  }
  if (runs_avx2()) {
    if (name != nullptr) *name = "avx2";
    return &rows_avx2;
  }
#endif
  if (name != nullptr) *name = "generic";
  return &rows_generic;
}

RowsFn rows_named(const char* name) {
  if (name == nullptr) return nullptr;
  if (std::strcmp(name, "generic") == 0) return &rows_generic;
#if defined(MF_KERNELS_X86)
  if (std::strcmp(name, "avx2") == 0 && runs_avx2()) return &rows_avx2;
  if (std::strcmp(name, "avx512") == 0 && runs_avx512()) return &rows_avx512;
#endif
  return nullptr;
}

}  // namespace kernels
}  // namespace maskformer
