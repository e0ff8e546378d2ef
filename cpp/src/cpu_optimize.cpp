// SPDX-License-Identifier: Apache-2.0
#include "cpu_optimize.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/frozen_graph_optimizations.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/passes/remove_dropout.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "attention.hpp"
#include "error.hpp"
#include "host_memory.hpp"
#include "winograd.hpp"

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
  int linear = 0, gelu = 0, conv = 0, relu = 0, winograd = 0, winograd_relu = 0, attention = 0;
};

// The ReLU (aten::relu or relu_) that alone reads n's output, else null.
Node* sole_relu(Node* n) {
  Node* act = sole_user(n->output());
  if (act == nullptr) return nullptr;
  const c10::Symbol kind = act->kind();
  return kind == c10::Symbol::fromQualString("aten::relu") || kind == c10::Symbol::fromQualString("aten::relu_")
             ? act
             : nullptr;
}

// `fused`, inserted, takes the place of n, or of `act` (the activation it computes too) when that
// is not null; both go. Returns whether there was an activation.
bool replace_with(Node* n, Node* act, Node* fused) {
  Node* last = act != nullptr ? act : n;
  fused->output()->setType(last->output()->type());
  last->output()->replaceAllUsesWith(fused->output());
  if (act != nullptr) act->destroy();
  n->destroy();
  return act != nullptr;
}


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
    if (replace_with(n, gelu, fused)) ++counts->gelu;
    ++counts->linear;
  }
}

// Whether oneDNN's blocked layout for this convolution's weight depends on the input's size, so
// that a weight prepacked without knowing it (as here: shapes come with the calls) is not the one
// the primitive picked at run time wants: 1x1 convolutions and non-overlapping patches (stride =
// kernel). Then every call converted the prepacked weight from one blocked layout to another with
// oneDNN's element-by-element reference reorder (Swin-T's four 1x1 convolutions to 512 channels
// and its 4x4 patch embedding: 11-31 ms a call in bf16 at 512x512, 7.6-11 in fp32), where the
// plain weight costs a fast JIT reorder per call (about 1.3 ms for all five). Those weights stay
// plain (docs/performance.md). Swin-T's 3x3 convolutions kept their prepacked layout at 512x512
// and 1280x720 (ONEDNN_VERBOSE shows no reorder of theirs per call).
bool layout_follows_input(const at::Tensor& w, const std::vector<int64_t>& stride) {
  const bool one = w.size(2) == 1 && w.size(3) == 1;
  const bool patches = stride.size() == 2 && stride[0] == w.size(2) && stride[1] == w.size(3);
  return one || patches;
}

// aten::conv2d(x, W, b, stride, padding, dilation, groups) with constant W, b and int lists ->
// mkldnn::_convolution_pointwise(x, packed W, b, padding, stride, dilation, groups, attr, [],
// None); a ReLU that alone reads the result becomes the post-op "relu". Weights whose layout
// follows the input stay plain (above).
void rewrite_conv(Graph& g, bool channels_last, Counts* counts) {
  const auto pack = find_op("mkldnn::_reorder_convolution_weight");
  const c10::Symbol target = c10::Symbol::fromQualString("mkldnn::_convolution_pointwise");
  if (!pack || !find_op("mkldnn::_convolution_pointwise")) return;
  std::vector<Node*> nodes;
  collect(g.block(), c10::Symbol::fromQualString("aten::conv2d"), &nodes);
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
      packed = layout_follows_input(*w, *stride)
                   ? w->contiguous()
                   : call(*pack, {*w, *padding, *stride, *dilation, *groups, c10::IValue()}).toTensor();
    } catch (const std::exception&) {
      continue;
    }
    Node* act = sole_relu(n);
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
    if (replace_with(n, act, fused)) ++counts->relu;
    ++counts->conv;
  }
}


// Whether a 3x3 convolution with c input and k output channels gains as Winograd. Narrower ones
// stay direct: the transforms' memory traffic and the products' fixed costs outweigh the saved
// multiplications (256 -> 256 at 2 threads: 0.74-1.11x, 128 -> 128 0.2-0.75x). Wider ones too:
// in MaskFormer that is the pyramid pooling's bottleneck (2,816 -> 512 for Swin-T), which works at
// stride 32, where the gain is a few ms, while its transformed weights (16/9 of the weight's
// size) would cost 90 MB and 0.4 s of the load (docs/performance.md, "Winograd convolutions").
bool winograd_wins(int64_t c, int64_t k) { return c >= 256 && k >= 256 && c + k >= 768 && c + k <= 2048; }

