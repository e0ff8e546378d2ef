// SPDX-License-Identifier: Apache-2.0
#include "cpu_optimize.hpp"
#include <chrono>

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <cstdlib>
#include <sstream>
#include <vector>

#include "error.hpp"

namespace maskformer {

namespace {

using torch::jit::Block;
using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

c10::optional<c10::OperatorHandle> find_op(const char* name) {
  return c10::Dispatcher::singleton().findSchema({name, ""});
}

// Runs a boxed operator on `args`; its one result.
c10::IValue call(const c10::OperatorHandle& op, std::vector<c10::IValue> args) {
  torch::jit::Stack stack(std::make_move_iterator(args.begin()), std::make_move_iterator(args.end()));
  op.callBoxed(&stack);
  return stack.at(0);
}

c10::optional<at::Tensor> constant_tensor(Value* v) {
  if (v->node()->kind() != c10::prim::Constant) return c10::nullopt;
  const auto value = torch::jit::toIValue(v);
  if (!value || !value->isTensor()) return c10::nullopt;
  return value->toTensor();
}

bool is_none(Value* v) {
  if (v->node()->kind() != c10::prim::Constant) return false;
  const auto value = torch::jit::toIValue(v);
  return value && value->isNone();
}

c10::optional<std::vector<int64_t>> constant_ints(Value* v) {
  if (v->node()->kind() != c10::prim::Constant) return c10::nullopt;
  const auto value = torch::jit::toIValue(v);
  if (!value || !value->isIntList()) return c10::nullopt;
  return value->toIntVector();
}

c10::optional<int64_t> constant_int(Value* v) {
  if (v->node()->kind() != c10::prim::Constant) return c10::nullopt;
  const auto value = torch::jit::toIValue(v);
  if (!value || !value->isInt()) return c10::nullopt;
  return value->toInt();
}

c10::optional<std::string> constant_string(Value* v) {
  if (v->node()->kind() != c10::prim::Constant) return c10::nullopt;
  const auto value = torch::jit::toIValue(v);
  if (!value || !value->isString()) return c10::nullopt;
  return value->toStringRef();
}

// A dense floating weight that oneDNN can take (mkldnn tensors are already packed).
bool plain_weight(const at::Tensor& w, int64_t dim) {
  return w.dim() == dim && w.layout() == at::kStrided && w.device().is_cpu() &&
         (w.scalar_type() == at::kFloat || w.scalar_type() == at::kBFloat16);
}

// The one node that uses `v`, when there is exactly one use and it is its first input.
Node* sole_user(Value* v) {
  if (v->uses().size() != 1) return nullptr;
  const torch::jit::Use& use = v->uses()[0];
  return use.offset == 0 ? use.user : nullptr;
}

void collect(Block* block, c10::Symbol kind, std::vector<Node*>* out) {
  for (Node* n : block->nodes()) {
    if (n->kind() == kind) out->push_back(n);
    for (Block* b : n->blocks()) collect(b, kind, out);
  }
}

// A prepacked weight as a graph constant. oneDNN's blocked tensors have no storage, which
// Graph::insertConstant refuses (it could not serialise them); this graph is never saved.
Value* packed_constant(Graph& g, const at::Tensor& packed) {
  Node* n = g.create(c10::prim::Constant);
  n->t_(c10::attr::value, packed);
  n->output()->setType(c10::TensorType::get());
  g.insertNode(n);
  return n->output();
}

Value* empty_scalars(Graph& g) {
  Node* list = g.createList(c10::OptionalType::create(c10::NumberType::get()), {});
  g.insertNode(list);
  return list->output();
}

struct Counts {
  int linear = 0, gelu = 0, conv = 0, relu = 0;
};

// aten::linear(x, W, b) with constant W, b -> mkldnn::_linear_pointwise(x, packed W, b, attr,
// [], algorithm); a GELU that alone reads the result becomes the post-op "gelu".
void rewrite_linear(Graph& g, bool fuse_gelu, Counts* counts) {
  const auto pack = find_op("mkldnn::_reorder_linear_weight");
  const c10::Symbol target = c10::Symbol::fromQualString("mkldnn::_linear_pointwise");
  if (!pack || !find_op("mkldnn::_linear_pointwise")) return;
  std::vector<Node*> nodes;
  collect(g.block(), c10::Symbol::fromQualString("aten::linear"), &nodes);
  for (Node* n : nodes) {
    const auto w = constant_tensor(n->input(1));
    if (!w || !plain_weight(*w, 2)) continue;
    const auto b = constant_tensor(n->input(2));
    if (!b && !is_none(n->input(2))) continue;
    at::Tensor packed;
    try {
      packed = call(*pack, {*w, c10::IValue()}).toTensor();
    } catch (const std::exception&) {
      continue;  // this weight stays with aten::linear
    }
    Node* gelu = fuse_gelu ? sole_user(n->output()) : nullptr;
    c10::optional<std::string> approximate;
    if (gelu != nullptr && gelu->kind() == c10::Symbol::fromQualString("aten::gelu") && gelu->inputs().size() == 2)
      approximate = constant_string(gelu->input(1));
    if (!approximate) gelu = nullptr;
    torch::jit::WithInsertPoint guard(n);
    Value* weight = packed_constant(g, packed);
    Value* attr = g.insertConstant(std::string(gelu != nullptr ? "gelu" : "none"));
    Value* scalars = empty_scalars(g);
    Value* algorithm = gelu != nullptr ? g.insertConstant(*approximate) : g.insertConstant(c10::IValue());
    Node* fused = g.create(target, {n->input(0), weight, n->input(2), attr, scalars, algorithm}, 1);
    g.insertNode(fused);
    Node* last = gelu != nullptr ? gelu : n;
    fused->output()->setType(last->output()->type());
    last->output()->replaceAllUsesWith(fused->output());
    if (gelu != nullptr) {
      gelu->destroy();
      ++counts->gelu;
    }
    n->destroy();
    ++counts->linear;
  }
}

// aten::conv2d(x, W, b, stride, padding, dilation, groups) with constant W, b and int lists ->
// mkldnn::_convolution_pointwise(x, packed W, b, padding, stride, dilation, groups, attr, [],
// None); a ReLU that alone reads the result becomes the post-op "relu".
void rewrite_conv(Graph& g, bool channels_last, Counts* counts) {
  const auto pack = find_op("mkldnn::_reorder_convolution_weight");
  const c10::Symbol target = c10::Symbol::fromQualString("mkldnn::_convolution_pointwise");
  if (!pack || !find_op("mkldnn::_convolution_pointwise")) return;
  std::vector<Node*> nodes;
  collect(g.block(), c10::Symbol::fromQualString("aten::conv2d"), &nodes);
  const c10::Symbol relu = c10::Symbol::fromQualString("aten::relu");
  const c10::Symbol relu_ = c10::Symbol::fromQualString("aten::relu_");
  for (Node* n : nodes) {
    if (n->inputs().size() != 7) continue;
    const auto w = constant_tensor(n->input(1));
    if (!w || !plain_weight(*w, 4)) continue;
    const auto b = constant_tensor(n->input(2));
    if (!b && !is_none(n->input(2))) continue;
    const auto stride = constant_ints(n->input(3));
    const auto padding = constant_ints(n->input(4));  // the "same"/"valid" overload has a string
    const auto dilation = constant_ints(n->input(5));
    const auto groups = constant_int(n->input(6));
    if (!stride || !padding || !dilation || !groups) continue;
    at::Tensor packed;
    try {
      packed = call(*pack, {*w, *padding, *stride, *dilation, *groups, c10::IValue()}).toTensor();
    } catch (const std::exception&) {
      continue;
    }
    Node* act = sole_user(n->output());
    if (act != nullptr && act->kind() != relu && act->kind() != relu_) act = nullptr;
    torch::jit::WithInsertPoint guard(n);
    Value* x = n->input(0);
    if (channels_last) {
      Node* contiguous = g.create(c10::Symbol::fromQualString("aten::contiguous"),
                                  {x, g.insertConstant(c10::MemoryFormat::ChannelsLast)}, 1);
      g.insertNode(contiguous);
      contiguous->output()->setType(x->type());
      x = contiguous->output();
    }
    Value* weight = packed_constant(g, packed);
    Value* attr = g.insertConstant(std::string(act != nullptr ? "relu" : "none"));
    Value* scalars = empty_scalars(g);
    Value* algorithm = g.insertConstant(c10::IValue());
    Node* fused = g.create(target, {x, weight, n->input(2), n->input(4), n->input(3), n->input(5), n->input(6), attr,
                                    scalars, algorithm},
                           1);
    g.insertNode(fused);
    Node* last = act != nullptr ? act : n;
    fused->output()->setType(last->output()->type());
    last->output()->replaceAllUsesWith(fused->output());
    if (act != nullptr) {
      act->destroy();
      ++counts->relu;
    }
    n->destroy();
    ++counts->conv;
  }
}

}  // namespace

std::string CpuPasses::text() const {
  if (!freeze) return "none";
  if (ofi) return "freeze,ofi";
  std::string s = "freeze";
  if (linear) s += ",linear";
  if (linear && gelu) s += ",gelu";
  if (conv) s += ",conv";
  if (conv && channels_last) s += ",channels_last";
  return s;
}

CpuPasses cpu_passes_from_env() {
  CpuPasses p;
  const char* env = std::getenv("MASKFORMER_CPU_PASSES");
  if (env == nullptr) return p;
  p = CpuPasses{false, false, false, false, false, false};
  std::stringstream in(env);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item == "freeze") p.freeze = true;
    if (item == "linear") p.linear = true;
    if (item == "gelu") p.gelu = true;
    if (item == "conv") p.conv = true;
    if (item == "channels_last") p.channels_last = true;
    if (item == "ofi") p.ofi = true;
  }
  if (p.linear || p.conv || p.ofi) p.freeze = true;  // the rewrites read frozen weights
  return p;
}

