// SPDX-License-Identifier: Apache-2.0
#include "script_bounds.hpp"

#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/inliner.h>

#include <algorithm>
#include <optional>

#include "error.hpp"

namespace maskformer {

namespace {

constexpr int64_t kMaxTrips = int64_t(1) << 20;
constexpr int64_t kRankBound = 64;

struct Range {
  int64_t lo, hi;
};

// bound arithmetic in 128 bits, so that products of two 62-bit bounds cannot overflow
__extension__ typedef __int128 wide_t;

int64_t saturate(wide_t v) {
  const wide_t big = int64_t(1) << 62;
  return static_cast<int64_t>(v > big ? big : v < -big ? -big : v);
}

// Whether a list is only ever read: every use is a known reader, or an operator whose schema
// neither writes nor aliases that argument (a list kept by another value could grow unseen).
bool read_only_list(const torch::jit::Value* list) {
  for (const torch::jit::Use& use : list->uses()) {
    const std::string kind = use.user->kind().toQualString();
    if (kind == "aten::len" || kind == "aten::__getitem__" || kind == "prim::ListUnpack") continue;
    const c10::FunctionSchema* schema = use.user->maybeSchema();
    if (schema == nullptr) return false;
    if (use.offset >= schema->arguments().size()) {
      if (schema->is_vararg()) continue;  // aten::format(str, ...): varargs are only read
      return false;
    }
    if (schema->arguments()[use.offset].alias_info() != nullptr) return false;
  }
  return true;
}

std::optional<Range> bounds(const torch::jit::Value* v, int depth) {
  if (depth > 64) return std::nullopt;
  const torch::jit::Node* n = v->node();
  const std::string kind = n->kind().toQualString();
  if (kind == "prim::Constant") {
    const auto value = torch::jit::toIValue(v);
    if (!value || !value->isInt()) return std::nullopt;
    return Range{value->toInt(), value->toInt()};
  }
  if (kind == "aten::dim") return Range{0, kRankBound};
  if (kind == "aten::len") {
    const torch::jit::Value* list = n->input(0);
    const std::string made_by = list->node()->kind().toQualString();
    if (!list->type()->cast<c10::ListType>() || !read_only_list(list)) return std::nullopt;
    if (made_by == "aten::size" && list->node()->inputs().size() == 1) return Range{0, kRankBound};
    if (made_by == "prim::ListConstruct") {
      const auto count = static_cast<int64_t>(list->node()->inputs().size());
      return Range{count, count};
    }
    return std::nullopt;
  }
  const bool binary = n->inputs().size() == 2;
  if (binary && (kind == "aten::add" || kind == "aten::sub" || kind == "aten::mul" ||
                 kind == "aten::floordiv" || kind == "aten::min" || kind == "aten::max" ||
                 kind == "prim::min" || kind == "prim::max")) {
    const auto x = bounds(n->input(0), depth + 1), y = bounds(n->input(1), depth + 1);
    if (!x || !y) return std::nullopt;
    if (kind == "aten::add") return Range{saturate(wide_t(x->lo) + y->lo), saturate(wide_t(x->hi) + y->hi)};
    if (kind == "aten::sub") return Range{saturate(wide_t(x->lo) - y->hi), saturate(wide_t(x->hi) - y->lo)};
    if (kind == "aten::mul") {
      const wide_t c[] = {wide_t(x->lo) * y->lo, wide_t(x->lo) * y->hi, wide_t(x->hi) * y->lo,
                            wide_t(x->hi) * y->hi};
      return Range{saturate(*std::min_element(c, c + 4)), saturate(*std::max_element(c, c + 4))};
    }
    if (kind == "aten::floordiv") {
      if (y->lo < 1) return std::nullopt;  // a divisor that may be 0 or negative: no bound kept
      return Range{std::min<int64_t>(0, x->lo), std::max<int64_t>(0, x->hi)};
    }
    if (kind == "aten::min" || kind == "prim::min") return Range{std::min(x->lo, y->lo), std::min(x->hi, y->hi)};
    return Range{std::max(x->lo, y->lo), std::max(x->hi, y->hi)};
  }
  if (kind == "aten::neg" && n->inputs().size() == 1) {
    const auto x = bounds(n->input(0), depth + 1);
    if (!x) return std::nullopt;
    return Range{saturate(-wide_t(x->hi)), saturate(-wide_t(x->lo))};
  }
  return std::nullopt;
}

std::string source_line(const torch::jit::Node* n) {
  torch::jit::SourceRange range = n->sourceRange();
  if (auto original = range.findSourceRangeThatGenerated()) range = *original;
  if (!range.source()) return "";
  const std::string text = range.text().str();  // the first source line, when the file kept it
  return ": `" + text.substr(0, std::min(text.find('\n'), size_t(80))) + "`";
}

void check_loops(const torch::jit::Block* block, const std::string& path, int64_t enclosing) {
  for (const torch::jit::Node* n : block->nodes()) {
    const std::string kind = n->kind().toQualString();
    if (kind == "prim::CallMethod" || kind == "prim::CallFunction")
      fail(MF_ERR_MODEL_FORMAT, "'" + path + "': forward() makes a call that cannot be inlined (" + kind +
                                    "), so its code cannot be checked for endless loops");
    if (kind == "prim::fork" || kind == "prim::awaitable" || kind == "prim::forkClosure")
      fail(MF_ERR_MODEL_FORMAT, "'" + path + "': forward() forks work (" + kind +
                                    "), which this library does not check for endless loops" + source_line(n));
    int64_t trips = enclosing;
    if (kind == "prim::Loop") {
      const auto range = bounds(n->input(0), 0);
      if (!range || range->hi >= (int64_t(1) << 62))  // a while loop's count is INT64_MAX
        fail(MF_ERR_MODEL_FORMAT, "'" + path + "': forward() holds a loop without a known bound (a while "
                                      "loop, or a count read from tensor values or sizes)" + source_line(n) +
                                      "; it could run forever, and a forward pass cannot be interrupted");
      trips = saturate(wide_t(enclosing) * std::max<int64_t>(1, range->hi));
      if (trips > kMaxTrips)
        fail(MF_ERR_MODEL_FORMAT, "'" + path + "': forward() holds loops of up to " + std::to_string(trips) +
                                      " iterations (nested counts multiplied), more than " +
                                      std::to_string(kMaxTrips) + source_line(n));
    }
    for (const torch::jit::Block* b : n->blocks()) check_loops(b, path, trips);
  }
}

}  // namespace

void check_terminates(const torch::jit::Module& module, const std::string& path) {
  std::shared_ptr<torch::jit::Graph> graph = module.get_method("forward").graph()->copy();
  torch::jit::Inline(*graph);
  check_loops(graph->block(), path, 1);
}

}  // namespace maskformer
