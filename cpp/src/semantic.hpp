// SPDX-License-Identifier: Apache-2.0
// Semantic inference, MaskFormer style, from the network outputs to the caller's label map:
// mask logits upsampled to the network input and passed through a sigmoid, weighted by the class
// probabilities (softmax without "no object"), the class scores resized to the frame, argmax.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "model.hpp"

namespace maskformer {

// One axis of a bilinear resize with align_corners=false, with PyTorch's coordinate arithmetic
// (float scale in/out, source index clamped at 0, the upper tap clamped at the border).
struct LinearTaps {
  std::vector<int64_t> first, second;
  std::vector<float> w_first, w_second;
};
LinearTaps linear_taps(int64_t in, int64_t out);

// Row taps of output rows begin..end-1 as tensors on the device: source rows relative to `base`,
// weights shaped (1, rows, 1) to broadcast over (C, rows, W). Cached per device and sizes.
struct RowTaps {
  at::Tensor first, second, w_first, w_second;
};
RowTaps row_taps(const LinearTaps& t, int64_t in, int64_t out, int64_t begin, int64_t end,
                 int64_t base, const at::Device& device);

// (C, R, W) -> (C, R, out_w): ATen's linear kernel along the last axis, which uses the same
// coordinates as its bilinear kernel does for the width.
at::Tensor resize_width(const at::Tensor& x, int64_t out_w);

// (C, R, W) -> (C, rows, W): each output row mixes two source rows. Width first, then rows: the
// order of PyTorch's bilinear kernels, so the rounding matches the reference.
at::Tensor resize_rows(const at::Tensor& x, const RowTaps& t);

// Caller memory for a confidence map (the winning class's score per pixel), frame-sized.
struct ConfidenceView {
  void* data = nullptr;
  int64_t size = 0;
  bool u8 = true;  // round(255 * min(score, 1)); else float32
};

// Writes labels (and scores when the output asks for them) of one image.
// logits (Q, K+1) and masks (Q, h', w') float32 on the model's device; the network input was
// net_h x net_w; the output is out_h x out_w. The work runs in bands of output rows sized so that
// one band's class scores take at most `band_bytes`, which bounds the memory of large frames and
// keeps each band in cache on the CPU. Results equal the whole-image computation of the
// reference to float rounding. With `conf`, the winning scores go there too.
void semantic_outputs(const at::Tensor& logits, const at::Tensor& masks, int net_h, int net_w,
                      int out_h, int out_w, int num_classes, const OutputView& out,
                      int64_t band_bytes, const ConfidenceView* conf = nullptr);

}  // namespace maskformer
