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
  mf_fuzz::segment_checked(model, info.num_classes, MF_PIXEL_RGB, w, h, std::vector<uint8_t>(size_t(w) * h * 3, 77));
  mf_model_free(model);
  return 0;
}