// aten::conv2d(x, W, b, [1, 1], [1, 1], [1, 1], 1) with a constant 3x3 weight whose channels
// winograd_wins -> winograd_conv3x3(x, [16 packed U], float bias, K, relu) (winograd.hpp); a ReLU
// that alone reads the result is applied in its output transform. Its output is channels-last.
void rewrite_winograd(Graph& g, Counts* counts) {
  if (!winograd_available()) return;
  const c10::Symbol target = c10::Symbol::fromQualString(winograd_op_name());
  std::vector<Node*> nodes;
  collect(g.block(), c10::Symbol::fromQualString("aten::conv2d"), &nodes);
  const std::vector<int64_t> ones{1, 1};
  for (Node* n : nodes) {
    if (n->inputs().size() != 7) continue;
    const auto w = constant_tensor(n->input(1));
    if (!w || !plain_weight(*w, 4) || w->size(2) != 3 || w->size(3) != 3) continue;
    if (!winograd_wins(w->size(1), w->size(0))) continue;
    const auto b = constant_tensor(n->input(2));
    if (!b && !is_none(n->input(2))) continue;
    if (b && (b->dim() != 1 || b->size(0) != w->size(0))) continue;
    const auto stride = constant_ints(n->input(3));
    const auto padding = constant_ints(n->input(4));
    const auto dilation = constant_ints(n->input(5));
    const auto groups = constant_int(n->input(6));
    if (stride != ones || padding != ones || dilation != ones || groups != 1) continue;
    std::vector<at::Tensor> packed;
    try {
      packed = winograd_pack(*w);
    } catch (const std::exception&) {
      continue;  // stays a convolution (the conv rewrite may still take it)
    }
    Node* act = sole_relu(n);
    torch::jit::WithInsertPoint guard(n);
    std::vector<Value*> weights;
    for (const at::Tensor& u : packed) weights.push_back(packed_constant(g, u));
    Node* list = g.createList(c10::TensorType::get(), weights);
    g.insertNode(list);
    Value* bias = b ? g.insertConstant(b->to(at::kFloat).contiguous()) : g.insertConstant(c10::IValue());
    Node* fused = g.create(target, {n->input(0), list->output(), bias, g.insertConstant(w->size(0)),
                                    g.insertConstant(act != nullptr)},
                           1);
    g.insertNode(fused);
    if (replace_with(n, act, fused)) ++counts->winograd_relu;
    ++counts->winograd;
  }
}

// The node of kind `kind` with `inputs` inputs that produces v, else null.
Node* made_by(Value* v, const char* kind, size_t inputs) {
  Node* n = v->node();
  return n->kind() == c10::Symbol::fromQualString(kind) && n->inputs().size() == inputs ? n : nullptr;
}

bool is_tensor(Value* v) { return v->type()->isSubtypeOf(*c10::TensorType::get()); }

bool used_once(Node* n) { return n != nullptr && n->outputs().size() == 1 && n->output()->uses().size() == 1; }

// A constant int input equal to one of `a` or `b` (a dimension written either way).
bool int_is(Value* v, int64_t a, int64_t b) {
  const auto i = constant_int(v);
  return i && (*i == a || *i == b);
}

