// SPDX-License-Identifier: Apache-2.0
// The shim's CPU fast paths against the plain code they stand in for (C++, linked against the
// shim's objects because both are internals that the C ABI does not expose separately):
//
// 1. The fused semantic kernels (fused_kernels.hpp): every kernel this CPU runs (avx512, avx2,
//    generic, forced with MASKFORMER_FUSED_SEMANTIC) against the tensor path on random network
//    outputs: frames of the network's size and resized up and down, widths that are no multiple
//    of the vector width, class counts that are no multiple of the class block, uint8 and int32
//    labels, float and uint8 confidence, 1 and 2 threads. Each label must be a class whose
//    reference score is within 1e-5 of the best (so labels differ only at ties of rounding), and
//    the winning score within 1e-5 of the reference's. The pruning (only the classes that can win a
//    block are scored) must change nothing, bit for bit, on trained-like outputs, exact ties and
//    near ties (classes within a few ulps), and must prune.
// 2. The load-time rewrites (cpu_optimize.hpp): kept on the test export (argv[1], if given) and
//    equal to the plain module there; attributes that the forward writes or views not folded; the
//    plain module run when the rewritten graph fails its first run or the module cannot be frozen;
//    rewritten weights dropped from the module only once the graph has run.
// 3. Transparent huge pages for large blocks allocated while a model loads, not for calls.
// 4. Winograd 3x3 convolutions (winograd.hpp) against at::conv2d in double: odd sizes, batches,
//    channel counts that are no multiple of 16, bias or none, ReLU, channels-last and plain
//    inputs, 1 and 2 threads, fp32 and (where the CPU has it natively) bf16; and the rewrite,
//    which takes only the wide 3x3 convolutions of stride 1 and keeps the module's results.
//
// Exit status 0 when every check passes, 1 otherwise (each failure printed).
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "attention.hpp"
#include "cpu_optimize.hpp"
#include "fused_kernels.hpp"
#include "host_memory.hpp"
#include "runtime.hpp"
#include "semantic.hpp"
#include "winograd.hpp"
#include "winograd_kernels.hpp"

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    ++failures;
    std::fprintf(stderr, "FAIL: %s\n", what.c_str());
  }
}

struct Case {
  int q, k, mh, mw, net_h, net_w, out_h, out_w;
  std::string name() const {
    char buf[160];
    std::snprintf(buf, sizeof buf, "q=%d k=%d masks %dx%d net %dx%d out %dx%d", q, k, mw, mh, net_w, net_h, out_w,
                  out_h);
    return buf;
  }
};

struct Result {
  std::vector<int32_t> labels;
  std::vector<float> confidence;
  std::vector<uint8_t> confidence_u8;
};

// One semantic_outputs call with the path `path` (MASKFORMER_FUSED_SEMANTIC) and, for the
// reference, the class scores.
Result run(const Case& c, const at::Tensor& logits, const at::Tensor& masks, const char* path, bool u8_labels,
           bool u8_conf, std::vector<float>* scores) {
  setenv("MASKFORMER_FUSED_SEMANTIC", path, 1);
  const int64_t n = int64_t(c.out_h) * c.out_w;
  std::vector<uint8_t> labels_u8(u8_labels ? n : 0);
  std::vector<int32_t> labels_i32(u8_labels ? 0 : n);
  Result r;
  r.confidence.assign(u8_conf ? 0 : n, -1.f);
  r.confidence_u8.assign(u8_conf ? n : 0, 0);
  maskformer::OutputView out;
  out.labels = u8_labels ? static_cast<void*>(labels_u8.data()) : static_cast<void*>(labels_i32.data());
  out.labels_size = n * (u8_labels ? 1 : 4);
  out.label_type = u8_labels ? MF_LABEL_U8 : MF_LABEL_I32;
  if (scores != nullptr) {
    scores->assign(size_t(c.k) * n, 0.f);
    out.scores = scores->data();
    out.scores_size = int64_t(scores->size()) * 4;
  }
  maskformer::ConfidenceView conf;
  conf.u8 = u8_conf;
  conf.data = u8_conf ? static_cast<void*>(r.confidence_u8.data()) : static_cast<void*>(r.confidence.data());
  conf.size = n * (u8_conf ? 1 : 4);
  maskformer::semantic_outputs(logits, masks, c.net_h, c.net_w, c.out_h, c.out_w, c.k, out, int64_t(1) << 20, &conf);
  r.labels.resize(n);
  for (int64_t i = 0; i < n; ++i) r.labels[i] = u8_labels ? labels_u8[i] : labels_i32[i];
  return r;
}

