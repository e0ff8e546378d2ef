// SPDX-License-Identifier: Apache-2.0
// What runs the network inside a Model: a TorchScript module (torchscript.cpp) or an AOTInductor
// package (aoti.cpp). Everything around the forward pass (pre- and post-processing, the output
// contract, the NaN check, batching by network size) is the Model's and the same for both.
#pragma once

#include <ATen/ATen.h>
#include <ATen/core/ivalue.h>

#include <string>
#include <utility>
#include <vector>

#include "maskformer.h"

namespace maskformer {

// The tensor type the network runs in at a precision.
inline at::ScalarType scalar_type(mf_precision p) {
  switch (p) {
    case MF_PRECISION_FP16: return at::kHalf;
    case MF_PRECISION_BF16: return at::kBFloat16;
    default: return at::kFloat;
  }
}

class Backend {
 public:
  virtual ~Backend() = default;
  // The network's raw result for a batch on the model's device, in the model's dtype: a
  // (pred_logits, pred_masks) tuple when the file keeps the contract (Model checks that it does).
  virtual c10::IValue run(const at::Tensor& batch) const = 0;
  // The network input sizes (height, width) it accepts; empty: any size.
  virtual const std::vector<std::pair<int, int>>& sizes() const = 0;
  // "torchscript" or "aoti"
  virtual const char* format() const = 0;
  // What was done to the network at load to make it faster ("none" when nothing was)
  virtual const std::string& optimizations() const {
    static const std::string none = "none";
    return none;
  }
  // The load's test forward pass failed on a network rewritten at load (`why`): run the network
  // as exported from now on and say so in optimizations(). False when there is nothing to fall
  // back to. Called before the model is shared.
  virtual bool fall_back(const std::string& why) {
    (void)why;
    return false;
  }
  // The test forward pass succeeded: drop what only a fall-back needed.
  virtual void settle() {}
  // The model is loaded (after settle()): rewrites made in the background start now. `label`
  // names the model in messages.
  virtual void loaded(const std::string& label) { (void)label; }
  // Blocks until rewrites made in the background are done (at once when there are none).
  virtual void await_optimizations() const {}
};

}  // namespace maskformer