// Swin's window attention as models/maskformer/swin.py traces it (WindowAttention.forward):
//   r = reshape(x, [B, n, 3, H, d]); p = permute(r, [2, 0, 3, 1, 4]); q, k, v = select(p, 0, 0|1|2)
//   a = add(matmul(mul(q, scale), transpose(k, -2, -1)), bias, 1)
//   shifted windows: a = view(add(view(a, mask_view), unsqueeze(unsqueeze(mask, 1), 0), 1), attn_view)
//   out = reshape(transpose(matmul(softmax(a, -1, None), v), 1, 2), out_shape)
// -> window_attention(x, [B, n, 3, H, d], scale, bias, mask or None, mask_view or [], attn_view or
// [], out_shape) (attention.hpp), which computes the same from the same values. Each value in
// between must have no reader outside the pattern (else it would be computed anyway).
void rewrite_attention(Graph& g, Counts* counts) {
  if (!attention_available()) return;
  const c10::Symbol target = c10::Symbol::fromQualString(attention_op_name());
  std::vector<Node*> nodes;
  collect(g.block(), c10::Symbol::fromQualString("aten::softmax"), &nodes);
  for (Node* sm : nodes) {
    if (sm->inputs().size() != 3 || !int_is(sm->input(1), -1, -1) || !is_none(sm->input(2)) || !used_once(sm)) continue;
    Node* pv = sole_user(sm->output());
    if (pv == nullptr || pv->kind() != c10::Symbol::fromQualString("aten::matmul") || pv->inputs().size() != 2 ||
        !used_once(pv))
      continue;
    Node* tr = sole_user(pv->output());
    if (tr == nullptr || tr->kind() != c10::Symbol::fromQualString("aten::transpose") || tr->inputs().size() != 3 ||
        !int_is(tr->input(1), 1, 1) || !int_is(tr->input(2), 2, 2) || !used_once(tr))
      continue;
    Node* out = sole_user(tr->output());
    if (out == nullptr || out->kind() != c10::Symbol::fromQualString("aten::reshape") || out->inputs().size() != 2)
      continue;
    std::vector<Node*> inside{sm, pv, tr, out};
    Node* biased = made_by(sm->input(0), "aten::view", 2);
    Value* mask = nullptr;
    Value* mask_view = nullptr;
    Value* attn_view = nullptr;
    if (biased != nullptr) {  // the shifted windows' mask
      Node* view4 = biased;
      Node* add = made_by(view4->input(0), "aten::add", 3);
      Node* view5 = add != nullptr ? made_by(add->input(0), "aten::view", 2) : nullptr;
      Node* un0 = add != nullptr ? made_by(add->input(1), "aten::unsqueeze", 2) : nullptr;
      Node* un1 = un0 != nullptr ? made_by(un0->input(0), "aten::unsqueeze", 2) : nullptr;
      if (!used_once(view4) || !used_once(add) || !used_once(view5) || !used_once(un0) || !used_once(un1) ||
          !int_is(add->input(2), 1, 1) || !int_is(un0->input(1), 0, 0) || !int_is(un1->input(1), 1, 1))
        continue;
      mask = un1->input(0);
      mask_view = view5->input(1);
      attn_view = view4->input(1);
      biased = made_by(view5->input(0), "aten::add", 3);
      inside.insert(inside.end(), {view4, add, view5, un0, un1});
    } else {
      biased = made_by(sm->input(0), "aten::add", 3);
    }
    if (!used_once(biased) || biased->inputs().size() != 3 || !int_is(biased->input(2), 1, 1)) continue;
    Value* bias = biased->input(1);
    if (!is_tensor(bias) || (mask != nullptr && !is_tensor(mask))) continue;
    Node* qk = made_by(biased->input(0), "aten::matmul", 2);
    if (!used_once(qk) || qk->inputs().size() != 2) continue;
    Node* scaled = made_by(qk->input(0), "aten::mul", 2);
    Node* kt = made_by(qk->input(1), "aten::transpose", 3);
    if (!used_once(scaled) || !used_once(kt) || !int_is(kt->input(1), -2, -2) || !int_is(kt->input(2), -1, -1)) continue;
    const c10::optional<c10::IValue> scale = torch::jit::toIValue(scaled->input(1));
    if (!scale || !scale->isDouble()) continue;
    Node* qs = made_by(scaled->input(0), "aten::select", 3);
    Node* ks = made_by(kt->input(0), "aten::select", 3);
    Node* vs = made_by(pv->input(1), "aten::select", 3);
    if (!used_once(qs) || !used_once(ks) || !used_once(vs)) continue;
    Value* perm = qs->input(0);
    if (ks->input(0) != perm || vs->input(0) != perm || !int_is(qs->input(1), 0, 0) || !int_is(ks->input(1), 0, 0) ||
        !int_is(vs->input(1), 0, 0) || !int_is(qs->input(2), 0, 0) || !int_is(ks->input(2), 1, 1) ||
        !int_is(vs->input(2), 2, 2) || perm->uses().size() != 3)
      continue;
    Node* permute = made_by(perm, "aten::permute", 2);
    if (permute == nullptr || constant_ints(permute->input(1)) != std::vector<int64_t>{2, 0, 3, 1, 4}) continue;
    Node* reshape = made_by(permute->input(0), "aten::reshape", 2);
    if (!used_once(reshape)) continue;
    inside.insert(inside.end(), {biased, qk, scaled, kt, qs, ks, vs, permute, reshape});
    bool one_block = true;
    for (Node* n : inside) one_block = one_block && n->owningBlock() == out->owningBlock();
    if (!one_block) continue;
    // the operator reads x, bias and mask where the chain's last node was: nothing in between may
    // write to a tensor (none does in a traced Swin block)
    bool writes = false;
    for (Node* n = reshape->next(); n != out && n->kind() != c10::prim::Return; n = n->next())
      writes = writes || n->kind() == c10::prim::SetAttr || (n->maybeSchema() != nullptr && n->schema().is_mutable());
    if (writes) continue;
    torch::jit::WithInsertPoint guard(out);
    const auto none_or = [&](Value* v) { return v != nullptr ? v : g.insertConstant(c10::IValue()); };
    const auto list_or = [&](Value* v) { return v != nullptr ? v : g.insertConstant(std::vector<int64_t>{}); };
    Node* fused = g.create(target,
                           {reshape->input(0), reshape->input(1), scaled->input(1), bias, none_or(mask),
                            list_or(mask_view), list_or(attn_view), out->input(1)},
                           1);
    g.insertNode(fused);
    fused->output()->setType(out->output()->type());
    out->output()->replaceAllUsesWith(fused->output());
    ++counts->attention;
  }
}

