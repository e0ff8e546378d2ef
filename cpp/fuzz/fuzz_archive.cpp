// SPDX-License-Identifier: Apache-2.0
// Fuzz target: mf_model_load and mf_model_load_memory on arbitrary file contents (mutations of real
// exports: truncated, flipped, spliced zip archives). Whatever the bytes, both loads return the
// same status with a text, and a model they accept answers its getters and segments an image.
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_common.hpp"

using mf_fuzz::check_status;
using mf_fuzz::contract;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  check_status(mf_set_num_threads(1), "mf_set_num_threads");  // one core per fuzzer in CI
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = mf_fuzz::scratch_file();
  mf_fuzz::write_file(path, data, size);
  // the same bytes from memory first: whatever they hold, the same verdict as from the file
  mf_status from_memory = MF_ERR_MODEL_FORMAT;
  if (size > 0) {
    mf_model* in_memory = reinterpret_cast<mf_model*>(1);
    from_memory = mf_model_load_memory(data, int64_t(size), "fuzz", nullptr, &in_memory);
    check_status(from_memory, "mf_model_load_memory");
    if ((from_memory == MF_OK) != (in_memory != nullptr))
      contract("mf_model_load_memory", "*out_model does not match the status");
    mf_model_free(from_memory == MF_OK ? in_memory : nullptr);
  }
  mf_model* model = reinterpret_cast<mf_model*>(1);
  const mf_status status = mf_model_load(path.c_str(), nullptr, &model);
  check_status(status, "mf_model_load");
  if (status != from_memory && !(status == MF_ERR_OUT_OF_MEMORY || from_memory == MF_ERR_OUT_OF_MEMORY))
    contract("mf_model_load_memory", "a verdict other than mf_model_load's on the same bytes");
  if (status != MF_OK) {
    if (model != nullptr) contract("mf_model_load", "failed but set *out_model");
    if (status != MF_ERR_MODEL_FORMAT && status != MF_ERR_OUT_OF_MEMORY)
      contract("mf_model_load", "a damaged file gave neither MODEL_FORMAT nor OUT_OF_MEMORY");
    return 0;
  }
  mf_model_info info;
  mf_model_info_init(&info);
  check_status(mf_model_get_info(model, &info), "mf_model_get_info");
  const int w = 5, h = 3;
  std::vector<uint8_t> pixels(size_t(w) * h * 3, 77);
  std::vector<int32_t> labels(size_t(w) * h, -1);
  mf_image image;
  mf_image_init(&image);
  image.format = MF_PIXEL_RGB;
  image.data = pixels.data();
  image.data_size = int64_t(pixels.size());
  image.width = w;
  image.height = h;
  image.stride = w * 3;
  mf_output out;
  mf_output_init(&out);
  out.labels = labels.data();
  out.labels_size = int64_t(labels.size() * 4);
  out.label_type = MF_LABEL_I32;
  const mf_status segmented = mf_model_segment(model, &image, &out, 1, nullptr, 0);
  check_status(segmented, "mf_model_segment");
  if (segmented == MF_OK)
    for (int32_t l : labels)
      if (l < 0 || l >= info.num_classes) contract("mf_model_segment", "label outside 0..K-1");
  mf_model_free(model);
  return 0;
}
