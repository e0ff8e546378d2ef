// SPDX-License-Identifier: Apache-2.0
// A loaded MaskFormer export and the full test-time pipeline around its forward pass.
#pragma once

#include <torch/script.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend.hpp"
#include "image.hpp"
#include "maskformer.h"
#include "metadata.hpp"

namespace maskformer {

struct LoadOptions {
  int device = MF_DEVICE_CPU;
  mf_precision precision = MF_PRECISION_FP32;
  int intra_op_threads = 0;
  bool jit_optimize = false;
  bool allow_native_code = false;  // AOTInductor packages (.pt2) run compiled code from the file
  mf_cpu_rewrites cpu_rewrites = MF_CPU_REWRITES_IN_BACKGROUND;  // cpu_optimize.hpp
};

// Caller memory for one image's results (validated in c_api.cpp); null pointers: not asked for.
struct OutputView {
  void* labels = nullptr;
  int64_t labels_size = 0;
  mf_label_type label_type = MF_LABEL_U8;
  float* scores = nullptr;
  int64_t scores_size = 0;
  int32_t* segment_ids = nullptr;
  int64_t segment_ids_size = 0;
  void* segments = nullptr;                           // `capacity` entries, `segment_size` bytes apart
  int32_t capacity = 0;
  uint32_t segment_size = sizeof(mf_segment_info);    // the caller's struct_size of its entries
  int32_t* count = nullptr;                           // where the number of segments found goes
  void* confidence = nullptr;
  int64_t confidence_size = 0;
  bool confidence_u8 = true;

  bool wants_segments() const { return segment_ids != nullptr || segments != nullptr; }
};

// mf_segment_options, checked: the resize and the inference rule of one call.
struct SegmentOptions {
  bool resize = true;
  bool iterative = false;
  double iterative_overlap = 0.8;
  double object_threshold = 0.8;
  double overlap_threshold = 0.8;
  bool merge_same_class = false;
};

class Model {
 public:
  static std::unique_ptr<Model> load(const std::string& path, const LoadOptions& options);
  // A TorchScript export held in memory (read in place during the call; the caller keeps it).
  // `name` stands for the model in messages. AOTInductor packages load from files only.
  static std::unique_ptr<Model> load_memory(const void* data, size_t size, const std::string& name,
                                            const LoadOptions& options);

  const Metadata& metadata() const { return meta_; }
  const at::Device& device() const { return device_; }
  mf_precision precision() const { return precision_; }
  // "torchscript" or "aoti"
  const char* format() const { return backend_->format(); }
  // the load-time rewrites in force (cpu_optimize.hpp), "none" when there are none
  const std::string& optimizations() const { return backend_->optimizations(); }
  // blocks until the rewrites made in the background are done (at once when there are none)
  void await_optimizations() const { backend_->await_optimizations(); }
  // network input sizes (height, width) the file accepts; empty: any size
  const std::vector<std::pair<int, int>>& fixed_sizes() const { return backend_->sizes(); }

  // (height, width) the network sees for an image of this size
  std::pair<int, int> input_size(int height, int width, bool resize) const;

  // Validated by the caller (c_api.cpp); images with equal network sizes share one forward.
  void segment(const std::vector<ImageView>& images, const std::vector<OutputView>& outputs,
               const SegmentOptions& options) const;

  void warmup(const std::vector<std::pair<int, int>>& sizes_hw) const;

  // Milliseconds of each of `iters` forward passes alone on zeros at the network size.
  std::vector<double> benchmark_forward(int height, int width, int batch, int iters) const;

 private:
  Model(std::unique_ptr<Backend> backend, Metadata meta, at::Device device, mf_precision precision,
        bool jit_optimize);
  // Checks the options and the device, and applies the thread count: the part of a load that
  // reads no file.
  static at::Device prepare(const LoadOptions& options);
  // The model around a loaded backend, after a small test forward pass on its device.
  static std::unique_ptr<Model> finish(std::unique_ptr<Backend> backend, Metadata meta, const at::Device& device,
                                       const LoadOptions& options, const std::string& path);

  // Throws Error(MF_ERR_INVALID_ARGUMENT) when a package of fixed sizes lacks this network size.
  void require_size(int net_h, int net_w, int image_h, int image_w) const;

  // A YUV frame converted to RGB as ffmpeg does and resized to the network size, (h, w, 3) on the
  // model's device.
  at::Tensor yuv_to_network_size(const ImageView& image, int net_h, int net_w) const;

  // (pred_logits [B,Q,K+1], pred_masks [B,Q,h',w']) in float32, checked against the contract
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& batch) const;

  std::unique_ptr<Backend> backend_;
  Metadata meta_;
  at::Device device_;
  mf_precision precision_;
  at::ScalarType dtype_;
  bool jit_optimize_;
};

}  // namespace maskformer