// ---- Freezing without cloning the module ----
// torch::jit::freeze clones the module and proves each attribute immutable with alias analysis
// run again and again: 250-350 ms of the demo's load and ~500 ms of Swin-T's, more than the
// rest of the rewrites and the whole plain load. The rewrites need less: the forward graph,
// inlined, with the attributes it provably only reads turned into constants. Folded are
//  - values that cannot change in place (bool, int, float, string, None, tuples of them), when
//    the graph sets no attribute at all;
//  - tensors whose every read, through every attribute that shares the tensor's storage, is an
//    argument that an operator reads without writing it or returning a view of it (pure_read).
// The module and its submodules must not escape: every use of one is an attribute read. What is
// not folded stays an attribute read of the module, as before: correct, only not rewritten.

c10::optional<bool> constant_bool(Value* v) {
  if (v->node()->kind() != c10::prim::Constant) return c10::nullopt;
  const auto value = torch::jit::toIValue(v);
  if (!value || !value->isBool()) return c10::nullopt;
  return value->toBool();
}

// `use` reads a tensor without writing it and returns no alias of it. An allow-list: schemas do
// not say everything (batch_norm writes its running statistics in training mode unannotated).
bool pure_read(const torch::jit::Use& use) {
  const Node* n = use.user;
  const size_t i = use.offset;
  const c10::Symbol k = n->kind();
  static const c10::Symbol linear = c10::Symbol::fromQualString("aten::linear"),
                           conv1d = c10::Symbol::fromQualString("aten::conv1d"),
                           conv2d = c10::Symbol::fromQualString("aten::conv2d"),
                           conv3d = c10::Symbol::fromQualString("aten::conv3d"),
                           layer_norm = c10::Symbol::fromQualString("aten::layer_norm"),
                           group_norm = c10::Symbol::fromQualString("aten::group_norm"),
                           batch_norm = c10::Symbol::fromQualString("aten::batch_norm"),
                           add = c10::Symbol::fromQualString("aten::add"),
                           sub = c10::Symbol::fromQualString("aten::sub"),
                           mul = c10::Symbol::fromQualString("aten::mul"),
                           div = c10::Symbol::fromQualString("aten::div"),
                           matmul = c10::Symbol::fromQualString("aten::matmul");
  if (k == linear || k == conv1d || k == conv2d || k == conv3d) return i == 1 || i == 2;
  if (k == layer_norm || k == group_norm) return i == 2 || i == 3;
  if (k == batch_norm) {
    if (i < 1 || i > 4 || n->inputs().size() < 6) return false;
    const auto training = constant_bool(n->input(5));
    return training && !*training;
  }
  if (k == add || k == sub || k == mul || k == div || k == matmul) return i <= 1;
  return false;
}

bool immutable_value(const c10::IValue& v) {
  if (v.isBool() || v.isInt() || v.isDouble() || v.isString() || v.isNone()) return true;
  if (!v.isTuple()) return false;
  for (const c10::IValue& e : v.toTupleRef().elements())
    if (!immutable_value(e)) return false;
  return true;
}

void collect_all(Block* block, std::vector<Node*>* out) {
  for (Node* n : block->nodes()) {
    out->push_back(n);
    for (Block* b : n->blocks()) collect_all(b, out);
  }
}

struct FoldedTensor {
  c10::intrusive_ptr<c10::ivalue::Object> owner;
  std::string name;
  const c10::StorageImpl* storage;
  at::TensorOptions options;
};

