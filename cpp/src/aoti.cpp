// SPDX-License-Identifier: Apache-2.0
#include "aoti.hpp"

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/version.h>

#include <algorithm>
#include <map>

#include "archive.hpp"
#include "error.hpp"
#include "json.hpp"
#include "runtime.hpp"

// AOTIModelPackageLoader reads PT2 archives from LibTorch 2.6 on; older LibTorch builds (the
// Debian 1.13 compatibility build) compile without it and refuse packages.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 6)
#define MF_WITH_AOTI 1
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#endif

namespace maskformer {

namespace {

template <class Source>
bool is_pt2(const Source& source) {
  try {
    caffe2::serialize::PyTorchStreamReader reader(source);
    std::string format = read_record(reader, "archive_format");
    format.erase(format.find_last_not_of(" \n\r\t") + 1);
    return format == "pt2";
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

bool is_aoti_package(const std::string& path) { return is_pt2(path); }

bool is_aoti_package(const std::shared_ptr<caffe2::serialize::ReadAdapterInterface>& archive) {
  return is_pt2(archive);
}

#ifndef MF_WITH_AOTI

std::unique_ptr<Backend> load_aoti(const std::string& path, const std::string&, const LoadOptions&,
                                   const at::Device&, Metadata*) {
  fail(MF_ERR_UNSUPPORTED, "'" + path + "' is an AOTInductor package (.pt2), and this LibTorch " +
                               std::string(TORCH_VERSION) +
                               " cannot load .pt2 packages (it needs LibTorch 2.6 or later); "
                               "use a TorchScript export (models/export.py --format torchscript)");
}

#else

namespace {

struct Spec {
  std::string device;     // "cpu" or "cuda"
  std::string precision;  // "fp32", "bf16", "fp16"
  bool batch_one = false; // each compiled model runs one image
  std::vector<std::pair<std::string, std::pair<int, int>>> models;  // name, (h, w)
};

Spec parse_spec(const std::string& json_text, const std::string& path) {
  auto bad = [&](const std::string& what) -> void {
    fail(MF_ERR_MODEL_FORMAT, "'" + path + "': maskformer.json: " + what +
                                  " (a package written by models/export.py --format aoti has it)");
  };
  json::Value root = json::Value::parse(json_text);  // parse_metadata already accepted it
  const json::Value* aoti = root.find("aoti");
  if (aoti == nullptr || !aoti->is_object()) bad("no \"aoti\" section");
  Spec spec;
  const json::Value* device = aoti->find("device");
  const json::Value* precision = aoti->find("precision");
  const json::Value* batch = aoti->find("batch");
  const json::Value* models = aoti->find("models");
  if (device == nullptr || !device->is_string()) bad("aoti.device missing");
  if (precision == nullptr || !precision->is_string()) bad("aoti.precision missing");
  if (batch == nullptr || !batch->is_number()) bad("aoti.batch missing");
  if (models == nullptr || !models->is_array() || models->array().empty()) bad("aoti.models missing or empty");
  spec.device = device->string();
  spec.precision = precision->string();
  spec.batch_one = batch->number() == 1;
  if (spec.device != "cpu" && spec.device != "cuda") bad("aoti.device is \"" + spec.device + "\"");
  if (spec.precision != "fp32" && spec.precision != "bf16" && spec.precision != "fp16")
    bad("aoti.precision is \"" + spec.precision + "\"");
  for (const json::Value& m : models->array()) {
    const json::Value* name = m.find("name");
    const json::Value* h = m.find("height");
    const json::Value* w = m.find("width");
    if (name == nullptr || !name->is_string() || h == nullptr || !h->is_number() || w == nullptr ||
        !w->is_number() || h->number() < 1 || w->number() < 1 || h->number() > MF_MAX_NETWORK_SIDE ||
        w->number() > MF_MAX_NETWORK_SIDE)
      bad("aoti.models entries must be {name, height, width} with sides in 1.." +
          std::to_string(MF_MAX_NETWORK_SIDE));
    spec.models.push_back({name->string(), {static_cast<int>(h->number()), static_cast<int>(w->number())}});
  }
  return spec;
}

// AOTInductor's own record of the CPU instructions the kernels were compiled for (x86).
void require_cpu_isa(caffe2::serialize::PyTorchStreamReader& reader, const std::string& model,
                     const std::string& path) {
  const std::string prefix = "data/aotinductor/" + model + "/";
  for (const std::string& name : reader.getAllRecords()) {
    if (name.compare(0, prefix.size(), prefix) != 0 || name.size() < 14 ||
        name.compare(name.size() - 14, 14, "_metadata.json") != 0)
      continue;
    const json::Value meta = json::Value::parse(read_record(reader, name));
    const json::Value* isa = meta.is_object() ? meta.find("AOTI_CPU_ISA") : nullptr;
    if (isa == nullptr || !isa->is_string()) continue;
    const std::string& text = isa->string();
    const int32_t have = cpu_features();
    const bool wants512 = text.find("AVX512") != std::string::npos;
    const bool wants2 = text.find("AVX2") != std::string::npos;
    if ((wants512 && !(have & MF_CPU_AVX512)) || (wants2 && !(have & (MF_CPU_AVX2 | MF_CPU_AVX512))))
      fail(MF_ERR_UNSUPPORTED, "'" + path + "' was compiled for CPUs with " + text +
                                   ", which this CPU lacks: export the package on (or for) this machine");
  }
}

class AotiBackend : public Backend {
 public:
  AotiBackend(const std::string& path, const Spec& spec, const at::Device& device) : device_(device) {
    batch_one_ = spec.batch_one;
    // one runner per compiled model on the CPU (calls on one size take turns; the intra-op
    // threads are what speed a call up), two on a GPU so that two callers' streams overlap
    const size_t runners = device.is_cuda() ? 2 : 1;
    for (const auto& m : spec.models) {
      loaders_.emplace(m.second, std::make_unique<torch::inductor::AOTIModelPackageLoader>(
                                     path, m.first, /*run_single_threaded=*/false, runners,
                                     device.is_cuda() ? device.index() : c10::DeviceIndex(-1)));
      sizes_.push_back(m.second);
    }
  }

  c10::IValue run(const at::Tensor& batch) const override {
    const std::pair<int, int> hw{static_cast<int>(batch.size(2)), static_cast<int>(batch.size(3))};
    auto it = loaders_.find(hw);
    if (it == loaders_.end()) fail(MF_ERR_INVALID_ARGUMENT, "network size " + size_text(hw) + " is not among the package's sizes");
    void* stream = nullptr;
    if (device_.is_cuda())
      stream = c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->getStream(device_).native_handle();
    std::vector<at::Tensor> out;
    if (batch_one_ && batch.size(0) > 1) {
      std::vector<at::Tensor> logits, masks;
      for (int64_t i = 0; i < batch.size(0); ++i) {
        std::vector<at::Tensor> one = it->second->run({batch.narrow(0, i, 1).contiguous()}, stream);
        if (one.size() != 2) return c10::ivalue::Tuple::create(std::vector<c10::IValue>(one.begin(), one.end()));
        logits.push_back(one[0]);
        masks.push_back(one[1]);
      }
      out = {at::cat(logits), at::cat(masks)};
    } else {
      out = it->second->run({batch.contiguous()}, stream);
    }
    return c10::ivalue::Tuple::create(std::vector<c10::IValue>(out.begin(), out.end()));
  }

  const std::vector<std::pair<int, int>>& sizes() const override { return sizes_; }
  const char* format() const override { return "aoti"; }

  static std::string size_text(const std::pair<int, int>& hw) {
    return std::to_string(hw.second) + "x" + std::to_string(hw.first);
  }

 private:
  at::Device device_;
  bool batch_one_ = false;
  std::map<std::pair<int, int>, std::unique_ptr<torch::inductor::AOTIModelPackageLoader>> loaders_;
  std::vector<std::pair<int, int>> sizes_;
};

}  // namespace

std::unique_ptr<Backend> load_aoti(const std::string& path, const std::string& source,
                                   const LoadOptions& options, const at::Device& device, Metadata* meta) {
  std::string json_text;
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(source);
    json_text = metadata_record(*reader);
  } catch (const std::exception& e) {
    fail(MF_ERR_MODEL_FORMAT, "'" + path + "' is not a readable AOTInductor package: " + text_of(e));
  }
  if (json_text.empty())
    fail(MF_ERR_MODEL_FORMAT, "'" + path + "' carries no " + kMetadataFile +
                                  ": export it with models/export.py --format aoti");
  *meta = parse_metadata(json_text);
  const Spec spec = parse_spec(json_text, path);
  if (!options.allow_native_code)
    fail(MF_ERR_MODEL_FORMAT,
         "'" + path + "' is an AOTInductor package (.pt2): it holds a compiled shared library, and "
         "loading it runs that native code in this process. Load it only from a source you trust, "
         "with allow_native_code = 1 (Java: LoadOptions.withTrustedNativeCode(true); CLI: "
         "--allow-native-code); files of unknown origin belong in TorchScript (.pt)");
  // the checks below read records only: nothing from the file has run yet
  const std::string want_device = device.is_cuda() ? "cuda" : "cpu";
  if (spec.device != want_device)
    fail(MF_ERR_UNSUPPORTED, "'" + path + "' was compiled for " + spec.device + ", not for " + device.str() +
                                 ": load it on " + (spec.device == "cuda" ? "a CUDA device" : "the CPU") +
                                 ", or export a package with --device " + want_device);
  if (spec.precision != precision_name(options.precision))
    fail(MF_ERR_UNSUPPORTED, "'" + path + "' was compiled for " + spec.precision + ", not " +
                                 precision_name(options.precision) + ": load it with precision " +
                                 spec.precision + ", or export a package with --precision " +
                                 precision_name(options.precision));
  const std::string& exporter = meta->exported_with;
  if (!exporter.empty() && newer(exporter, TORCH_VERSION))
    fail(MF_ERR_MODEL_FORMAT, "'" + path + "' was compiled by torch " + exporter + ", newer than this LibTorch " +
                                  TORCH_VERSION + ", which cannot run its kernels: export it with torch <= " +
                                  major_minor(TORCH_VERSION) + " or run the shim on a newer LibTorch");
  if (device.is_cpu())
    for (const auto& m : spec.models) require_cpu_isa(*reader, m.first, path);
  reader.reset();
  try {
    return std::make_unique<AotiBackend>(source, spec, device);
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    fail(MF_ERR_MODEL_FORMAT, "'" + path + "': LibTorch " + std::string(TORCH_VERSION) +
                                  " could not load the AOTInductor package (exported with torch " +
                                  (exporter.empty() ? std::string("?") : exporter) + "): " + text_of(e));
  }
}

#endif

}  // namespace maskformer
