// SPDX-License-Identifier: Apache-2.0
// Pre-processing: caller pixels -> the normalised network input, on the model's device.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <cstdint>
#include <utility>

namespace maskformer {

struct ImageView {
  const uint8_t* data = nullptr;
  int64_t data_size = 0;
  int width = 0;
  int height = 0;
  int64_t stride = 0;
  int channels = 3;      // 3 or 4 (alpha ignored)
  bool bgr = false;      // channel order of the first three channels
};

// sssegmentation's keep-ratio rule: s = min(max(L,S)/max(h,w), min(L,S)/min(h,w)),
// size = (int(h*s + 0.5), int(w*s + 0.5)); returns (height, width).
std::pair<int, int> keep_ratio_size(int height, int width, int long_side, int short_side);

// The image as an (H, W, C) uint8 tensor on `device`: a view of caller memory on the CPU, or one
// transfer of the rows' byte span (asynchronous when the memory is pinned) elsewhere.
at::Tensor image_to_device(const ImageView& image, const at::Device& device, bool pinned);

// OpenCV's INTER_LINEAR on uint8, bit for bit: 11-bit fixed-point taps, integer horizontal pass,
// SIMD-style rounding in the vertical pass. Input (H, W, C) uint8 on any device; output
// (out_h, out_w, C) int32 in 0..255 on the same device.
at::Tensor resize_linear_u8(const at::Tensor& hwc, int out_h, int out_w);

// Writes the normalised RGB image ((x - mean) / std on 0..255 values) into `dst` (3, h, w) float.
// `hwc` is (h, w, >=3) of any integer type; `bgr` says whether its channels are in BGR order.
void normalise_into(const at::Tensor& hwc, bool bgr, bool model_bgr, const std::array<double, 3>& mean,
                    const std::array<double, 3>& std, at::Tensor dst);

}  // namespace maskformer