// The inlined forward graph of `module` with its read-only attributes as constants, or null with
// *why set. *folded lists the tensors folded (their owners can drop them once the graph is all
// that runs and holds no constant on their storage).
std::shared_ptr<Graph> fold_attributes(const torch::jit::Module& module, std::string* why,
                                       std::vector<FoldedTensor>* folded,
                                       std::unordered_set<const c10::StorageImpl*>* pinned) {
  if (module.is_training()) {
    *why = "the module is in training mode";
    return nullptr;
  }
  std::shared_ptr<Graph> graph = module.get_method("forward").graph()->copy();
  torch::jit::Inline(*graph);
  std::vector<Node*> nodes;
  collect_all(graph->block(), &nodes);  // program order: a value's definition comes before its uses
  std::unordered_map<Value*, c10::intrusive_ptr<c10::ivalue::Object>> objects;
  objects.emplace(graph->inputs().at(0), module._ivalue());
  std::vector<std::pair<Node*, c10::IValue>> reads;
  for (Node* n : nodes) {
    if (n->kind() == c10::prim::SetAttr) {
      *why = "its forward sets attributes";
      return nullptr;
    }
    if (n->kind() != c10::prim::GetAttr) continue;
    const auto owner = objects.find(n->input());
    if (owner == objects.end()) continue;  // an object that is not a submodule: left alone
    c10::IValue v = owner->second->getAttr(n->s(c10::attr::name));
    if (v.isObject())
      objects.emplace(n->output(), v.toObject());
    else
      reads.emplace_back(n, std::move(v));
  }
  for (const auto& [value, object] : objects)
    for (const torch::jit::Use& use : value->uses())
      if (use.user->kind() != c10::prim::GetAttr) {
        *why = "a module is passed to " + std::string(use.user->kind().toQualString());
        return nullptr;
      }
  const auto replace = [&](Node* n, const c10::IValue& v) {
    torch::jit::WithInsertPoint guard(n);
    const c10::optional<Value*> constant = torch::jit::tryInsertConstant(*graph, v);
    if (!constant) return false;
    n->output()->replaceAllUsesWith(*constant);
    return true;
  };
  // values first: batch_norm's `training` flag must be a constant when tensor reads are judged
  for (const auto& [n, v] : reads)
    if (immutable_value(v)) replace(n, v);
  std::unordered_map<const c10::StorageImpl*, bool> read_only;
  // a tensor inside a list, dict or tuple attribute (or an object in one) is read and written
  // through the container, unseen here: its storage is never folded
  for (const auto& [n, v] : reads) {
    if (v.isTensor() || immutable_value(v)) continue;
    v.visit([&](const c10::IValue& sub) {
      if (sub.isTensor() && sub.toTensor().defined() && sub.toTensor().has_storage())
        read_only[sub.toTensor().storage().unsafeGetStorageImpl()] = false;
      return false;  // into every element
    });
  }
  for (const auto& [n, v] : reads) {
    if (!v.isTensor() || !v.toTensor().defined() || !v.toTensor().has_storage()) continue;
    bool& ok = read_only.emplace(v.toTensor().storage().unsafeGetStorageImpl(), true).first->second;
    for (const torch::jit::Use& use : n->output()->uses()) ok = ok && pure_read(use);
  }
  for (const auto& [n, v] : reads) {
    if (!v.isTensor() || !v.toTensor().defined() || !v.toTensor().has_storage()) continue;
    const at::Tensor& t = v.toTensor();
    const c10::StorageImpl* storage = t.storage().unsafeGetStorageImpl();
    if (!read_only.at(storage) || t.is_quantized() || t.is_sparse()) continue;
    if (!replace(n, t.detach())) {
      pinned->insert(storage);  // still read from the module at run time
      continue;
    }
    folded->push_back(FoldedTensor{objects.at(n->input()), n->s(c10::attr::name), storage, t.options()});
  }
  torch::jit::EliminateDeadCode(graph);  // first: constant propagation is much slower with them
  torch::jit::ConstantPropagation(graph);
  torch::jit::removeDropout(graph);
  torch::jit::OptimizeFrozenGraph(graph, /*optimize_numerics=*/true);  // batch norms into convolutions
  return graph;
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
  if (winograd) s += ",winograd";
  if (attention) s += ",attention";
  return s;
}

CpuPasses cpu_passes_from_env() {
  CpuPasses p;
  const char* env = std::getenv("MASKFORMER_CPU_PASSES");
  if (env == nullptr) return p;
  p = CpuPasses{false, false, false, false, false, false, false, false};
  std::stringstream in(env);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item == "freeze") p.freeze = true;
    if (item == "linear") p.linear = true;
    if (item == "gelu") p.gelu = true;
    if (item == "conv") p.conv = true;
    if (item == "channels_last") p.channels_last = true;
    if (item == "ofi") p.ofi = true;
    if (item == "winograd") p.winograd = true;
    if (item == "attention") p.attention = true;
  }
  if (p.linear || p.conv || p.ofi || p.winograd || p.attention) p.freeze = true;  // the rewrites read frozen weights
  return p;
}

// The weights folded into a rewritten graph, dropped from their modules once it has run.
struct FoldState {
  std::vector<FoldedTensor> folded;
  std::unordered_set<const c10::StorageImpl*> pinned;
};

CpuNetwork::CpuNetwork(torch::jit::Module module, std::shared_ptr<torch::jit::Graph> graph,
                       std::shared_ptr<FoldState> folded)
    : module_(std::move(module)),
      function_(std::make_shared<torch::jit::GraphFunction>("maskformer.cpu_forward", std::move(graph), nullptr)),
      folded_(std::move(folded)) {
  function_->getSchema();  // built lazily and unlocked: here, before calls can run concurrently
}

c10::IValue CpuNetwork::forward(const at::Tensor& x) const {
  // forward only reads the module and the graph (pytorch#51452): concurrent calls are safe
  if (!function_) return const_cast<torch::jit::Module&>(module_).forward({x});
  return (*function_)({module_._ivalue(), x});
}