void semantic_kernels() {
  std::vector<const char*> paths = {"generic"};
  for (const char* name : {"avx2", "avx512"})
    if (maskformer::kernels::rows_named(name) != nullptr) paths.push_back(name);
  const char* best = nullptr;
  maskformer::kernels::best_rows(&best);
  std::printf("fused semantic kernels this CPU runs:");
  for (const char* p : paths) std::printf(" %s", p);
  std::printf(" (default: %s)\n", best);

  const std::vector<Case> cases = {
      {5, 7, 6, 9, 24, 36, 24, 36},          // network size, k and widths off the blocks
      {100, 150, 16, 16, 64, 64, 64, 64},    // Swin-T's query and class counts
      {12, 21, 9, 13, 36, 52, 101, 75},      // resized up, odd sizes
      {12, 21, 20, 30, 80, 120, 33, 47},     // resized down
      {10, 300, 8, 8, 32, 32, 48, 40},       // k > 256: int32 labels
      {3, 5, 2, 2, 8, 8, 1, 17},             // one output row
      {7, 4, 5, 40, 20, 160, 20, 161},       // width resized by one
  };
  at::manual_seed(7);
  for (int threads : {1, 2}) {
    at::set_num_threads(threads);
    for (const Case& c : cases) {
      // logits spread enough that classes compete; mask logits around the sigmoid's slope
      const at::Tensor logits = at::randn({c.q, c.k + 1}) * 3;
      const at::Tensor masks = at::randn({c.q, c.mh, c.mw}) * 4;
      const bool u8 = c.k <= 256;
      std::vector<float> scores;
      const Result ref = run(c, logits, masks, "0", u8, false, &scores);
      const int64_t n = int64_t(c.out_h) * c.out_w;
      for (const char* path : paths) {
        const std::string where = std::string(path) + ", " + std::to_string(threads) + " threads, " + c.name();
        const Result got = run(c, logits, masks, path, u8, false, nullptr);
        int64_t differing = 0, bad = 0;
        double worst_conf = 0, worst_label = 0;
        for (int64_t i = 0; i < n; ++i) {
          const float best_ref = ref.confidence[i];
          const int32_t label = got.labels[i];
          if (label < 0 || label >= c.k) {
            ++bad;
            continue;
          }
          const float mine = scores[size_t(label) * n + i];
          worst_label = std::max(worst_label, double(best_ref - mine));
          if (best_ref - mine > 1e-5f) ++bad;
          if (label != ref.labels[i]) ++differing;
          worst_conf = std::max(worst_conf, double(std::fabs(got.confidence[i] - best_ref)));
        }
        check(bad == 0, where + ": " + std::to_string(bad) + " labels whose score is not the best");
        check(worst_conf <= 1e-5, where + ": winning score off by " + std::to_string(worst_conf));
        // with random scores, exact ties of rounding are rare: a few labels at most may differ
        check(differing * 1000 <= n, where + ": " + std::to_string(differing) + " of " + std::to_string(n) +
                                         " labels differ from the tensor path");
        std::printf("  %-8s %d thread(s) %-44s labels differing %lld/%lld, max score gap %.2g, "
                    "max confidence diff %.2g\n",
                    path, threads, c.name().c_str(), static_cast<long long>(differing), static_cast<long long>(n),
                    worst_label, worst_conf);
        // uint8 confidence: the float one rounded, as put_confidence does; no confidence at all
        const Result byte = run(c, logits, masks, path, u8, true, nullptr);
        int64_t off = 0;
        for (int64_t i = 0; i < n; ++i) {
          const double v = std::min(1.0, std::max(0.0, double(got.confidence[i])));
          off += std::abs(int(byte.confidence_u8[i]) - int(std::floor(v * 255.0 + 0.5))) > 0;
        }
        check(off == 0, where + ": " + std::to_string(off) + " uint8 confidences differ from the float ones");
        check(byte.labels == got.labels, where + ": labels change with the confidence type");
      }
    }
  }
  // exact ties (pairs of classes with the same logits, so the same scores everywhere): every path
  // gives the first class of a tie, as the tensor path's argmax does, also where the resized
  // kernels keep only the classes that can win a block (both of a tie or neither)
  for (const Case& c : {cases[2], cases[3], cases[6]}) {
    at::Tensor logits = at::randn({c.q, c.k + 1}) * 3;
    for (int j = 0; j + 1 < c.k; j += 2) logits.select(1, j + 1).copy_(logits.select(1, j));
    const at::Tensor masks = at::randn({c.q, c.mh, c.mw}) * 4;
    std::vector<float> scores;
    const Result ref = run(c, logits, masks, "0", true, false, &scores);
    for (const char* path : paths) {
      const Result got = run(c, logits, masks, path, true, false, nullptr);
      int64_t differing = 0, odd = 0;
      for (size_t i = 0; i < got.labels.size(); ++i) {
        differing += got.labels[i] != ref.labels[i];
        odd += got.labels[i] % 2 == 1 && got.labels[i] < c.k - (c.k % 2);  // the second of a tie
      }
      check(differing == 0 && odd == 0, std::string(path) + ", ties, " + c.name() + ": " + std::to_string(differing) +
                                           " labels differ from the tensor path, " + std::to_string(odd) +
                                           " are the second class of a tie");
    }
  }
  // the pruning (only the classes that can win a block are scored) changes nothing, bit for bit,
  // and prunes: network outputs like a trained model's (each query sure of its class, masks that
  // are smooth blobs and mostly saturated), frames of the network's size and resized up and down,
  // exact ties included
  // "near ties": masks constant over space (each class's bounds are its exact score) and pairs of
  // classes whose logits differ by about an ulp, so that the loser's upper bound comes within a
  // few ulps of the winner's lower bound: both must be kept. (The bounds are summed in the same
  // order as the scores, and rounding is monotone, so the computed bounds hold the computed
  // scores exactly; the margin is a safety net beyond that, which this case does not isolate.)
  at::set_num_threads(1);
  for (const Case& c : {cases[0], cases[1], cases[2], cases[3], cases[4], cases[5], cases[6],
                        Case{24, 150, 24, 32, 96, 128, 270, 480}}) {
    for (int kind : {0, 1, 2}) {  // trained-like, exact ties, near ties
      at::Tensor logits = at::randn({c.q, c.k + 1}) * 12;
      if (kind > 0)
        for (int j = 0; j + 1 < c.k; j += 2)
          logits.select(1, j + 1).copy_(kind == 1 ? logits.select(1, j) : logits.select(1, j) + 3e-7 * (j % 3 - 1));
      const at::Tensor coarse = at::randn({c.q, 1, (c.mh + 3) / 4, (c.mw + 3) / 4}) * 20;
      const at::Tensor masks = kind == 2 ? (at::randn({c.q, 1, 1}) * 2).expand({c.q, c.mh, c.mw}).contiguous()
                                         : at::upsample_bilinear2d(coarse, {c.mh, c.mw}, false).squeeze(1).contiguous();
      for (const char* path : paths) {
        const std::string where = std::string(path) + ", pruning" +
                                  (kind == 1 ? " with ties" : kind == 2 ? " with near ties" : "") + ", " + c.name();
        setenv("MASKFORMER_SEMANTIC_PRUNE", "0", 1);
        maskformer::kernels::prune_stats() = maskformer::kernels::PruneStats{};
        const Result full = run(c, logits, masks, path, c.k <= 256, false, nullptr);
        check(maskformer::kernels::prune_stats().blocks == 0, where + ": MASKFORMER_SEMANTIC_PRUNE=0 still pruned");
        unsetenv("MASKFORMER_SEMANTIC_PRUNE");
        maskformer::kernels::prune_stats() = maskformer::kernels::PruneStats{};
        const Result pruned = run(c, logits, masks, path, c.k <= 256, false, nullptr);
        const maskformer::kernels::PruneStats stats = maskformer::kernels::prune_stats();
        check(pruned.labels == full.labels, where + ": labels differ from the unpruned kernel");
        check(std::memcmp(pruned.confidence.data(), full.confidence.data(), pruned.confidence.size() * 4) == 0,
              where + ": scores differ from the unpruned kernel");
        const double mean = stats.blocks > 0 ? double(stats.classes) / double(stats.blocks) : -1;
        std::printf("  %-8s pruning%s %-44s classes kept per block %.2f of %d\n", path,
                    kind == 1 ? " ties      " : kind == 2 ? " near ties " : "           ", c.name().c_str(), mean, c.k);
        check(stats.blocks > 0 && mean >= 1, where + ": the pruning did not run");
        // with 150 classes (ADE20k's), a small share is kept: the pruning is not silently off
        if (c.k >= 100 && kind == 0)
          check(mean <= 0.25 * c.k, where + ": the pruning kept " + std::to_string(mean) + " classes a block");
      }
    }
  }
  // a kernel name this CPU cannot run, or an unknown one, is refused rather than replaced
  const Case c = cases[0];
  const at::Tensor logits = at::randn({c.q, c.k + 1}), masks = at::randn({c.q, c.mh, c.mw});
  bool refused = false;
  try {
    run(c, logits, masks, "avx1024", true, false, nullptr);
  } catch (const std::exception& e) {
    refused = std::string(e.what()).find("MASKFORMER_FUSED_SEMANTIC=avx1024") != std::string::npos;
  }
  check(refused, "MASKFORMER_FUSED_SEMANTIC=avx1024 was not refused");
  unsetenv("MASKFORMER_FUSED_SEMANTIC");
}

