// SPDX-License-Identifier: Apache-2.0
// The loop-bound analysis of a TorchScript forward, before it ever runs.
#pragma once

#include <torch/script.h>

#include <string>

namespace maskformer {

// A forward pass cannot be interrupted once it runs, so a model whose code can loop without end
// is refused before it runs. Every loop in forward (all calls inlined) must have a trip count
// with a known upper bound, and the bounds of nested loops multiplied must stay within
// 2^20 (kMaxTrips). Bounds come from constants, tensor ranks (dim(), len(x.size()): assumed at most
// kRankBound) and the length of lists that are never changed in place, through + - * // min max.
// `while` loops (their count is "unbounded"), counts read from tensor values (item(),
// int(tensor)) or from tensor sizes (x.size(0), which expand() can make as large as it likes),
// lists that are appended to, forked code and calls that cannot be inlined are refused. This
// bounds the number of loop iterations, not the time an operator takes.
// Throws Error(MF_ERR_MODEL_FORMAT) naming the file (`path`) and the offending code otherwise.
void check_terminates(const torch::jit::Module& module, const std::string& path);

}  // namespace maskformer
