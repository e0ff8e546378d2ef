// SPDX-License-Identifier: Apache-2.0
// Beyond label maps: MaskFormer's "iterative" semantic rule, per-pixel confidence, and per-query
// segments (MaskFormer's panoptic inference with every class treated as "stuff"), all computed on
// the model's device. The definitions are those of models/maskformer/segments.py.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

#include "maskformer.h"
#include "model.hpp"

namespace maskformer {

// The results of one image under `options` (semantic_outputs, with MaskFormer's iterative rule
// when asked for, plus the confidence map and segments that `out` asks for): logits (Q, K+1) and
// mask logits (Q, h', w') of the forward pass, the network input net_h x net_w, the frame
// out_h x out_w. Work runs in bands of rows bounded by `band_bytes`, as semantic_outputs does.
// With nothing further asked for, this is semantic_outputs.
void write_outputs(const at::Tensor& logits, const at::Tensor& masks, int net_h, int net_w, int out_h,
                   int out_w, int num_classes, const OutputView& out, const SegmentOptions& options,
                   int64_t band_bytes);

}  // namespace maskformer
