// SPDX-License-Identifier: Apache-2.0
// The two transforms of a Winograd F(2x2, 3x3) convolution (winograd.hpp), on raw arrays.
// A 3x3 convolution with stride 1 and padding 1 is computed per 2x2 output tile t from the 4x4
// input patch d around it: V = B^T d B (16 values per input channel), then for each of the 16
// positions p one matrix product M[p] = V[p] U[p]^T over the input channels (oneDNN, outside
// these kernels), then Y = A^T M A (2x2 outputs per output channel) plus bias and ReLU. 16
// products of C values per 4 outputs instead of 36: 2.25x fewer multiplications.
//
// Compiled three times like the fused semantic kernels (fused_kernels.hpp), with the same rules:
// plain C++, internal linkage, vectors of 16 channels (GCC/Clang vector extensions).
#pragma once

#include <cstdint>

namespace maskformer {
namespace kernels {

struct WinogradProblem {
  int64_t n = 0, h = 0, w = 0;  // images, rows and columns of the input and of the output
  int64_t c = 0, k = 0;         // input and output channels
  int64_t tiles_h = 0, tiles_w = 0;  // ceil(h / 2), ceil(w / 2); tile t = (n, ty, tx), row-major
  bool bf16 = false;            // x, V, M and y hold bfloat16 (else float)
  const void* x = nullptr;      // (n, h, w, c): channels-last input
  void* y = nullptr;            // (n, h, w, k): channels-last output
  const float* bias = nullptr;  // k floats, or null
  bool relu = false;
};

// V[p][t - t0][c] for tiles t in [a, b), t0 <= a <= b <= t0 + len; V holds 16 * len * c values.
using WinogradInFn = void (*)(const WinogradProblem& p, int64_t t0, int64_t len, int64_t a, int64_t b, void* v);
// The outputs of tiles t in [a, b) from m[p] (len x k values each, row t - t0).
using WinogradOutFn = void (*)(const WinogradProblem& p, int64_t t0, const void* const* m, int64_t a, int64_t b);

void winograd_in_generic(const WinogradProblem& p, int64_t t0, int64_t len, int64_t a, int64_t b, void* v);
void winograd_out_generic(const WinogradProblem& p, int64_t t0, const void* const* m, int64_t a, int64_t b);
#if defined(MF_KERNELS_X86)
void winograd_in_avx2(const WinogradProblem& p, int64_t t0, int64_t len, int64_t a, int64_t b, void* v);
void winograd_out_avx2(const WinogradProblem& p, int64_t t0, const void* const* m, int64_t a, int64_t b);
void winograd_in_avx512(const WinogradProblem& p, int64_t t0, int64_t len, int64_t a, int64_t b, void* v);
void winograd_out_avx512(const WinogradProblem& p, int64_t t0, const void* const* m, int64_t a, int64_t b);
#endif

struct WinogradKernels {
  WinogradInFn in;
  WinogradOutFn out;
  const char* name;  // "avx512", "avx2" or "generic"
};

// The best pair this CPU runs.
WinogradKernels best_winograd();

// The pair called `name` ("avx512", "avx2" or "generic") if this CPU runs it, else nulls (tests).
WinogradKernels winograd_named(const char* name);

}  // namespace kernels
}  // namespace maskformer