bool has_op(const char* name) { return c10::Dispatcher::singleton().findSchema({name, ""}).has_value(); }

double max_difference(const c10::IValue& a, const c10::IValue& b) {
  double worst = 0;
  const auto& ea = a.toTupleRef().elements();
  const auto& eb = b.toTupleRef().elements();
  for (size_t i = 0; i < ea.size(); ++i)
    worst = std::max(
        worst, (ea[i].toTensor().to(at::kFloat) - eb[i].toTensor().to(at::kFloat)).abs().max().item<double>());
  return worst;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// What Model::finish does with a freshly rewritten network: its first run, falling back to the
// module as exported when that fails, then settle().
c10::IValue first_run(maskformer::CpuNetwork& net, const at::Tensor& x, std::string* report) {
  c10::InferenceMode guard;
  c10::IValue out;
  try {
    out = net.forward(x);
  } catch (const std::exception& e) {
    if (!net.fall_back()) throw;
    *report = std::string("fell back: ") + e.what();
    out = net.forward(x);
  }
  net.settle();
  return out;
}

// A small module written in TorchScript here: a 3x3 convolution and ReLU, with `body` around it.
torch::jit::Module conv_module(const std::string& body, bool eval) {
  torch::jit::Module m("ConvProbe");
  m.register_attribute("training", c10::BoolType::get(), !eval);
  m.register_parameter("weight", at::randn({4, 3, 3, 3}), false);
  m.register_parameter("bias", at::randn({4}), false);
  m.register_parameter("flat", m.attr("weight").toTensor().view({-1}), false);  // shares the weight's storage
  m.register_attribute("scale", c10::FloatType::get(), 1.0);
  c10::List<at::Tensor> held;
  held.push_back(m.attr("weight").toTensor());  // the weight itself, in a list
  m.register_attribute("held", c10::ListType::ofTensors(), held);
  m.define(body);
  return m;
}

void cpu_rewrites(const char* model_path) {
  const maskformer::CpuPasses defaults;
  // the convolution alone: rewritten and kept
  const std::string plain_conv = R"(
def forward(self, x):
    return (torch.relu(torch.conv2d(x, self.weight, self.bias, [1, 1], [1, 1], [1, 1], 1)),)
)";
  std::string report;
  torch::jit::Module m = conv_module(plain_conv, true);
  maskformer::optimize_for_cpu(m, defaults, &report);
  std::printf("conv probe: %s\n", report.c_str());
  if (has_op("mkldnn::_convolution_pointwise"))
    check(report.find("1 conv (1 with ReLU)") != std::string::npos, "conv probe not rewritten: " + report);
  else
    check(report.find("0 conv") != std::string::npos, "conv probe on a LibTorch without oneDNN ops: " + report);

  // the convolution on an unbatched (C, H, W) input: the rewritten module fails (oneDNN's pointwise
  // convolution and the channels-last layout take batches only); the plain one runs
  const std::string unbatched = R"(
def forward(self, x):
    return (torch.relu(torch.conv2d(x.squeeze(0), self.weight, self.bias, [1, 1], [1, 1], [1, 1], 1)).unsqueeze(0),)
)";
  m = conv_module(unbatched, true);
  {
    maskformer::CpuNetwork net = maskformer::optimize_for_cpu(m, defaults, &report);
    const at::Tensor x = at::randn({1, 3, 20, 24});
    const c10::IValue out = first_run(net, x, &report);
    std::printf("unbatched conv: %s\n", report.c_str());
    if (has_op("mkldnn::_convolution_pointwise"))
      check(starts_with(report, "fell back: ") && report.find("channels_last") != std::string::npos,
            "unbatched conv: " + report);
    c10::InferenceMode guard;
    check(max_difference(out, m.forward({x})) == 0, "unbatched conv: the fallback is not the plain module");
    check(max_difference(net.forward(x), m.forward({x})) == 0, "unbatched conv: later runs are not the plain module");
  }

  // a module still in training mode cannot be frozen: it runs as it is
  m = conv_module(plain_conv, false);
  maskformer::optimize_for_cpu(m, defaults, &report);
  std::printf("training-mode module: %s\n", report.c_str());
  check(starts_with(report, "not frozen: "), "training-mode module: " + report);

  // Weights become constants only when the forward graph provably only reads them: a weight that
  // is written in place, directly or through another attribute on its storage, or read through a
  // view, stays an attribute read (its convolution keeps aten::conv2d), and an attribute write
  // anywhere leaves the module unfrozen
  struct Unfoldable {
    const char* what;
    const char* body;
    const char* expect;
  };
  const Unfoldable unfoldable[] = {
      {"weight written in place", R"(
def forward(self, x):
    y = torch.relu(torch.conv2d(x, self.weight, self.bias, [1, 1], [1, 1], [1, 1], 1))
    self.weight.mul_(1.0)
    return (y,)
)", "0 conv"},
      {"weight written through a view on its storage", R"(
def forward(self, x):
    self.flat.add_(0.0)
    return (torch.relu(torch.conv2d(x, self.weight, self.bias, [1, 1], [1, 1], [1, 1], 1)),)
)", "0 conv"},
      {"weight read through a view", R"(
def forward(self, x):
    w = self.weight.view([4, 3, 3, 3])
    return (torch.relu(torch.conv2d(x, w, self.bias, [1, 1], [1, 1], [1, 1], 1)),)
)", "0 conv"},
      {"weight written through a list attribute holding it", R"(
def forward(self, x):
    self.held[0].mul_(1.0)
    return (torch.relu(torch.conv2d(x, self.weight, self.bias, [1, 1], [1, 1], [1, 1], 1)),)
)", "0 conv"},
      {"attribute set", R"(
def forward(self, x):
    self.scale = 2.0
    return (torch.relu(torch.conv2d(x, self.weight, self.bias, [1, 1], [1, 1], [1, 1], 1)),)
)", "not frozen: its forward sets attributes"},
  };
  for (const Unfoldable& u : unfoldable) {
    // without oneDNN's operators (Debian's 1.13) "0 conv" would hold whatever was folded
    if (!has_op("mkldnn::_convolution_pointwise") && std::string(u.expect) == "0 conv") continue;
    m = conv_module(u.body, true);
    maskformer::CpuNetwork net = maskformer::optimize_for_cpu(m, defaults, &report);
    first_run(net, at::randn({1, 3, 20, 24}), &report);
    std::printf("%s: %s\n", u.what, report.c_str());
    check(report.find(u.expect) != std::string::npos, std::string(u.what) + ": " + report);
  }

  // a rewritten convolution's weight is dropped from the module (it lives prepacked in the graph)
  // once the graph has run, not before; the bias, still read as a constant, is not
  if (has_op("mkldnn::_convolution_pointwise")) {
    m = conv_module(plain_conv, true);
    const at::Tensor weight = m.attr("weight").toTensor().clone(), bias = m.attr("bias").toTensor().clone();
    maskformer::CpuNetwork net = maskformer::optimize_for_cpu(m, defaults, &report);
    check(m.attr("weight").toTensor().numel() == 108, "rewritten conv: weight dropped before the first run");
    first_run(net, at::randn({1, 3, 8, 8}), &report);
    check(!starts_with(report, "fell back"), "rewritten conv: " + report);
    check(m.attr("weight").toTensor().numel() == 0, "rewritten conv: weight still held by the module");
    check(!net.fall_back(), "rewritten conv: a fall-back after settle() would run without the weight");
    check(m.attr("bias").toTensor().numel() == 4, "rewritten conv: bias dropped though the graph reads it");
    c10::InferenceMode guard;
    const at::Tensor x = at::randn({2, 3, 20, 24});
    const at::Tensor expected = at::relu(at::conv2d(x, weight, bias, {1, 1}, {1, 1}, {1, 1}, 1));
    const double diff = (net.forward(x).toTupleRef().elements()[0].toTensor() - expected).abs().max().item<double>();
    check(diff < 1e-4, "rewritten conv after its weight was dropped differs by " + std::to_string(diff));
  }

  // MASKFORMER_CPU_PASSES=none: nothing done
  setenv("MASKFORMER_CPU_PASSES", "none", 1);
  const maskformer::CpuPasses none = maskformer::cpu_passes_from_env();
  unsetenv("MASKFORMER_CPU_PASSES");
  m = conv_module(plain_conv, true);
  maskformer::optimize_for_cpu(m, none, &report);
  check(report == "none", "MASKFORMER_CPU_PASSES=none: " + report);

  if (model_path == nullptr || model_path[0] == '\0') {
    std::printf("no test export given: the rewrites of a real export were not checked\n");
    return;
  }
  // the test export (Swin blocks, pixel decoder, transformer decoder in miniature)
  torch::jit::Module plain = torch::jit::load(model_path);
  plain.eval();
  maskformer::CpuNetwork fast = maskformer::optimize_for_cpu(plain, defaults, &report);
  std::printf("test export: %s\n", report.c_str());
  first_run(fast, at::randn({1, 3, 64, 64}), &report);
  check(!starts_with(report, "fell back"), "test export: " + report);
  if (has_op("mkldnn::_linear_pointwise")) {
    check(starts_with(report, defaults.text() + ": ") && report.find(" 0 linear") == std::string::npos,
          "test export: linear layers not rewritten: " + report);
  }
  // the weights now held prepacked were dropped from `plain`: the reference is a second load
  torch::jit::Module reference = torch::jit::load(model_path);
  reference.eval();
  c10::InferenceMode guard;
  const at::Tensor x = at::randn({1, 3, 96, 128});
  const c10::IValue a = reference.forward({x}), b = fast.forward(x);
  const double diff = max_difference(a, b);
  std::printf("test export at 128x96: largest output difference %.3g\n", diff);
  check(diff < 1e-3, "test export: rewritten outputs differ by " + std::to_string(diff));
}

