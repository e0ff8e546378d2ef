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

// Writes labels (and scores when the output asks for them) of one image.
// logits (Q, K+1) and masks (Q, h', w') float32 on the model's device; the network input was
// net_h x net_w; the output is out_h x out_w. The work runs in bands of output rows sized so that
// one band's class scores take at most `band_bytes`, which bounds the memory of large frames and
// keeps each band in cache on the CPU. Results equal the whole-image computation of the
// reference to float rounding.
void semantic_outputs(const at::Tensor& logits, const at::Tensor& masks, int net_h, int net_w,
                      int out_h, int out_w, int num_classes, const OutputView& out,
                      int64_t band_bytes);

}  // namespace maskformer
