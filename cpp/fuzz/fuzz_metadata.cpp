// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the maskformer.json parser (json.cpp, metadata.cpp) on arbitrary text, in process
// (thousands of inputs per second). A document it accepts must describe a usable model; one it
// refuses must be refused with MF_ERR_MODEL_FORMAT, never another exception or a crash.
// Also the TorchScript error summariser (error.hpp), which reads LibTorch's free-form texts.
#include <cmath>
#include <cstdint>
#include <string>

#include "error.hpp"
#include "fuzz_common.hpp"
#include "metadata.hpp"

using mf_fuzz::contract;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const maskformer::Metadata m = maskformer::parse_metadata(text);
    if (m.num_classes < 1 || m.classes.size() != static_cast<size_t>(m.num_classes) ||
        m.palette.size() != static_cast<size_t>(m.num_classes))
      contract("parse_metadata", "accepted inconsistent classes/palette");
    for (double s : m.std)
      if (!(s > 0.0) || !std::isfinite(s)) contract("parse_metadata", "accepted a bad std");
    for (double v : m.mean)
      if (!std::isfinite(v)) contract("parse_metadata", "accepted a non-finite mean");
    if (m.num_queries < 1 || m.mask_stride < 1) contract("parse_metadata", "accepted bad sizes");
    if (m.resize_keep_ratio && (m.resize_long < 1 || m.resize_short < 1))
      contract("parse_metadata", "accepted a bad resize");
    if (m.json != text) contract("parse_metadata", "did not keep the text");
  } catch (const maskformer::Error& e) {
    if (e.status() != MF_ERR_MODEL_FORMAT) contract("parse_metadata", "failed with another status");
  } catch (...) {
    contract("parse_metadata", "threw something other than maskformer::Error");
  }
  // the exporter's version, read from any record (also one parse_metadata refuses), never throws
  try {
    const std::string v = maskformer::exported_with(text);
    const size_t dot = v.find('.');
    if (!v.empty() && (dot == 0 || dot == std::string::npos || dot + 1 == v.size() ||
                       v.find_first_not_of("0123456789.") != std::string::npos || v.find('.', dot + 1) != std::string::npos))
      contract("exported_with", "returned something other than \"\" or X.Y");
  } catch (...) {
    contract("exported_with", "threw");
  }
  // the summariser is given LibTorch's interpreter dumps: with and without their header line
  static const std::string header = "The following operation failed in the TorchScript interpreter";
  (void)maskformer::summarise_error(text);
  (void)maskformer::summarise_error(header + text);
  return 0;
}