bool CpuNetwork::fall_back() {
  // the module still holds every weight: they leave it only in settle()
  if (!function_ || !folded_) return false;
  function_.reset();
  folded_.reset();
  return true;
}

namespace {

// Tensors folded into `graph` whose storage no constant of it holds any more (their layers read
// prepacked copies now) are dropped from their modules, which no call reads them from again:
// otherwise every linear and convolution weight stayed resident twice.
void release_folded(Graph& graph, const FoldState& state) {
  std::unordered_set<const c10::StorageImpl*> held(state.pinned);
  std::vector<Node*> nodes;
  collect_all(graph.block(), &nodes);
  for (Node* n : nodes)
    if (n->kind() == c10::prim::Constant && n->hasAttribute(c10::attr::value) &&
        n->kindOf(c10::attr::value) == torch::jit::AttributeKind::t) {
      const at::Tensor& t = n->t(c10::attr::value);
      if (t.defined() && t.has_storage()) held.insert(t.storage().unsafeGetStorageImpl());
    }
  for (const FoldedTensor& f : state.folded)
    if (held.count(f.storage) == 0) f.owner->setAttr(f.name, at::empty({0}, f.options));
}

}  // namespace

void CpuNetwork::settle() {
  if (function_ && folded_) release_folded(*function_->graph(), *folded_);
  folded_.reset();
}

CpuNetwork optimize_for_cpu(const torch::jit::Module& module, const CpuPasses& passes, std::string* report,
                            const std::atomic<bool>* stop) {
  const auto stopped = [&] {
    if (stop == nullptr || !stop->load()) return false;
    if (report != nullptr) *report = "none (stopped)";
    return true;
  };
  if (!passes.freeze) {
    if (report != nullptr) *report = "none";
    return CpuNetwork(module);
  }
  const auto start = std::chrono::steady_clock::now();
  const auto took = [&] {
    // MASKFORMER_VERBOSE=1 shows what the load spent on it (docs/performance.md)
    return " (rewrites " +
           std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)
                              .count()) +
           " ms)";
  };
  auto state = std::make_shared<FoldState>();
  std::shared_ptr<Graph> graph;
  try {
    torch::NoGradGuard no_grad;
    if (passes.ofi) {
      // torch's own freezing and optimize_for_inference, for comparisons only
      torch::jit::Module frozen = torch::jit::freeze(module);
      frozen = torch::jit::optimize_for_inference(frozen);
      if (report != nullptr) *report = "freeze,ofi" + took();
      return CpuNetwork(frozen);
    }
    if (stopped()) return CpuNetwork(module);
    std::string why;
    graph = fold_attributes(module, &why, &state->folded, &state->pinned);
    if (!graph) {
      if (report != nullptr) *report = "not frozen: " + why;
      return CpuNetwork(module);
    }
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    if (is_out_of_memory(e)) throw;
    const std::string what = text_of(e);
    if (report != nullptr) *report = "not frozen: " + what.substr(0, what.find('\n'));
    return CpuNetwork(module);
  }
  Counts counts;
  {
    torch::NoGradGuard no_grad;
    if (stopped()) return CpuNetwork(module);
    if (passes.linear) rewrite_linear(*graph, passes.gelu, &counts);
    if (stopped()) return CpuNetwork(module);
    if (passes.winograd) rewrite_winograd(*graph, &counts);
    if (stopped()) return CpuNetwork(module);
    if (passes.conv) rewrite_conv(*graph, passes.channels_last, &counts);
    if (stopped()) return CpuNetwork(module);
    if (passes.attention) rewrite_attention(*graph, &counts);
    if (stopped()) return CpuNetwork(module);
  }
  torch::jit::EliminateDeadCode(graph);
  if (report != nullptr) {
    std::ostringstream out;
    out << passes.text() << ": " << counts.linear << " linear (" << counts.gelu << " with GELU), "
        << counts.conv << " conv (" << counts.relu << " with ReLU) on oneDNN";
    if (passes.winograd)
      out << ", " << counts.winograd << " conv as Winograd (" << counts.winograd_relu << " with ReLU)";
    if (passes.attention) out << ", " << counts.attention << " window attention fused";
    *report = out.str() + took();
  }
  return CpuNetwork(module, graph, state);
}

}  // namespace maskformer

