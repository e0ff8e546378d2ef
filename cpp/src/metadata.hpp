// SPDX-License-Identifier: Apache-2.0
// The model contract: maskformer.json as written by models/maskformer/export.py.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "maskformer.h"

namespace maskformer {

constexpr int kMetadataFormatVersion = 1;
constexpr const char* kMetadataFile = "maskformer.json";

struct Metadata {
  std::string json;  // the text as stored
  int format_version = 0;
  std::string variant;
  int num_classes = 0;
  std::vector<std::string> classes;
  std::vector<std::array<uint8_t, 3>> palette;
  bool input_bgr = false;  // channel order the network expects
  std::array<double, 3> mean{};
  std::array<double, 3> std{};
  bool resize_keep_ratio = true;
  int resize_long = 0;
  int resize_short = 0;
  int num_queries = 0;
  int mask_stride = 4;
  std::string exported_with;  // "X.Y" of the torch that exported the file ("" when not recorded)
};

// Parses and validates; throws Error(MF_ERR_MODEL_FORMAT) naming the offending field.
Metadata parse_metadata(const std::string& json_text);

// "X.Y" of exported_with.torch in a metadata text that need not pass parse_metadata (the file
// failed to load, and this says why), "" when absent or unreadable. Never throws.
std::string exported_with(const std::string& json_text);

// "fp32", "fp16" or "bf16": how messages and package metadata name a precision.
const char* precision_name(mf_precision p);

}  // namespace maskformer
