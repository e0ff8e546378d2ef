// SPDX-License-Identifier: Apache-2.0
// Load-time rewrites of a TorchScript export for the CPU: the forward graph is frozen (the weights
// it only reads become constants, batch norms fold into convolutions), then linear layers and convolutions are
// routed to oneDNN with their weights reordered once into oneDNN's blocked layouts (wide 3x3
// convolutions as Winograd F(2x2, 3x3), winograd.hpp), instead of
// MKL's sgemm (no AVX-512 path on AMD) and per-call weight reorders. What each rewrite gains is
// measured in docs/performance.md.
#pragma once

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/script.h>

#include <atomic>
#include <memory>
#include <string>

namespace maskformer {

// Which rewrites run. The defaults are the ones that won in the measurements; the environment
// variable MASKFORMER_CPU_PASSES (read at each load) overrides them for comparisons: "none", or a
// comma list of freeze, linear, gelu, conv, channels_last, winograd, attention, ofi
// (torch::jit::optimize_for_inference instead of the others).
struct CpuPasses {
  bool freeze = true;
  bool linear = true;         // aten::linear -> mkldnn::_linear_pointwise, weight prepacked
  bool gelu = true;           // linear followed by GELU: one oneDNN call with a GELU post-op
  bool conv = true;           // aten::conv2d -> mkldnn::_convolution_pointwise, weight prepacked
  bool channels_last = true;  // convolution inputs in channels-last order (no layout reorders)
  bool winograd = true;       // wide 3x3 convolutions -> the shim's Winograd operator (winograd.hpp)
  bool ofi = false;           // torch::jit::optimize_for_inference instead of the rewrites above
  bool attention = true;      // Swin's window attention -> the shim's fused operator (attention.hpp)
  std::string text() const;
};

CpuPasses cpu_passes_from_env();

struct FoldState;

// What runs: the module as loaded, or a rewritten forward graph over it (the module is then its
// first input, for the attributes the graph still reads).
class CpuNetwork {
 public:
  explicit CpuNetwork(torch::jit::Module module) : module_(std::move(module)) {}
  CpuNetwork(torch::jit::Module module, std::shared_ptr<torch::jit::Graph> graph, std::shared_ptr<FoldState> folded);
  // one owner: a copy could settle() while another falls back to the weights settle() dropped
  CpuNetwork(const CpuNetwork&) = delete;
  CpuNetwork& operator=(const CpuNetwork&) = delete;
  CpuNetwork(CpuNetwork&&) = default;
  CpuNetwork& operator=(CpuNetwork&&) = default;
  c10::IValue forward(const at::Tensor& x) const;
  // the rewritten graph; null when the module runs as it is
  std::shared_ptr<torch::jit::Graph> graph() const { return function_ ? function_->graph() : nullptr; }
  // Before settle(): run the module as loaded from now on (the rewritten graph failed its first
  // run). False when there is no rewritten graph, or it has settled.
  bool fall_back();
  // The rewritten graph has run: the weights it holds prepacked leave the module, which no call
  // reads them from again (otherwise they stayed resident twice). No fall-back after this.
  void settle();

 private:
  torch::jit::Module module_;
  std::shared_ptr<torch::jit::GraphFunction> function_;
  std::shared_ptr<FoldState> folded_;
};

// The network to run on the CPU: `module` (in eval mode, already in its precision) with the
// attributes its forward provably only reads folded into its inlined forward graph (values, and
// tensors only ever read without write or view), then rewritten as `passes` say; `module` itself
// is not changed until settle(). Rewrites whose operators this LibTorch lacks are skipped; a
// module that cannot be frozen runs as it is. The rewritten network's first run is the load's
// test forward pass (Model::finish): fall_back() if it fails, settle() when it passes. Its values
// are not compared with the plain module's at load (that cost a second first run, ~100 ms for
// the demo): ParityIT and the cpu_paths test compare them on the test exports. *report (may be
// null) says what was done and how long it took.
// `stop` (may be null) is polled between the stages: when it is set the rewrite ends early and
// the module runs as it is (report "none (stopped)").
CpuNetwork optimize_for_cpu(const torch::jit::Module& module, const CpuPasses& passes, std::string* report,
                            const std::atomic<bool>* stop = nullptr);

// MF_CPU_REWRITES_IN_BACKGROUND: calls run `module` as exported while a thread of its own rewrites
// it (optimize_for_cpu) and compares the rewritten network's outputs with the exported module's on
// a random input; if they agree, calls move to the rewritten network (a call in flight finishes on
// the network it started on) and the weights it holds prepacked leave the module once the last
// call on the exported module has returned. If they do not, or the rewrite fails, the module runs
// as exported for good and report() says why. Thread-safe; the destructor stops the rewrite
// (between its stages) and waits for the thread; stop_background_rewrites() does so for all.
class BackgroundNetwork {
 public:
  // `jit_optimize`: the executor setting of the model's calls (its test run uses it too)
  BackgroundNetwork(torch::jit::Module module, CpuPasses passes, at::ScalarType dtype, bool jit_optimize);
  ~BackgroundNetwork();
  BackgroundNetwork(const BackgroundNetwork&) = delete;
  BackgroundNetwork& operator=(const BackgroundNetwork&) = delete;
  // Starts the thread (once; after the exported module passed the load's test forward pass).
  // `label` names the model in the MASKFORMER_VERBOSE line printed when it is done.
  void start(const std::string& label);
  c10::IValue forward(const at::Tensor& x) const;
  // What runs: "in the background (...)" until the thread is done, then the final report. The
  // reference stays valid while this object lives.
  const std::string& report() const;
  // Blocks until the thread is done (at once if it was never started).
  void wait() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

// Stops every background rewrite and waits for its thread; none starts afterwards (models keep the
// network they run). For the end of the process (mf_stop_cpu_rewrites).
void stop_background_rewrites();

}  // namespace maskformer