// MF_CPU_REWRITES_IN_BACKGROUND: calls made while the thread rewrites and checks get the exported
// module's values, then the rewritten network's; a rewrite that fails its check leaves the module
// as exported, weights and all; a network freed while its rewrite runs waits for the thread.
void background_rewrites(const char* model_path) {
  const maskformer::CpuPasses defaults;
  const std::string unbatched = R"(
def forward(self, x):
    return (torch.relu(torch.conv2d(x.squeeze(0), self.weight, self.bias, [1, 1], [1, 1], [1, 1], 1)).unsqueeze(0),)
)";
  {
    torch::jit::Module m = conv_module(unbatched, true);
    maskformer::BackgroundNetwork bg(m, defaults, at::kFloat, false);
    check(starts_with(bg.report(), "in the background"), "background, before start: " + bg.report());
    bg.wait();  // never started: returns at once
    bg.start("unbatched conv");
    bg.wait();
    std::printf("background, unbatched conv: %s\n", bg.report().c_str());
    if (has_op("mkldnn::_convolution_pointwise"))
      check(starts_with(bg.report(), "none (the rewritten network failed its test run: "), "background, unbatched conv: " + bg.report());
    check(m.attr("weight").toTensor().numel() == 108, "background, unbatched conv: weight dropped from the module");
    c10::InferenceMode guard;
    const at::Tensor x = at::randn({1, 3, 20, 24});
    check(max_difference(bg.forward(x), m.forward({x})) == 0, "background, unbatched conv: not the exported module");
  }
  {
    // freed while it runs (or before it starts): the destructor stops and waits for the thread
    torch::jit::Module m = conv_module(unbatched, true);
    maskformer::BackgroundNetwork started(m, defaults, at::kFloat, false);
    started.start("freed at once");
    maskformer::BackgroundNetwork never(m, defaults, at::kFloat, false);
  }
  if (model_path == nullptr || model_path[0] == '\0') return;
  torch::jit::Module exported = torch::jit::load(model_path);
  exported.eval();
  torch::jit::Module reference = torch::jit::load(model_path);
  reference.eval();
  const at::Tensor x = at::randn({1, 3, 96, 128});
  c10::IValue expected;
  {
    c10::InferenceMode guard;
    expected = reference.forward({x});
  }
  maskformer::BackgroundNetwork bg(exported, defaults, at::kFloat, false);
  bg.start("test export");
  // two callers run through the switch; each stops a few calls after the rewrite is done
  std::atomic<int> calls{0}, before{0};
  double worst_of[2] = {0, 0};
  const auto caller = [&](double* worst) {
    c10::InferenceMode guard;
    for (int after = 0, i = 0; after < 3 && i < 500; ++i) {
      const bool done = !starts_with(bg.report(), "in the background");
      *worst = std::max(*worst, max_difference(bg.forward(x), expected));
      ++calls;
      if (done) ++after; else ++before;
    }
  };
  std::thread a(caller, &worst_of[0]), b(caller, &worst_of[1]);
  a.join();
  b.join();
  const double worst = std::max(worst_of[0], worst_of[1]);
  bg.wait();
  std::printf("background, test export: %d calls (%d before the switch), largest difference %.3g: %s\n",
              calls.load(), before.load(), worst, bg.report().c_str());
  check(worst < 1e-3, "background, test export: calls around the switch differ by " + std::to_string(worst));
  // each caller's first call starts right after start(), long before the rewrite can be done
  check(before > 0, "background, test export: no call ran before the switch");
  check(starts_with(bg.report(), defaults.text() + ": ") && bg.report().find("checked in the background") != std::string::npos,
        "background, test export: " + bg.report());
  if (has_op("mkldnn::_linear_pointwise")) {
    // no call runs the exported module any more: the weights held prepacked have left it
    int64_t emptied = 0;
    for (const auto& p : exported.named_attributes(/*recurse=*/true))
      if (p.value.isTensor() && p.value.toTensor().numel() == 0) ++emptied;
    check(emptied > 0, "background, test export: no weight left the module after the switch");
  }
  c10::InferenceMode guard;
  check(max_difference(bg.forward(x), expected) < 1e-3, "background, test export: the rewritten network differs");
}

}  // namespace

