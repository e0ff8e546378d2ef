// SPDX-License-Identifier: Apache-2.0
// Errors inside the shim: one exception type carrying an mf_status, converted to a status code
// and per-thread text at the C ABI boundary (c_api.cpp) and nowhere else.
#pragma once

#include <cstdint>
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

}  // namespace maskformer