namespace maskformer {

namespace {

// A network calls run, shared by the calls in flight on it. on_release runs when the last of them
// has returned (after calls moved to another network).
struct Running {
  explicit Running(CpuNetwork n) : net(std::move(n)) {}
  ~Running() {
    if (!on_release) return;
    try {
      on_release();
    } catch (...) {  // it only drops weights: nothing to report, and never out of a destructor
    }
  }
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;
  CpuNetwork net;
  std::function<void()> on_release;
};

// Whether two forward results agree: the same structure and sizes, and values within `tol` of
// each other relative to the largest magnitude (1e-3 in fp32: oneDNN's kernels sum in another
// order; 0.25 in bf16, whose 8-bit mantissa rounds each layer's output).
bool agree(const c10::IValue& a, const c10::IValue& b, double tol, std::string* why) {
  if (!a.isTuple() || !b.isTuple()) {
    *why = "the outputs are not tuples";
    return false;
  }
  const auto& ea = a.toTupleRef().elements();
  const auto& eb = b.toTupleRef().elements();
  if (ea.size() != eb.size()) {
    *why = "tuples of " + std::to_string(ea.size()) + " and " + std::to_string(eb.size()) + " outputs";
    return false;
  }
  for (size_t i = 0; i < ea.size(); ++i) {
    if (!ea[i].isTensor() || !eb[i].isTensor()) {
      *why = "output " + std::to_string(i) + " is not a tensor";
      return false;
    }
    const at::Tensor ta = ea[i].toTensor().to(at::kFloat), tb = eb[i].toTensor().to(at::kFloat);
    if (ta.sizes() != tb.sizes()) {
      *why = "output " + std::to_string(i) + " has another shape";
      return false;
    }
    const double diff = (ta - tb).abs().max().item<double>();
    const double scale = 1.0 + ta.abs().max().item<double>();
    if (!(diff <= tol * scale)) {
      std::ostringstream out;
      out << "output " << i << " differs by " << diff << " (allowed " << tol * scale << ")";
      *why = out.str();
      return false;
    }
  }
  return true;
}

// Background rewrites still running. stop_background_rewrites() (the Java side calls it from a
// shutdown hook, before exit() destroys any static; C programs should call it, or free their
// models, before they exit) stops each and waits for its thread, and refuses threads after it, so
// that no rewrite runs inside LibTorch while its globals are destroyed. Never destroyed itself.
class Registry {
 public:
  static Registry& get() {
    static Registry* registry = new Registry();
    return *registry;
  }
  // false once the process is ending: no thread may start then
  bool add(const std::shared_ptr<BackgroundNetwork::State>& s) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (ending_) return false;
    running_.erase(std::remove_if(running_.begin(), running_.end(), [](const auto& w) { return w.expired(); }),
                   running_.end());
    running_.push_back(s);
    return true;
  }
  void stop_all();

 private:
  std::mutex mutex_;
  bool ending_ = false;
  std::vector<std::weak_ptr<BackgroundNetwork::State>> running_;
};

}  // namespace

constexpr const char* kStopped = "none (stopped: the model was freed, or the process is ending)";

struct BackgroundNetwork::State {
  torch::jit::Module module;
  CpuPasses passes;
  at::ScalarType dtype;
  bool jit_optimize = false;
  std::string pending = "in the background (calls run the network as exported until the rewritten one has "
                        "been checked against it)";
  std::string final;                 // written once, before done is set
  std::atomic<bool> done{false};
  std::atomic<bool> cancel{false};
  mutable std::mutex mutex;          // current, finished
  mutable std::condition_variable finished_cv;
  bool finished = true;              // true until start(), and once the thread is done
  std::shared_ptr<Running> current;
  std::mutex join_mutex;
  std::thread thread;

  std::shared_ptr<Running> network() const {
    std::lock_guard<std::mutex> lock(mutex);
    return current;
  }

  void stop() {
    cancel = true;
    std::lock_guard<std::mutex> lock(join_mutex);
    if (thread.joinable()) thread.join();
  }

  void finish(std::string report) {
    final = std::move(report);
    done.store(true, std::memory_order_release);
    std::lock_guard<std::mutex> lock(mutex);
    finished = true;
    finished_cv.notify_all();
  }