// The kB of transparent huge pages backing the mapping that holds `p` (/proc/self/smaps), or -1.
long huge_kb_at(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  const auto addr = reinterpret_cast<uintptr_t>(p);
  while (std::getline(smaps, line)) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find(' ')) {
      inside = lo <= addr && addr < hi;
      continue;
    }
    long kb = 0;
    if (inside && std::sscanf(line.c_str(), "AnonHugePages: %ld kB", &kb) == 1) return kb;
  }
  return -1;
}

// 3. Large blocks allocated while a model loads (LongLivedScope) get transparent huge pages, where
//    the system lets a process ask for them; blocks allocated by calls keep 4 KiB pages.
void huge_pages() {
  std::ifstream enabled("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string mode((std::istreambuf_iterator<char>(enabled)), std::istreambuf_iterator<char>());
  if (mode.find("[madvise]") == std::string::npos && mode.find("[always]") == std::string::npos) {
    std::printf("huge pages: transparent huge pages are off here (%s): not checked\n", mode.c_str());
    return;
  }
  const char* env = std::getenv("MASKFORMER_HUGE_PAGES");
  if (env != nullptr && std::string(env) == "0") return;
  maskformer::install_host_allocator();
  maskformer::set_host_cache_limit(0);  // fresh mappings, not cached blocks
  c10::InferenceMode guard;
  at::Tensor weights;
  {
    const maskformer::LongLivedScope load;
    weights = at::empty({8 << 20}, at::kByte).fill_(1);
  }
  // a call's blocks from 16 MiB (Swin-T's large activations), not below (the demo's)
  const at::Tensor small = at::empty({8 << 20}, at::kByte).fill_(1);
  const at::Tensor large = at::empty({32 << 20}, at::kByte).fill_(1);
  const long in_load = huge_kb_at(weights.data_ptr()), in_small = huge_kb_at(small.data_ptr()),
             in_large = huge_kb_at(large.data_ptr());
  std::printf("huge pages (THP %s): 8 MiB allocated while loading %ld kB; by a call: 8 MiB %ld kB, 32 MiB %ld kB\n",
              mode.find("[always]") != std::string::npos ? "always" : "madvise", in_load, in_small, in_large);
  check(in_load >= 4096, "an 8 MiB block allocated while loading has " + std::to_string(in_load) + " kB of huge pages");
  check(in_large >= 16384, "a 32 MiB block allocated by a call has " + std::to_string(in_large) + " kB of huge pages");
  if (mode.find("[madvise]") != std::string::npos)
    check(in_small == 0, "an 8 MiB block allocated by a call has " + std::to_string(in_small) + " kB of huge pages");
  maskformer::set_host_cache_limit(-1);
}

// Worst |winograd - reference| / (largest |reference| + 1), with the reference computed in double
// from the same (rounded) inputs and weights.
double winograd_error(int64_t n, int64_t c, int64_t k, int64_t h, int64_t w, bool bias, bool relu, bool channels_last,
                      at::ScalarType dtype, double* direct_error) {
  at::Tensor x = at::randn({n, c, h, w}).to(dtype);
  if (channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor weight = (at::randn({k, c, 3, 3}) / std::sqrt(9.0 * c)).to(dtype);
  const at::Tensor b = at::randn({k});
  at::Tensor ref = at::conv2d(x.to(at::kDouble), weight.to(at::kDouble), bias ? b.to(at::kDouble) : at::Tensor(), 1, 1);
  if (relu) ref = ref.relu();
  const std::vector<at::Tensor> packed = maskformer::winograd_pack(weight);
  const at::Tensor y = maskformer::winograd_conv3x3(x, packed, bias ? c10::optional<at::Tensor>(b) : c10::nullopt, k, relu);
  check(y.sizes() == ref.sizes() && y.scalar_type() == dtype, "winograd: wrong result shape or type");
  const double scale = ref.abs().max().item<double>() + 1;
  at::Tensor direct = at::conv2d(x, weight, bias ? b.to(dtype) : at::Tensor(), 1, 1);
  if (relu) direct = direct.relu();
  *direct_error = (direct.to(at::kDouble) - ref).abs().max().item<double>() / scale;
  return (y.to(at::kDouble) - ref).abs().max().item<double>() / scale;
}

void winograd() {
  if (!maskformer::winograd_available()) {
    std::printf("winograd: this LibTorch lacks oneDNN's linear operators; not tested\n");
    return;
  }
  std::printf("winograd: %s transforms\n", maskformer::winograd_kernels_name());
  // the transforms of every instruction set this CPU runs give the same bits (additions only)
  for (bool bf16 : {false, true}) {
    namespace k = maskformer::kernels;
    k::WinogradProblem p;
    p.n = 2, p.h = 7, p.w = 9, p.c = 40, p.k = 21, p.tiles_h = 4, p.tiles_w = 5, p.bf16 = bf16, p.relu = true;
    const at::ScalarType dt = bf16 ? at::kBFloat16 : at::kFloat;
    const at::Tensor x = at::randn({p.n, p.h, p.w, p.c}).to(dt);
    const at::Tensor bias = at::randn({p.k});
    const int64_t tiles = p.n * p.tiles_h * p.tiles_w;
    std::vector<at::Tensor> m;
    std::vector<const void*> rows;
    for (int q = 0; q < 16; ++q) {
      m.push_back(at::randn({tiles, p.k}).to(dt));
      rows.push_back(m.back().data_ptr());
    }
    p.x = x.data_ptr();
    p.bias = bias.data_ptr<float>();
    at::Tensor v_best, y_best;
    for (const char* name : {"avx512", "avx2", "generic"}) {
      const k::WinogradKernels kern = k::winograd_named(name);
      if (kern.in == nullptr) continue;
      at::Tensor v = at::full({16, tiles, p.c}, 7.0).to(dt), y = at::full({p.n, p.h, p.w, p.k}, 7.0).to(dt);
      p.y = y.data_ptr();
      kern.in(p, 0, tiles, 0, tiles / 2, v.data_ptr());  // two calls, as the threads split them
      kern.in(p, 0, tiles, tiles / 2, tiles, v.data_ptr());
      kern.out(p, 0, rows.data(), 0, tiles);
      if (!v_best.defined()) {
        v_best = v, y_best = y;
        continue;
      }
      check(at::equal(v, v_best) && at::equal(y, y_best),
            std::string("winograd ") + name + (bf16 ? " bf16" : " fp32") + " transforms differ from the best kernels'");
    }
  }
  struct Shape {
    int64_t n, c, k, h, w;
  };
  // one tile, odd sizes (a half tile at the bottom and right), a batch, channels no multiple of 16,
  // enough tiles for the threads to take whole blocks, and more than one block
  const Shape shapes[] = {{1, 16, 16, 1, 1}, {1, 32, 24, 5, 3}, {2, 40, 70, 9, 14},
                          {1, 260, 270, 33, 31}, {3, 64, 48, 40, 50}, {1, 256, 512, 64, 80}};
  const bool bf16 = maskformer::cpu_has_native_bf16();
  for (int threads : {1, 2}) {
    at::set_num_threads(threads);
    for (const Shape& s : shapes)
      for (int variant = 0; variant < 4; ++variant) {
        const bool bias = variant != 1, relu = variant >= 2, channels_last = variant == 3;
        for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
          if (dtype == at::kBFloat16 && !bf16) continue;
          double direct = 0;
          const double err = winograd_error(s.n, s.c, s.k, s.h, s.w, bias, relu, channels_last, dtype, &direct);
          char where[200];
          std::snprintf(where, sizeof where, "winograd %ldx%ldx%ldx%ld -> %ld, %s%s%s, %s, %d thread(s)", s.n, s.c,
                        s.h, s.w, s.k, bias ? "bias" : "no bias", relu ? ", ReLU" : "",
                        channels_last ? ", channels-last input" : "", dtype == at::kFloat ? "fp32" : "bf16", threads);
          // fp32: at the level of rounding; bf16: its inputs and products rounded to bf16 too
          const double limit = dtype == at::kFloat ? 1e-5 : std::max(0.02, 4 * direct);
          check(err <= limit, std::string(where) + ": error " + std::to_string(err) + " (direct " + std::to_string(direct) + ")");
        }
      }
  }
  at::set_num_threads(1);
  // an empty batch, NaN kept through the ReLU, a type mismatch refused
  const std::vector<at::Tensor> packed = maskformer::winograd_pack(at::randn({32, 32, 3, 3}));
  check(maskformer::winograd_conv3x3(at::randn({0, 32, 5, 5}), packed, c10::nullopt, 32, true).numel() == 0,
        "winograd: empty batch");
  at::Tensor nan_in = at::zeros({1, 32, 4, 4});
  nan_in[0][0][1][1] = std::nan("");
  check(maskformer::winograd_conv3x3(nan_in, packed, c10::nullopt, 32, true).isnan().any().item<bool>(),
        "winograd: NaN lost through the ReLU");
  bool refused = false;
  try {
    maskformer::winograd_conv3x3(at::randn({1, 32, 4, 4}).to(at::kDouble), packed, c10::nullopt, 32, false);
  } catch (const std::exception&) {
    refused = true;
  }
  check(refused, "winograd: a double input was not refused");
  refused = false;
  try {
    maskformer::winograd_conv3x3(at::randn({1, 33, 4, 4}), packed, c10::nullopt, 32, false);
  } catch (const std::exception&) {
    refused = true;
  }
  check(refused, "winograd: an input of the wrong channel count was not refused");
  for (const at::Tensor& bad : {at::randn({32, 4, 4}), at::randn({1, 32, 4, 4}).to(at::kBFloat16)}) {
    refused = false;
    try {  // an unbatched input; a bf16 input for fp32 weights
      maskformer::winograd_conv3x3(bad, packed, c10::nullopt, 32, false);
    } catch (const std::exception&) {
      refused = true;
    }
    check(refused, "winograd: an input of " + std::string(bad.dim() == 3 ? "3 dimensions" : "bf16 for fp32 weights") +
                       " was not refused");
  }

  // the rewrite: the two wide 3x3 convolutions of stride 1 (the second with its in-place ReLU),
  // not the strided one nor the narrow one
  torch::jit::Module m("WideProbe");
  m.register_attribute("training", c10::BoolType::get(), false);
  m.register_parameter("w1", at::randn({512, 256, 3, 3}) / 48, false);
  m.register_parameter("b1", at::randn({512}), false);
  m.register_parameter("w2", at::randn({256, 512, 3, 3}) / 68, false);
  m.register_parameter("w3", at::randn({256, 256, 3, 3}) / 48, false);
  m.register_parameter("w4", at::randn({64, 256, 3, 3}) / 48, false);
  m.define(R"(
def forward(self, x):
    y = torch.conv2d(x, self.w1, self.b1, [1, 1], [1, 1], [1, 1], 1)
    y = torch.relu_(torch.conv2d(y, self.w2, None, [1, 1], [1, 1], [1, 1], 1))
    z = torch.conv2d(y, self.w3, None, [2, 2], [1, 1], [1, 1], 1)
    return (y, torch.conv2d(z, self.w4, None, [1, 1], [1, 1], [1, 1], 1))
)");
  torch::jit::Module reference = m.clone();
  std::string report;
  maskformer::CpuNetwork net = maskformer::optimize_for_cpu(m, maskformer::CpuPasses{}, &report);
  std::printf("winograd probe: %s\n", report.c_str());
  check(report.find("2 conv as Winograd (1 with ReLU)") != std::string::npos, "winograd probe: " + report);
  for (int threads : {1, 2}) {
    at::set_num_threads(threads);
    const at::Tensor x = at::randn({2, 256, 19, 22});
    const c10::IValue out = first_run(net, x, &report);
    c10::InferenceMode guard;
    const c10::IValue expected = reference.forward({x});
    const double scale = expected.toTupleRef().elements()[0].toTensor().abs().max().item<double>();
    const double diff = max_difference(out, expected);
    check(diff <= 1e-5 * scale, "winograd probe: rewritten outputs differ by " + std::to_string(diff) + " of " + std::to_string(scale));
  }
  at::set_num_threads(1);
  maskformer::CpuPasses without;
  without.winograd = false;
  torch::jit::Module again = reference.clone();
  maskformer::optimize_for_cpu(again, without, &report);
  check(report.find("Winograd") == std::string::npos && report.find(",winograd") == std::string::npos,
        "winograd off: " + report);
}

// The fused window attention (attention.hpp): each kernel this CPU runs against the operators it
// replaces, in fp32 and bf16, with and without the shifted windows' mask, at Swin's shapes (the
// kernels' register-resident cases, 49 and 144 tokens of 32 channels) and at others (partial
// vectors, a single token), at 1 and 2 threads; inputs it does not take run the reference; and the
// rewrite of a module written like models/maskformer/swin.py's WindowAttention.
void window_attention() {
  struct Shape {
    int64_t images, windows, n, heads, d;
  };
  // Swin's 7x7 and 12x12 windows, partial vectors, the largest the kernels take (256 tokens, 128
  // channels: the most accumulators), a single token
  const std::vector<Shape> shapes = {{1, 6, 49, 3, 32}, {2, 3, 144, 2, 32}, {1, 5, 20, 3, 24}, {2, 2, 64, 4, 16},
                                     {1, 1, 1, 1, 1},   {1, 2, 49, 2, 80},  {1, 1, 256, 1, 128}, {1, 2, 200, 2, 100}};
  std::vector<const char*> kernels = {"generic"};
  for (const char* name : {"avx2", "avx512"})
    if (maskformer::kernels::rows_named(name) != nullptr) kernels.push_back(name);
  std::printf("window attention: kernel %s\n", maskformer::attention_kernel_name());
  at::manual_seed(11);
  for (const Shape& sh : shapes)
    for (at::ScalarType type : {at::kFloat, at::kBFloat16})
      for (bool masked : {false, true}) {
        const int64_t b = sh.images * sh.windows, n = sh.n, h = sh.heads, d = sh.d;
        const at::Tensor x = (at::randn({b, n, 3 * h * d}) * 2).to(type);
        const at::Tensor bias = at::randn({n, n, h}).permute({2, 0, 1}).unsqueeze(0).to(type);  // as Swin's, strided
        const at::Tensor mask = ((at::rand({sh.windows, n, n}) < 0.3).to(at::kFloat) * -100).to(type);
        const c10::optional<at::Tensor> m = masked ? c10::optional<at::Tensor>(mask) : c10::nullopt;
        const std::vector<int64_t> qkv_shape{b, n, 3, h, d}, out_shape{b, n, h * d};
        const std::vector<int64_t> mask_view = masked ? std::vector<int64_t>{sh.images, sh.windows, h, n, n}
                                                      : std::vector<int64_t>{};
        const std::vector<int64_t> attn_view = masked ? std::vector<int64_t>{b, h, n, n} : std::vector<int64_t>{};
        const double scale = 1.0 / std::sqrt(double(d));
        // exact: the same inputs in float through the reference
        const c10::optional<at::Tensor> mf = masked ? c10::optional<at::Tensor>(mask.to(at::kFloat)) : c10::nullopt;
        const at::Tensor exact = maskformer::window_attention_reference(x.to(at::kFloat), qkv_shape, scale,
                                                                        bias.to(at::kFloat), mf, mask_view, attn_view,
                                                                        out_shape);
        const at::Tensor ref = maskformer::window_attention_reference(x, qkv_shape, scale, bias, m, mask_view,
                                                                      attn_view, out_shape);
        const double top = exact.abs().max().item<double>();
        const double ref_err = (ref.to(at::kFloat) - exact).abs().max().item<double>();
        for (const char* kernel : kernels)
          for (int threads : {1, 2}) {
            check(maskformer::use_attention_kernel(kernel), std::string("window attention: kernel ") + kernel);
            at::set_num_threads(threads);
            const at::Tensor got = maskformer::window_attention(x, qkv_shape, scale, bias, m, mask_view, attn_view,
                                                                out_shape);
            char where[160];
            std::snprintf(where, sizeof where, "window attention %s, %s, %lld x %lld tokens, %lld heads of %lld%s, %d thread(s)",
                          kernel, type == at::kFloat ? "fp32" : "bf16", (long long)b, (long long)n, (long long)h,
                          (long long)d, masked ? ", masked" : "", threads);
            check(got.sizes() == exact.sizes() && got.scalar_type() == type, std::string(where) + ": shape or type");
            const double err = (got.to(at::kFloat) - exact).abs().max().item<double>();
            // fp32: another order of the same sums; bf16: the output's own rounding (2^-9 relative),
            // never worse than the unfused bf16 operators, which round every step
            const double limit = type == at::kFloat ? 2e-5 * std::max(1.0, top) : std::max(top / 256, 1e-6);
            check(err <= limit, std::string(where) + ": error " + std::to_string(err) + " > " + std::to_string(limit));
            if (type == at::kBFloat16)
              check(err <= ref_err + 1e-6, std::string(where) + ": error " + std::to_string(err) +
                                               " above the unfused operators' " + std::to_string(ref_err));
          }
      }
  // a window whose mask is -inf everywhere: NaN rows there, as the operators give, with 20 tokens
  // (the padding lanes must not count) and with 16
  for (int64_t n : {20, 16})
    for (const char* kernel : kernels) {
      maskformer::use_attention_kernel(kernel);
      const at::Tensor x = at::randn({4, n, 3 * 2 * 8});
      const at::Tensor bias = at::randn({1, 2, n, n});
      at::Tensor mask = at::zeros({2, n, n});
      mask[0].fill_(-std::numeric_limits<float>::infinity());
      const std::vector<int64_t> qkv{4, n, 3, 2, 8}, mv{2, 2, 2, n, n}, av{4, 2, n, n}, os{4, n, 16};
      const at::Tensor got = maskformer::window_attention(x, qkv, 0.3, bias, mask, mv, av, os);
      const at::Tensor ref = maskformer::window_attention_reference(x, qkv, 0.3, bias, mask, mv, av, os);
      check(at::equal(got.isnan(), ref.isnan()) && ref.isnan().any().item<bool>(),
            std::string("window attention ") + kernel + ": a fully masked window is not NaN where the operators' is (" +
                std::to_string(n) + " tokens)");
      const at::Tensor finite = ref.isnan().logical_not();
      check((got.masked_select(finite) - ref.masked_select(finite)).abs().max().item<double>() <= 1e-5,
            std::string("window attention ") + kernel + ": the other windows differ");
    }
  check(maskformer::use_attention_kernel(nullptr), "window attention: back to the best kernel");
  at::set_num_threads(1);
  // what the kernel does not take runs the reference: double, a mask view that is no broadcast,
  // more than 256 tokens
  {
    const at::Tensor x = at::randn({4, 9, 24}, at::kDouble), bias = at::randn({1, 2, 9, 9}, at::kDouble);
    const at::Tensor got = maskformer::window_attention(x, {4, 9, 3, 2, 4}, 0.5, bias, c10::nullopt, {}, {}, {4, 9, 8});
    const at::Tensor ref =
        maskformer::window_attention_reference(x, {4, 9, 3, 2, 4}, 0.5, bias, c10::nullopt, {}, {}, {4, 9, 8});
    check(at::equal(got, ref), "window attention: a double input is not the reference's result");
    const at::Tensor xf = x.to(at::kFloat), bf = bias.to(at::kFloat), mask = at::randn({4, 9, 9});
    const at::Tensor one = at::randn({1, 9, 9});  // one window's mask for all
    const at::Tensor odd = maskformer::window_attention(xf, {4, 9, 3, 2, 4}, 0.5, bf, one, {4, 1, 2, 9, 9},
                                                        {4, 2, 9, 9}, {4, 9, 8});
    const at::Tensor odd_ref = maskformer::window_attention_reference(xf, {4, 9, 3, 2, 4}, 0.5, bf, one,
                                                                      {4, 1, 2, 9, 9}, {4, 2, 9, 9}, {4, 9, 8});
    check((odd - odd_ref).abs().max().item<double>() <= 1e-5, "window attention: one mask for every window");
    bool refused = false;
    try {
      maskformer::window_attention(xf, {4, 9, 3, 2, 4}, 0.5, bf, mask, {2, 2, 2, 9, 9}, {4, 2, 9, 9}, {4, 9, 8});
    } catch (const std::exception&) {
      refused = true;  // (2, 2, 2, 9, 9) + (1, 4, 1, 9, 9) does not broadcast: as the graph, an error
    }
    check(refused, "window attention: a mask view that cannot broadcast was not refused");
    const at::Tensor big = at::randn({1, 300, 24}), big_bias = at::randn({1, 2, 300, 300});
    check(at::equal(maskformer::window_attention(big, {1, 300, 3, 2, 4}, 0.5, big_bias, c10::nullopt, {}, {}, {1, 300, 8}),
                    maskformer::window_attention_reference(big, {1, 300, 3, 2, 4}, 0.5, big_bias, c10::nullopt, {},
                                                           {}, {1, 300, 8})),
          "window attention: 300 tokens are not the reference's result");
  }

  // the rewrite: both blocks of a module written like WindowAttention (the second with the
  // shifted windows' mask), and not a variant whose scores are read twice
  torch::jit::Module m("AttentionProbe");
  m.register_attribute("training", c10::BoolType::get(), false);
  m.register_attribute("num_heads", c10::IntType::get(), int64_t(3));
  m.register_attribute("scale", c10::FloatType::get(), 1.0 / std::sqrt(32.0));
  m.register_parameter("qkv_w", at::randn({288, 96}) / 10, false);
  m.register_parameter("qkv_b", at::randn({288}) / 10, false);
  m.register_parameter("table", at::randn({169, 3}), false);
  m.register_buffer("index", at::randint(0, 169, {49, 49}));
  m.register_buffer("mask", ((at::rand({4, 49, 49}) < 0.3).to(at::kFloat) * -100));
  m.define(R"(
def attend(self, x, has_mask: bool):
    bw, n, c = x.shape
    heads = self.num_heads
    qkv = torch.linear(x, self.qkv_w, self.qkv_b).reshape(bw, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    attn = (q * self.scale) @ k.transpose(-2, -1)
    bias = self.table[self.index.view(-1)]
    attn = attn + bias.view(n, n, heads).permute(2, 0, 1).unsqueeze(0)
    if has_mask:
        nw = self.mask.shape[0]
        attn = attn.view(bw // nw, nw, heads, n, n) + self.mask.unsqueeze(1).unsqueeze(0)
        attn = attn.view(bw, heads, n, n)
    attn = attn.softmax(dim=-1)
    return (attn @ v).transpose(1, 2).reshape(bw, n, c)

def twice(self, x):
    bw, n, c = x.shape
    qkv = torch.linear(x, self.qkv_w, self.qkv_b).reshape(bw, n, 3, 3, c // 3).permute(2, 0, 3, 1, 4)
    attn = (qkv[0] * self.scale) @ qkv[1].transpose(-2, -1)
    p = attn.softmax(dim=-1)
    return (p @ qkv[2]).transpose(1, 2).reshape(bw, n, c) + attn.sum()

def forward(self, x):
    return (self.attend(x, False), self.attend(x, True), self.twice(x))
)");
  torch::jit::Module reference = m.clone();
  std::string report;
  maskformer::CpuNetwork net = maskformer::optimize_for_cpu(m, maskformer::CpuPasses{}, &report);
  std::printf("attention probe: %s\n", report.c_str());
  check(report.find(", 2 window attention fused") != std::string::npos, "attention probe: " + report);
  for (int threads : {1, 2}) {
    at::set_num_threads(threads);
    const at::Tensor x = at::randn({8, 49, 96});
    const c10::IValue out = first_run(net, x, &report);
    c10::InferenceMode guard;
    const double diff = max_difference(out, reference.forward({x}));
    check(diff <= 2e-5, "attention probe: rewritten outputs differ by " + std::to_string(diff));
  }
  at::set_num_threads(1);
  maskformer::CpuPasses without;
  without.attention = false;
  torch::jit::Module again = reference.clone();
  maskformer::optimize_for_cpu(again, without, &report);
  check(report.find("attention") == std::string::npos, "attention off: " + report);
}

// The shim's own loops (Winograd transforms, fused post-processing, YUV rows) run on the intra-op
// pool: at::parallel_for only parallelises in code compiled with the OpenMP LibTorch uses, and the
// shim was once built without it, every loop then on the calling thread. MF_SHIM_OPENMP is what
// cpp/CMakeLists.txt chose (off for clang, the sanitizer build).
void shim_loops_parallel() {
  at::set_num_threads(2);
  const int team = maskformer::shim_parallel_team(64);
  at::set_num_threads(1);
  const int single = maskformer::shim_parallel_team(64);
#ifdef MF_SHIM_OPENMP
  check(team == 2, "a parallel_for of the shim's own code runs on both of 2 intra-op threads (ran on " +
                       std::to_string(team) + ")");
#else
  std::printf("shim loops: built without OpenMP (this compiler), they run on %d thread(s) of 2\n", team);
#endif
  check(single == 1, "with 1 intra-op thread, on one (ran on " + std::to_string(single) + ")");
}

int main(int argc, char** argv) {
  try {
    shim_loops_parallel();
    semantic_kernels();
    cpu_rewrites(argc > 1 ? argv[1] : nullptr);
    background_rewrites(argc > 1 ? argv[1] : nullptr);
    huge_pages();
    winograd();
    window_attention();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FAIL: %s\n", e.what());
    return 1;
  }
  std::printf(failures == 0 ? "cpu_paths_test: all checks passed\n" : "cpu_paths_test: %d failure(s)\n", failures);
  return failures == 0 ? 0 : 1;
}
