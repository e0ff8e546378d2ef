// SPDX-License-Identifier: Apache-2.0
// Errors inside the shim: one exception type carrying an mf_status, converted to a status code
// and per-thread text at the C ABI boundary (c_api.cpp) and nowhere else.
#pragma once

#include <c10/util/Exception.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "maskformer.h"

namespace maskformer {

class Error : public std::runtime_error {
 public:
  Error(mf_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  mf_status status() const noexcept { return status_; }

 private:
  mf_status status_;
};

// Throws Error(MF_ERR_INVALID_ARGUMENT, message) unless `condition` holds.
inline void require(bool condition, const std::string& message) {
  if (!condition) throw Error(MF_ERR_INVALID_ARGUMENT, message);
}

[[noreturn]] inline void fail(mf_status status, const std::string& message) {
  throw Error(status, message);
}

// An error raised inside a TorchScript forward pass reaches C++ as the interpreter's dump: a
// header line, two source tracebacks, and the original error on the last line. Returns that last
// line with where in the model's code it happened; any other text unchanged.
inline std::string summarise_error(const std::string& text) {
  static const std::string header = "The following operation failed in the TorchScript interpreter";
  // the zip reader's own advice ("... your checkpoint file is corrupted ...") is about training
  // checkpoints and misleads for a file that is no archive at all: its reason is kept, not that
  static const std::string miniz = " This is an internal miniz error.";
  if (const size_t at = text.find(miniz); at != std::string::npos) return text.substr(0, at);
  if (text.compare(0, header.size(), header) != 0) return text;
  size_t end = text.find_last_not_of("\n ");
  if (end == std::string::npos) return text;
  size_t start = text.rfind('\n', end);
  std::string cause = text.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
  // the first frame of the original code, else of the serialized code
  size_t section = text.find("original code");
  size_t file = text.find("File \"", section == std::string::npos ? 0 : section);
  if (file == std::string::npos) file = text.find("File \"");
  std::string where;
  if (file != std::string::npos) where = text.substr(file, text.find('\n', file) - file);
  return cause + (where.empty() ? "" : " (TorchScript: " + where + ")");
}

// At most `n` non-empty lines of `text` joined by spaces, with " ..." when some were left out.
inline std::string first_lines(const std::string& text, int n) {
  std::string out;
  size_t pos = 0;
  int kept = 0;
  while (pos < text.size() && kept < n) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (end > pos) {
      if (kept > 0) out += ' ';
      out.append(text, pos, end - pos);
      ++kept;
    }
    pos = end + 1;
  }
  if (pos < text.size() && text.find_first_not_of("\n ", pos) != std::string::npos) out += " ...";
  return out;
}

// The text of a failure: c10's without its C++ backtrace.
inline const char* text_of(const std::exception& e) noexcept {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  return c10_error != nullptr ? c10_error->what_without_backtrace() : e.what();
}

// Whether a failure is an exhausted allocation: by type where LibTorch keeps it, by text where the
// TorchScript interpreter rethrew it as std::runtime_error (a CUDA out-of-memory in a forward pass,
// DefaultCPUAllocator's or the shim's own host allocator's message).
inline bool is_out_of_memory(const std::exception& e) noexcept {
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) return true;
  if (dynamic_cast<const c10::OutOfMemoryError*>(&e) != nullptr) return true;
  const char* text = text_of(e);
  return text != nullptr && (std::strstr(text, "out of memory") != nullptr ||
                             std::strstr(text, "OutOfMemoryError") != nullptr ||
                             std::strstr(text, "can't allocate memory") != nullptr ||
                             std::strstr(text, "std::bad_alloc") != nullptr);
}

}  // namespace maskformer
