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
  const int64_t blocks = np / kColumnBlock;
  // the pruning's query ranges, class bounds and a zero row of probabilities; the output row
  const int64_t common = 3 * p.q + 2 * p.k_vector + 2 * (op + 16) + kColumnBlock;
  // resized: the sigmoids and class scores of two network rows, which of those scores are made
  // (bytes), each network block's candidate classes and counts, the runs of frame columns, the
  // candidates' two rows resized to the frame width (fused_kernels_impl.inc)
  if (p.resized)
    return 2 * p.q * np + 2 * p.k_padded * np + (2 * p.k_padded * blocks + 3) / 4 + blocks * (p.k + 1) +
           3 * (2 * blocks + 2) + 2 * p.k * (op + 16 * (2 * blocks + 2)) + common;
  return p.q * np + 2 * p.k + common;  // network-size frames: the scores stay in registers
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

PruneStats& prune_stats() {
  static PruneStats stats;
  return stats;
}

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
