// SPDX-License-Identifier: Apache-2.0
// A loaded MaskFormer export and the full test-time pipeline around its forward pass.
#pragma once

#include <torch/script.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "image.hpp"
#include "maskformer.h"
#include "metadata.hpp"

namespace maskformer {

struct LoadOptions {
  int device = MF_DEVICE_CPU;
  mf_precision precision = MF_PRECISION_FP32;
  int intra_op_threads = 0;
  bool jit_optimize = false;
};

struct OutputView {
  void* labels = nullptr;
  int64_t labels_size = 0;
  mf_label_type label_type = MF_LABEL_U8;
  float* scores = nullptr;
  int64_t scores_size = 0;
};

struct SegmentExtras;  // segments.hpp

class Model {
 public:
  static std::unique_ptr<Model> load(const std::string& path, const LoadOptions& options);

  const Metadata& metadata() const { return meta_; }
  const at::Device& device() const { return device_; }
  mf_precision precision() const { return precision_; }

  // (height, width) the network sees for an image of this size
  std::pair<int, int> input_size(int height, int width, bool resize) const;

  // Validated by the caller (c_api.cpp); images with equal network sizes share one forward.
  // `extras` (may be null): an inference rule and further results per image (segments.hpp).
  void segment(const std::vector<ImageView>& images, const std::vector<OutputView>& outputs,
               bool resize, const SegmentExtras* extras = nullptr) const;

  void warmup(const std::vector<std::pair<int, int>>& sizes_hw) const;

  // Milliseconds of each of `iters` forward passes alone on zeros at the network size.
  std::vector<double> benchmark_forward(int height, int width, int batch, int iters) const;

 private:
  Model(torch::jit::Module module, Metadata meta, at::Device device, mf_precision precision,
        bool jit_optimize);

  // (pred_logits [B,Q,K+1], pred_masks [B,Q,h',w']) in float32, checked against the contract
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& batch) const;

  torch::jit::Module module_;
  Metadata meta_;
  at::Device device_;
  mf_precision precision_;
  at::ScalarType dtype_;
  bool jit_optimize_;
};

}  // namespace maskformer
