// SPDX-License-Identifier: Apache-2.0
// Beyond label maps: MaskFormer's "iterative" semantic rule, per-pixel confidence, and per-query
// segments (MaskFormer's panoptic inference with every class treated as "stuff"), all computed on
// the model's device. The definitions are those of models/maskformer/segments.py.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "maskformer.h"
#include "model.hpp"

namespace maskformer {

struct InferenceRules {
  bool iterative = false;
  double iterative_overlap = 0.8;
  double object_threshold = 0.8;
  double overlap_threshold = 0.8;
  bool merge_same_class = false;
};

// Caller memory for one image's further results (validated in c_api.cpp); null pointers: not asked.
struct ExtraView {
  int32_t* segment_ids = nullptr;
  mf_segment_info* segments = nullptr;
  int32_t capacity = 0;
  uint32_t segment_info_size = sizeof(mf_segment_info);  // the caller's entry size (the stride)
  int32_t* count = nullptr;  // where the number of segments goes (the caller's segments_count)
  void* confidence = nullptr;
  int64_t confidence_size = 0;
  bool confidence_u8 = true;
  int64_t segment_ids_size = 0;

  bool wants_segments() const { return segment_ids != nullptr || segments != nullptr; }
};

struct SegmentExtras {
  InferenceRules rules;
  std::vector<ExtraView> views;  // one per image, same order as the images
};

// semantic_outputs under `rules`, plus what `extra` asks for, for one image: logits (Q, K+1) and
// mask logits (Q, h', w') of the forward pass, the network input net_h x net_w, the frame
// out_h x out_w. Work runs in bands of rows bounded by `band_bytes`, as semantic_outputs does.
void extended_outputs(const at::Tensor& logits, const at::Tensor& masks, int net_h, int net_w,
                      int out_h, int out_w, int num_classes, const OutputView& out,
                      const ExtraView& extra, const InferenceRules& rules, int64_t band_bytes);

}  // namespace maskformer
