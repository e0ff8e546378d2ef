// SPDX-License-Identifier: Apache-2.0
// Window attention in one pass per (window, head), on raw arrays (attention.hpp). For Swin's
// windows of 49 tokens, a head of 32 channels: scores = q k^T * scale + bias (+ the shifted
// windows' mask), softmax over each row, times v, without the (windows, heads, 49, 49) score
// tensors of the unfused graph (each written and read back by four operators). Scores, softmax
// and sums are in float whatever the tensors hold; bf16 is rounded once, on the output.
//
// Compiled three times like the fused semantic kernels (fused_kernels.hpp), with the same rules:
// plain C++, internal linkage, vectors of 16 floats (GCC/Clang vector extensions).
#pragma once

#include <cstdint>

namespace maskformer {
namespace kernels {

struct AttentionProblem {
  int64_t windows = 0;  // B: windows times images, the rows of qkv's first dimension
  int64_t n = 0;        // tokens per window
  int64_t heads = 0;
  int64_t d = 0;        // channels per head; C = heads * d
  bool bf16 = false;    // qkv, bias, mask and out hold bfloat16 (else float)
  float scale = 1.0f;
  const void* qkv = nullptr;   // (B, n, 3, heads, d): q, k and v of every token, contiguous
  const void* bias = nullptr;  // (heads, n, n), contiguous
  const void* mask = nullptr;  // (mask_windows, n, n) contiguous, or null: window b adds mask[b % mask_windows]
  int64_t mask_windows = 0;
  void* out = nullptr;         // (B, n, heads, d), contiguous
};

// What the kernels take (attention.cpp runs anything larger through ATen), and the query rows
// they compute at once.
constexpr int64_t kAttentionMaxTokens = 256;   // n
constexpr int64_t kAttentionMaxChannels = 128;  // d
constexpr int64_t kAttentionRowBlock = 4;

// Floats of scratch memory one call of an AttentionFn needs.
int64_t attention_scratch_floats(const AttentionProblem& p);

// Computes (window, head) pairs [begin, end) (pair i = window i / heads, head i % heads).
// Thread-safe for disjoint ranges with their own scratch.
using AttentionFn = void (*)(const AttentionProblem& p, int64_t begin, int64_t end, float* scratch);

void attention_generic(const AttentionProblem& p, int64_t begin, int64_t end, float* scratch);
#if defined(MF_KERNELS_X86)
void attention_avx2(const AttentionProblem& p, int64_t begin, int64_t end, float* scratch);
void attention_avx512(const AttentionProblem& p, int64_t begin, int64_t end, float* scratch);
#endif

// The best this CPU runs, and its name ("avx512", "avx2", "generic").
AttentionFn best_attention(const char** name = nullptr);

// The kernel called `name` if this CPU runs it, else null (tests).
AttentionFn attention_named(const char* name);

}  // namespace kernels
}  // namespace maskformer