torch::jit::Module optimize_for_cpu(const torch::jit::Module& module, const CpuPasses& passes,
                                    std::string* report) {
  if (!passes.freeze) {
    if (report != nullptr) *report = "none";
    return module;
  }
  torch::jit::Module frozen;
  try {
    torch::NoGradGuard no_grad;
    frozen = torch::jit::freeze(module);
    if (passes.ofi) {
      frozen = torch::jit::optimize_for_inference(frozen);
      if (report != nullptr) *report = "freeze,ofi";
      return frozen;
    }
  } catch (const std::exception& e) {
    // a module that mutates its attributes cannot be frozen: it runs as it is
    const std::string what = text_of(e);
    if (report != nullptr) *report = "not frozen: " + what.substr(0, what.find('\n'));
    return module;
  }
  std::shared_ptr<Graph> graph = frozen.get_method("forward").graph();
  Counts counts;
  {
    torch::NoGradGuard no_grad;
    if (passes.linear) rewrite_linear(*graph, passes.gelu, &counts);
    if (passes.conv) rewrite_conv(*graph, passes.channels_last, &counts);
  }
  torch::jit::EliminateDeadCode(graph);
  if (report != nullptr) {
    std::ostringstream out;
    out << passes.text() << ": " << counts.linear << " linear (" << counts.gelu << " with GELU), "
        << counts.conv << " conv (" << counts.relu << " with ReLU) on oneDNN";
    *report = out.str();
  }
  return frozen;
}

