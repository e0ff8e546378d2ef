// SPDX-License-Identifier: Apache-2.0
// Pre-processing: caller pixels -> the normalised network input, on the model's device.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

namespace maskformer {

struct ImageView {
  const uint8_t* data = nullptr;  // packed pixels, or the Y plane of a YUV image
  int64_t data_size = 0;
  int width = 0;
  int height = 0;
  int64_t stride = 0;
  int channels = 3;      // 3 or 4 (alpha ignored); 1 for the Y plane of a YUV image
  bool bgr = false;      // channel order of the first three channels
  // YUV 4:2:0 (yuv.hpp): chroma planes of ceil(height/2) rows of ceil(width/2) samples, sample x
  // of row r at u + r * u_stride + x * chroma_step (2 for NV12/NV21, whose U and V interleave)
  bool yuv = false;
  const uint8_t* u = nullptr;
  const uint8_t* v = nullptr;
  int64_t u_stride = 0;
  int64_t v_stride = 0;
  int chroma_step = 1;
  int matrix = 0;         // MF_YUV_*
  bool full_range = false;
  // the caller's chroma buffers as given (for uploads): NV12/NV21 one, I420 two
  int chroma_buffers = 0;
  const uint8_t* chroma_data[2] = {nullptr, nullptr};
  int64_t chroma_span[2] = {0, 0};  // bytes the plane's rows span

  int chroma_width() const { return (width + 1) / 2; }
  int chroma_height() const { return (height + 1) / 2; }
  // bytes the Y (or packed) plane's rows span
  int64_t span() const { return (height - 1) * stride + int64_t(width) * channels; }
};

// sssegmentation's keep-ratio rule: s = min(max(L,S)/max(h,w), min(L,S)/min(h,w)),
// size = (int(h*s + 0.5), int(w*s + 0.5)); returns (height, width).
std::pair<int, int> keep_ratio_size(int height, int width, int long_side, int short_side);

// The image as an (H, W, C) uint8 tensor on `device`: a view of caller memory on the CPU, or one
// transfer of the rows' byte span (asynchronous when the memory is pinned) elsewhere. Packed
// formats only.
at::Tensor image_to_device(const ImageView& image, const at::Device& device, bool pinned);

// A YUV image's planes on `device` as (Y (H, W), U, V (ceil(H/2), ceil(W/2))) uint8 views: on the
// CPU views of caller memory; elsewhere the planes' bytes go up (1.5 bytes a pixel), in one
// transfer when they lie in one buffer without much else between them, else one per buffer.
std::vector<at::Tensor> yuv_planes_to_device(const ImageView& image, const at::Device& device);

// The rows of an in_h-row image that resize_linear_u8 to out_h rows reads, ascending.
std::vector<int64_t> resize_source_rows(int in_h, int out_h);

// OpenCV's INTER_LINEAR on uint8, bit for bit: 11-bit fixed-point taps, integer horizontal pass,
// SIMD-style rounding in the vertical pass. Input (H, W, C) uint8 on any device; output
// (out_h, out_w, C) int32 in 0..255 on the same device.
// `hwc` may also hold only the rows resize_source_rows(in_h, out_h) names (in_h: the full image's
// height), as the YUV path converts just those.
at::Tensor resize_linear_u8(const at::Tensor& hwc, int out_h, int out_w, int in_h = -1);

// Writes the normalised RGB image ((x - mean) / std on 0..255 values) into `dst` (3, h, w) float.
// `hwc` is (h, w, >=3) of any integer type; `bgr` says whether its channels are in BGR order.
void normalise_into(const at::Tensor& hwc, bool bgr, bool model_bgr, const std::array<double, 3>& mean,
                    const std::array<double, 3>& std, at::Tensor dst);

}  // namespace maskformer
