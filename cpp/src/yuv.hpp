// SPDX-License-Identifier: Apache-2.0
// YUV 4:2:0 (NV12, NV21, I420) to RGB, as ffmpeg converts it.
//
// The reference is ffmpeg's own conversion of the same frame to rgb24 (libswscale 5.1 on x86,
// the default flags of the ffmpeg command): what a user compares with, and what a model fed
// through `ffmpeg -pix_fmt rgb24` saw. swscale takes one of two routes:
//  - even heights: its unscaled converter: each chroma sample covers its 2x2 block, and the
//    arithmetic is its SIMD kernel's 16-bit fixed point (values << 3, products >> 16, truncated);
//  - odd heights: its general scaler: chroma is interpolated vertically with the default bicubic
//    filter (B = 0, C = 0.6, coefficients in 1/4096) from ceil(h/2) rows to h; an odd width adds
//    the same filter horizontally ("full chroma"), and the colour arithmetic differs per route.
// Both are reproduced bit for bit (checked against ffmpeg 5.1 on real video by YuvIT and
// models/tests): same bytes as `ffmpeg -pix_fmt rgb24`.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "image.hpp"

namespace maskformer {

// Writes rows `rows[0..count)` of the image (all rows when rows is null: count = height), as
// packed RGB, width*3 bytes a row, one after the other into `out`. On the CPU, parallel over rows.
void yuv_to_rgb_rows(const ImageView& image, const int64_t* rows, int64_t count, uint8_t* out);

// The same conversion with tensor operations, on whatever device the planes are: y (H, W), and
// u, v (ceil(H/2), ceil(W/2)) uint8 tensors (strided views are fine). Returns (H, W, 3) uint8 RGB.
// Used on GPUs, where the planes (1.5 bytes a pixel) are what goes up; the fuzz target checks it
// against yuv_to_rgb_rows on the CPU.
at::Tensor yuv_to_rgb_tensor(const at::Tensor& y, const at::Tensor& u, const at::Tensor& v, int matrix,
                             bool full_range);

}  // namespace maskformer
