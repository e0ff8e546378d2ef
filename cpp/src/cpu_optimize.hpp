// SPDX-License-Identifier: Apache-2.0
// Load-time rewrites of a TorchScript export for the CPU: the module is frozen (weights become
// constants, batch norms fold into convolutions), then linear layers and convolutions are
// routed to oneDNN with their weights reordered once into oneDNN's blocked layouts, instead of
// MKL's sgemm (no AVX-512 path on AMD) and per-call weight reorders. What each rewrite gains is
// measured in docs/performance.md.
#pragma once

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/script.h>

#include <memory>

#include <string>

namespace maskformer {

// Which rewrites run. The defaults are the ones that won in the measurements; the environment
// variable MASKFORMER_CPU_PASSES (read at each load) overrides them for comparisons: "none", or a
// comma list of freeze, linear, gelu, conv, channels_last, ofi (torch::jit::optimize_for_inference
// instead of the others).
struct CpuPasses {
  bool freeze = true;
  bool linear = true;         // aten::linear -> mkldnn::_linear_pointwise, weight prepacked
  bool gelu = true;           // linear followed by GELU: one oneDNN call with a GELU post-op
  bool conv = true;           // aten::conv2d -> mkldnn::_convolution_pointwise, weight prepacked
  bool channels_last = true;  // convolution inputs in channels-last order (no layout reorders)
  bool ofi = false;           // torch::jit::optimize_for_inference instead of the rewrites above
  std::string text() const;
};

CpuPasses cpu_passes_from_env();

// What runs: the module as loaded, or a rewritten forward graph over it (the module is then its
// first input, for the attributes the graph still reads).
class CpuNetwork {
 public:
  explicit CpuNetwork(torch::jit::Module module) : module_(std::move(module)) {}
  CpuNetwork(torch::jit::Module module, std::shared_ptr<torch::jit::Graph> graph);
  c10::IValue forward(const at::Tensor& x) const;
  // the rewritten graph; null when the module runs as it is
  std::shared_ptr<torch::jit::Graph> graph() const { return function_ ? function_->graph() : nullptr; }

 private:
  torch::jit::Module module_;
  std::shared_ptr<torch::jit::GraphFunction> function_;
};

// The network to run on the CPU: `module` (in eval mode, already in its precision) with its
// read-only attributes folded into its inlined forward graph and rewritten as `passes` say
// (`module` itself is not changed). Rewrites whose operators this LibTorch lacks are skipped. A
// module that cannot be frozen runs as it is. *report (may be null) says what was done.
CpuNetwork optimize_for_cpu(const torch::jit::Module& module, const CpuPasses& passes, std::string* report);

// optimize_for_cpu, kept only when the rewritten graph computes what `plain` does on a small
// random input (1x3x64x96 of `dtype`; same output shapes, values within 1e-3 of the largest in
// fp32, 0.25 in bf16 and fp16, where folded batch norms round differently): an export that some
// rewrite does not suit runs as it is instead of failing or computing something else. When the
// rewritten graph is kept, the weights it no longer reads from `plain` (those it holds
// prepacked) are dropped from `plain`, which must then run only through the result. *report
// says what was kept ("none (the rewritten module failed: ...)" or "... computed other values"
// when `plain` was). Out-of-memory failures propagate.
CpuNetwork optimize_for_cpu_checked(const torch::jit::Module& plain, at::ScalarType dtype, const CpuPasses& passes,
                                    std::string* report);

}  // namespace maskformer
