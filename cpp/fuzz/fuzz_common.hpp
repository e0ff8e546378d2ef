// SPDX-License-Identifier: Apache-2.0
// Shared helpers of the fuzz targets: where the test models lie, reading and rewriting TorchScript
// archives record by record, a per-process temp file, and the ABI's status contract.
#pragma once

#include <caffe2/serialize/inline_container.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "maskformer.h"

#ifndef MF_FUZZ_MODELS_DEFAULT
#define MF_FUZZ_MODELS_DEFAULT "target/test-models"
#endif

namespace mf_fuzz {

// A broken contract of the ABI: reported like a sanitizer finding, so libFuzzer keeps the input.
[[noreturn]] inline void contract(const char* what, const char* detail = "") {
  std::fprintf(stderr, "ABI CONTRACT BROKEN: %s %s\n", what, detail);
  std::abort();
}

// The fixtures folder (models/fixtures.py): $MF_FUZZ_MODELS, else the build's default.
inline std::string models_dir() {
  const char* env = std::getenv("MF_FUZZ_MODELS");
  return env != nullptr && env[0] != '\0' ? env : MF_FUZZ_MODELS_DEFAULT;
}

inline std::string model_path(const std::string& name) {
  const std::string path = models_dir() + "/" + name;
  if (::access(path.c_str(), R_OK) != 0) {
    std::fprintf(stderr, "fuzz: %s is missing: build the fixtures (models/fixtures.py --out %s) "
                         "or set MF_FUZZ_MODELS\n", path.c_str(), models_dir().c_str());
    std::exit(2);
  }
  return path;
}

// One file per process for the archives under test (in /dev/shm when there is one).
inline const std::string& scratch_file() {
  static const std::string path = [] {
    const char* dir = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
    return std::string(dir) + "/mf-fuzz-" + std::to_string(::getpid()) + ".pt";
  }();
  return path;
}

inline void write_file(const std::string& path, const void* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) contract("cannot write", path.c_str());
  if (size > 0 && std::fwrite(data, 1, size, f) != size) contract("short write", path.c_str());
  std::fclose(f);
}

// The records of a TorchScript archive, without the ones the writer makes itself.
struct Archive {
  std::vector<std::pair<std::string, std::string>> records;
  uint64_t version = 0;
};

inline Archive read_archive(const std::string& path) {
  caffe2::serialize::PyTorchStreamReader reader(path);
  Archive a;
  a.version = reader.version();
  for (const std::string& name : reader.getAllRecords()) {
    if (name == "version" || name == ".data/version" || name == ".data/serialization_id") continue;
    auto record = reader.getRecord(name);
    a.records.emplace_back(name, std::string(static_cast<const char*>(std::get<0>(record).get()),
                                             std::get<1>(record)));
  }
  return a;
}

// Writes `a` to `path` as a valid zip (CRCs and alignment as torch.jit.save makes them), with the
// records of `replace` put in place of (or added to) the archive's own.
inline void write_archive(const Archive& a, const std::map<std::string, std::string>& replace,
                          const std::string& path) {
  caffe2::serialize::PyTorchStreamWriter writer(path);
  writer.setMinVersion(a.version);
  for (const auto& r : a.records) {
    auto it = replace.find(r.first);
    const std::string& data = it == replace.end() ? r.second : it->second;
    writer.writeRecord(r.first, data.data(), data.size());
  }
  for (const auto& r : replace) {
    bool present = false;
    for (const auto& own : a.records) present = present || own.first == r.first;
    if (!present) writer.writeRecord(r.first, r.second.data(), r.second.size());
  }
  writer.writeEndOfFile();
}

// Every call keeps this: MF_OK with no error text, or a known MF_ERR_* code with a text.
inline void check_status(mf_status status, const char* call) {
  const char* text = mf_last_error();
  if (status == MF_OK) {
    if (text != nullptr) contract(call, "returned MF_OK but left an error text");
    return;
  }
  if (status < MF_ERR_INVALID_ARGUMENT || status > MF_ERR_NOT_FINITE) contract(call, "returned an unknown status");
  if (text == nullptr || text[0] == '\0') contract(call, "failed without an error text");
  if (std::strlen(text) >= MF_ERROR_TEXT_SIZE) contract(call, "error text longer than MF_ERROR_TEXT_SIZE");
}

// Segments a packed 3-byte image of `pixels` (w x h, rows without padding) into I32 labels (and
// scores when `scores` is not null) and checks the status contract and every label against the
// model's class count; the call's status.
inline mf_status segment_checked(mf_model* model, int32_t num_classes, mf_pixel_format format, int w, int h,
                                 const std::vector<uint8_t>& pixels, std::vector<float>* scores = nullptr) {
  std::vector<int32_t> labels(size_t(w) * h, -1);
  mf_image image;
  mf_image_init(&image);
  image.format = format;
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
  if (scores != nullptr) {
    out.scores = scores->data();
    out.scores_size = int64_t(scores->size() * 4);
  }
  const mf_status st = mf_model_segment(model, &image, &out, 1, nullptr, 0);
  check_status(st, "mf_model_segment");
  if (st == MF_OK)
    for (int32_t l : labels)
      if (l < 0 || l >= num_classes) contract("mf_model_segment", "label outside 0..K-1");
  return st;
}

}  // namespace mf_fuzz