torch::jit::Module optimize_for_cpu_checked(const torch::jit::Module& plain, at::ScalarType dtype,
                                            const CpuPasses& passes, std::string* report) {
  using clock = std::chrono::steady_clock;
  const auto ms = [](clock::duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  };
  const clock::time_point start = clock::now();
  std::string text = "none";
  torch::jit::Module optimized = optimize_for_cpu(plain, passes, &text);
  const clock::time_point rewritten = clock::now();
  const auto done = [&](const torch::jit::Module& kept) {
    // MASKFORMER_VERBOSE=1 shows what the load spent on it (docs/performance.md)
    if (report != nullptr)
      *report = passes.freeze ? text + " (rewrites " + ms(rewritten - start) + " ms, check " +
                                    ms(clock::now() - rewritten) + " ms)"
                              : text;
    return kept;
  };
  if (!passes.freeze || text.rfind("not frozen", 0) == 0) return done(optimized);
  try {
    c10::InferenceMode inference;
    // values only: no profiling run of the JIT executor on a size no call asked for
    torch::jit::GraphOptimizerEnabledGuard no_profiling(false);
    const at::Tensor x = at::randn({1, 3, 64, 96}, at::TensorOptions().dtype(at::kFloat)).to(dtype);
    const c10::IValue a = const_cast<torch::jit::Module&>(plain).forward({x});
    const c10::IValue b = optimized.forward({x});
    const auto& ea = a.toTupleRef().elements();
    const auto& eb = b.toTupleRef().elements();
    bool same = ea.size() == eb.size();
    const double tol = dtype == at::kFloat ? 1e-3 : 0.25;
    for (size_t i = 0; same && i < ea.size(); ++i) {
      const at::Tensor ta = ea[i].toTensor().to(at::kFloat), tb = eb[i].toTensor().to(at::kFloat);
      same = ta.sizes() == tb.sizes() &&
             (ta - tb).abs().max().item<double>() <= tol * (1.0 + ta.abs().max().item<double>());
    }
    if (same) return done(optimized);
    text = "none (the rewritten module computed other values: " + text + ")";
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    if (is_out_of_memory(e)) throw;
    const std::string what = summarise_error(text_of(e));
    text = "none (the rewritten module failed: " + what.substr(0, what.find('\n')) + ")";
  }
  return done(plain);
}

}  // namespace maskformer
