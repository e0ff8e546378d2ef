// SPDX-License-Identifier: Apache-2.0
// The model contract: maskformer.json as written by models/maskformer/export.py.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

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
};

// Parses and validates; throws Error(MF_ERR_MODEL_FORMAT) naming the offending field.
Metadata parse_metadata(const std::string& json_text);

}  // namespace maskformer
