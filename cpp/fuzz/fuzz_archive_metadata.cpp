// SPDX-License-Identifier: Apache-2.0
// Fuzz target: maskformer.json inside real exports. The input is the metadata text; it is written
// as extra/maskformer.json into a copy of a fixture export (its other records unchanged, the zip
// valid) and loaded through mf_model_load.
//  - text the metadata parser refuses goes into bad/wrong-outputs.pt (a 9 KB export of
//    models/fixtures.py, quick to load): the load must fail with MODEL_FORMAT;
//  - text it accepts goes into tiny.pt (the test-tiny network): a load that succeeds gives a model
//    whose getters and segmentation must work with whatever sizes, means and resize rules the
//    metadata names.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_common.hpp"
#include "metadata.hpp"

using mf_fuzz::check_status;
using mf_fuzz::contract;

namespace {

const std::string kRecord = "extra/maskformer.json";
mf_fuzz::Archive small_base, full_base;
long full_loads = 0, models_exercised = 0;  // printed at exit: how deep the run went

void report() {
  std::fprintf(stderr, "fuzz_archive_metadata: %ld loads into tiny.pt, %ld models exercised\n", full_loads,
               models_exercised);
}

void exercise(mf_model* model, const std::string& text) {
  mf_model_info info;
  mf_model_info_init(&info);
  check_status(mf_model_get_info(model, &info), "mf_model_get_info");
  const char* json = nullptr;
  int64_t length = -1;
  check_status(mf_model_metadata_json(model, &json, &length), "mf_model_metadata_json");
  if (length != int64_t(text.size()) || std::memcmp(json, text.data(), text.size()) != 0)
    contract("mf_model_metadata_json", "differs from the stored text");
  const char* name = nullptr;
  check_status(mf_model_class_name(model, info.num_classes - 1, &name), "mf_model_class_name");
  std::vector<uint8_t> palette(size_t(info.num_classes) * 3);
  check_status(mf_model_palette(model, palette.data(), int64_t(palette.size())), "mf_model_palette");
  // network sizes for extreme shapes: in range, or refused, never zero or negative
  const int32_t shapes[][2] = {{1, 1}, {1, 7}, {7, 1}, {64, 48}, {32768, 1}, {1, 32768}, {32768, 32768}};
  for (const auto& s : shapes) {
    int32_t nw = 0, nh = 0;
    const mf_status st = mf_model_input_size(model, s[0], s[1], &nw, &nh);
    check_status(st, "mf_model_input_size");
    if (st == MF_OK && (nw < 1 || nh < 1 || nw > MF_MAX_IMAGE_SIDE || nh > MF_MAX_IMAGE_SIDE))
      contract("mf_model_input_size", "gave a network size outside 1..MF_MAX_IMAGE_SIDE");
  }
  // small images of odd shapes through the model's own resize, labels and scores
  const int32_t images[][2] = {{1, 1}, {9, 2}, {2, 9}};
  for (const auto& s : images) {
    // skip what would run the network at a huge size (the metadata may ask for any resize)
    int32_t nw = 0, nh = 0;
    if (mf_model_input_size(model, s[0], s[1], &nw, &nh) == MF_OK && int64_t(nw) * nh > 512 * 512)
      continue;
    const int w = s[0], h = s[1];
    std::vector<uint8_t> pixels(size_t(w) * h * 3);
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = uint8_t(i * 37);
    std::vector<float> scores(size_t(w) * h * info.num_classes);
    mf_fuzz::segment_checked(model, info.num_classes, MF_PIXEL_BGR, w, h, pixels, &scores);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  check_status(mf_set_num_threads(1), "mf_set_num_threads");
  small_base = mf_fuzz::read_archive(mf_fuzz::model_path("bad/wrong-outputs.pt"));
  full_base = mf_fuzz::read_archive(mf_fuzz::model_path("tiny.pt"));
  std::atexit(report);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  bool parses = true;
  try {
    (void)maskformer::parse_metadata(text);
  } catch (...) {
    parses = false;
  }
  const std::string& path = mf_fuzz::scratch_file();
  mf_fuzz::write_archive(parses ? full_base : small_base, {{kRecord, text}}, path);
  mf_model* model = nullptr;
  full_loads += parses ? 1 : 0;
  const mf_status status = mf_model_load(path.c_str(), nullptr, &model);
  check_status(status, "mf_model_load");
  if (status != MF_OK) {
    if (model != nullptr) contract("mf_model_load", "failed but set *out_model");
    if (status != MF_ERR_MODEL_FORMAT && status != MF_ERR_OUT_OF_MEMORY)
      contract("mf_model_load", "bad metadata gave neither MODEL_FORMAT nor OUT_OF_MEMORY");
    return 0;
  }
  if (!parses) contract("mf_model_load", "accepted metadata that parse_metadata refuses");
  ++models_exercised;
  exercise(model, text);
  mf_model_free(model);
  return 0;
}
