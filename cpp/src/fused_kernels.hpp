// SPDX-License-Identifier: Apache-2.0
// The CPU semantic inference of one image in one pass over its rows, without class-score maps:
// per network row, the mask logits are resized to that row and passed through a sigmoid (Q values
// per pixel), multiplied by the class probabilities (K x Q) in registers, and, when the frame is
// the network's size, reduced to the winning class at once; otherwise each network row's class
// scores are resized to the frame's width, two such rows are mixed per frame row and the argmax
// taken there. Per block of 32 network columns only the classes that can win there are scored
// (bounds from each query's sigmoid range; exact, see fused_kernels_impl.inc). The reference
// computes the same sums in the same order of resizes (PyTorch's separable bilinear: width, then
// rows), with whole (K, H, W) score tensors in between: 157 MB
// written and read back for Swin-T at 512x512, 1.3 GB for its 1080p frames.
//
// The kernels are compiled three times (fused_kernels_avx512.cpp, _avx2.cpp, _generic.cpp) with
// the instruction set as a compiler flag, and one is picked at run time from the CPU's features:
// their code is plain C++ with internal linkage only (no LibTorch or standard-library templates),
// so no function compiled for AVX-512 can be shared with, and run by, code for other CPUs.
#pragma once

#include <cstdint>

namespace maskformer {
namespace kernels {

// One image's problem, as raw arrays. Bilinear taps per output index: source indices first,
// second and their weights (PyTorch's align_corners=false arithmetic, semantic.hpp).
struct Taps1d {
  const int64_t* first;
  const int64_t* second;
  const float* w_first;
  const float* w_second;
};

// How many classes the pruning kept: blocks of 32 network columns looked at (per network row, or
// row pair when resized), and the classes kept in them, summed; read by tests and benchmarks.
struct PruneStats {
  int64_t blocks = 0;
  int64_t classes = 0;
};

struct SemanticProblem {
  int64_t k = 0;         // classes
  int64_t k_padded = 0;  // k rounded up to kClassBlock; rows k..k_padded-1 of probs are zero
  int64_t q = 0;         // queries
  const float* probs = nullptr;    // (k_padded, q): class probabilities without "no object"
  int64_t k_vector = 0;            // k rounded up to 16 (one vector of floats)
  const float* probs_t = nullptr;  // (q, k_vector): the same, query-major, zero past k
  bool prune = true;               // skip the classes that cannot win a block (exact; see the .inc)
  PruneStats* stats = nullptr;     // if set, the pruning's counts are added (atomically)
  const float* masks_w = nullptr;  // (q, mh, net_w): mask logits resized to the network width
  int64_t mh = 0, net_h = 0, net_w = 0, out_h = 0, out_w = 0;
  Taps1d up_y{};    // mh -> net_h
  Taps1d down_y{};  // net_h -> out_h (read when resized)
  Taps1d down_x{};  // net_w -> out_w (read when resized)
  bool resized = false;
  void* labels = nullptr;  // (out_h, out_w), uint8 or int32
  bool labels_u8 = true;
  void* confidence = nullptr;  // null, or (out_h, out_w) winning scores
  bool confidence_u8 = true;   // round(255 * clamp(score, 0, 1)); else float32
};

constexpr int64_t kClassBlock = 4;   // classes per register block
constexpr int64_t kColumnBlock = 32; // pixels per register block (two 16-float vectors)

// Floats of scratch memory rows(...) needs, 64-byte aligned by the caller.
int64_t scratch_floats(const SemanticProblem& p);

// Writes output rows [y0, y1). Thread-safe for disjoint row ranges with their own scratch.
using RowsFn = void (*)(const SemanticProblem& p, int64_t y0, int64_t y1, float* scratch);

void rows_generic(const SemanticProblem& p, int64_t y0, int64_t y1, float* scratch);
#if defined(MF_KERNELS_X86)
void rows_avx2(const SemanticProblem& p, int64_t y0, int64_t y1, float* scratch);
void rows_avx512(const SemanticProblem& p, int64_t y0, int64_t y1, float* scratch);
#endif

// The process-wide counts of the pruning (semantic.cpp points SemanticProblem::stats here).
PruneStats& prune_stats();

// The best of the three this CPU runs, and its name ("avx512", "avx2", "generic").
RowsFn best_rows(const char** name = nullptr);

// The kernel called `name` ("avx512", "avx2" or "generic") if this CPU runs it, else null.
RowsFn rows_named(const char* name);

}  // namespace kernels
}  // namespace maskformer