  // The thread's work: the report it ends with
  std::string rewrite_and_check() {
    using clock = std::chrono::steady_clock;
    const clock::time_point start = clock::now();
    const auto ms = [](clock::duration d) {
      return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
    };
    at::init_num_threads();  // this thread's OpenMP count: the process-wide setting
    std::string report;
    std::unique_ptr<CpuNetwork> candidate;
    {
      const LongLivedScope weights;  // the prepacked weights live with the model
      candidate = std::make_unique<CpuNetwork>(optimize_for_cpu(module, passes, &report, &cancel));
    }
    if (cancel) return kStopped;
    if (!candidate->graph()) return report;  // "not frozen: ...", or nothing to rewrite
    const clock::time_point rewritten = clock::now();
    std::shared_ptr<Running> exported = network();
    {
      c10::InferenceMode inference;
      // as the load's test forward pass runs: the executor setting the calls use
      torch::jit::GraphOptimizerEnabledGuard optimizer(jit_optimize);
      at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(20261207);
      const at::Tensor x = at::randn({1, 3, 64, 96}, gen, at::TensorOptions().dtype(at::kFloat)).to(dtype);
      const c10::IValue a = exported->net.forward(x);
      if (cancel) return kStopped;
      c10::IValue b;
      try {
        b = candidate->forward(x);
      } catch (const std::bad_alloc&) {
        throw;
      } catch (const std::exception& e) {
        if (is_out_of_memory(e)) throw;
        const std::string what = summarise_error(text_of(e));
        return "none (the rewritten network failed its test run: " + what.substr(0, what.find('\n')) + ")";
      }
      std::string why;
      if (!agree(a, b, dtype == at::kFloat ? 1e-3 : 0.25, &why))
        return "none (the rewritten network computed other values than the exported one on a test input: " + why +
               "; rewrites were " + report + ")";
    }
    auto rewritten_net = std::make_shared<Running>(std::move(*candidate));
    {
      std::lock_guard<std::mutex> lock(mutex);
      // the weights held prepacked leave the module once no call runs the exported module
      std::weak_ptr<Running> weak = rewritten_net;
      current->on_release = [weak] {
        if (auto r = weak.lock()) r->net.settle();
      };
      current = rewritten_net;
    }
    exported.reset();
    return report + ", checked in the background (" + ms(clock::now() - rewritten) + " ms; ready " +
           ms(clock::now() - start) + " ms after the load)";
  }
};

namespace {

void Registry::stop_all() {
  std::vector<std::shared_ptr<BackgroundNetwork::State>> left;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ending_ = true;
    for (const auto& w : running_)
      if (auto s = w.lock()) left.push_back(s);
    running_.clear();
  }
  for (const auto& s : left) s->stop();
}

// The last resort for C programs that exit with models loaded: at the shim's own static
// destruction (LibTorch's statics made after the shim was loaded may be gone by then, hence
// stop_background_rewrites() before exit()).
struct StopAtExit {
  ~StopAtExit() { Registry::get().stop_all(); }
} stop_at_exit;

}  // namespace

void stop_background_rewrites() { Registry::get().stop_all(); }

BackgroundNetwork::BackgroundNetwork(torch::jit::Module module, CpuPasses passes, at::ScalarType dtype,
                                     bool jit_optimize)
    : state_(std::make_shared<State>()) {
  state_->module = module;
  state_->passes = passes;
  state_->dtype = dtype;
  state_->jit_optimize = jit_optimize;
  state_->current = std::make_shared<Running>(CpuNetwork(std::move(module)));
}

BackgroundNetwork::~BackgroundNetwork() { state_->stop(); }

void BackgroundNetwork::start(const std::string& label) {
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (!state_->finished || state_->done) return;
    state_->finished = false;
  }
  if (!Registry::get().add(state_)) {
    state_->finish("none (the process is ending)");
    return;
  }
  State* s = state_.get();  // the thread ends before the state does (stop() joins it)
  std::lock_guard<std::mutex> lock(s->join_mutex);
  try {
    s->thread = std::thread([s, label] {
      // below the calls in the scheduler's weighting (nice 10: about a tenth of a core when every
      // core is busy with calls): the first calls, made while this runs, keep the cores; the
      // OpenMP workers this thread starts inherit it. Raising one's own nice value needs no
      // privilege.
      setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10);
      std::string report = "none (rewriting in the background failed)";
      try {
        report = s->rewrite_and_check();
      } catch (const std::exception& e) {
        try {
          const std::string what = summarise_error(text_of(e));
          report = "none (rewriting in the background failed: " + what.substr(0, what.find('\n')) + ")";
        } catch (...) {  // no memory left for the text: the literal one stays
        }
      } catch (...) {
      }
      try {
        // MASKFORMER_VERBOSE=1: what the load did to the network, on stderr (docs/performance.md)
        if (const char* verbose = std::getenv("MASKFORMER_VERBOSE"); verbose != nullptr && verbose[0] == '1')
          std::fprintf(stderr, "maskformer: %s: CPU rewrites %s\n", label.c_str(), report.c_str());
      } catch (...) {
      }
      s->finish(std::move(report));
    });
  } catch (const std::exception& e) {
    // no thread (EAGAIN): the model runs as exported, as it does until a rewrite is done
    s->finish(std::string("none (no thread for the rewrites: ") + e.what() + ")");
  }
}

c10::IValue BackgroundNetwork::forward(const at::Tensor& x) const {
  const std::shared_ptr<Running> net = state_->network();
  return net->net.forward(x);
}

const std::string& BackgroundNetwork::report() const {
  return state_->done.load(std::memory_order_acquire) ? state_->final : state_->pending;
}

void BackgroundNetwork::wait() const {
  std::unique_lock<std::mutex> lock(state_->mutex);
  state_->finished_cv.wait(lock, [&] { return state_->finished; });
}

}  // namespace maskformer
