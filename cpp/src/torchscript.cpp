// SPDX-License-Identifier: Apache-2.0
#include "torchscript.hpp"

#include <torch/script.h>
#include <torch/version.h>

#include <optional>

#include "cpu_optimize.hpp"
#include "error.hpp"
#include "runtime.hpp"
#include "script_bounds.hpp"

namespace maskformer {

namespace {

// Module::to(dtype) would also cast integer buffers (the attention index tables); cast only the
// floating-point parameters and buffers.
void cast_floating(torch::jit::Module& module, at::ScalarType dtype) {
  for (const auto& p : module.named_parameters(/*recurse=*/true))
    if (p.value.is_floating_point()) p.value.set_data(p.value.to(dtype));
  for (const auto& b : module.named_buffers(/*recurse=*/true))
    if (b.value.is_floating_point()) b.value.set_data(b.value.to(dtype));
}

class ScriptBackend : public Backend {
 public:
  ScriptBackend(CpuNetwork network, std::string optimizations)
      : network_(std::move(network)), optimizations_(std::move(optimizations)) {}
  // MF_CPU_REWRITES_IN_BACKGROUND: the exported module runs until `background` has rewritten it
  explicit ScriptBackend(std::unique_ptr<BackgroundNetwork> background)
      : background_(std::move(background)) {}
  c10::IValue run(const at::Tensor& batch) const override {
    return background_ ? background_->forward(batch) : network_->forward(batch);
  }
  bool fall_back(const std::string& why) override {
    if (background_ || !network_->fall_back()) return false;
    optimizations_ = "none (the rewritten network failed the test forward pass: " + why + ")";
    return true;
  }
  void settle() override {
    if (network_) network_->settle();
  }
  void loaded(const std::string& label) override {
    if (background_) background_->start(label);
  }
  void await_optimizations() const override {
    if (background_) background_->wait();
  }
  const std::vector<std::pair<int, int>>& sizes() const override { return any_size_; }
  const char* format() const override { return "torchscript"; }
  const std::string& optimizations() const override {
    return background_ ? background_->report() : optimizations_;
  }

 private:
  std::optional<CpuNetwork> network_;
  std::unique_ptr<BackgroundNetwork> background_;
  std::string optimizations_;
  std::vector<std::pair<int, int>> any_size_;
};

}  // namespace

std::unique_ptr<Backend> load_torchscript(const std::string& path, const Archive& archive,
                                          int64_t file_size, const LoadOptions& options,
                                          const at::Device& device, Metadata* meta) {
  const ArchiveScan scan = scan_archive(archive, file_size);
  if (scan.checkpoint) fail(MF_ERR_MODEL_FORMAT, checkpoint_message(path, "a zip written by torch.save"));
  if (!scan.setstate.empty())
    fail(MF_ERR_MODEL_FORMAT, "'" + path + "' defines __setstate__ (" + scan.setstate +
                                  "), code that TorchScript would run while loading, before any check: "
                                  "MaskFormer exports have none");
  if (!scan.unreadable.empty())
    fail(MF_ERR_MODEL_FORMAT, "'" + path + "' is corrupt: its " + scan.unreadable +
                                  " cannot be read, so it cannot be checked before LibTorch reads it");
  if (!scan.bad_record.empty())
    fail(MF_ERR_MODEL_FORMAT, "'" + path + "' is corrupt or hostile: " + scan.bad_record +
                                  " (LibTorch would allocate by that number before reading)");
  torch::jit::ExtraFilesMap extra{{kMetadataFile, ""}};
  torch::jit::Module module;
  try {
    module = torch::jit::load(archive, at::Device(at::kCPU), extra);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    // c10::Error for bad archives; the TorchScript frontend's ErrorReport (a std::exception, with
    // a long source excerpt) for code this LibTorch cannot compile, e.g. unknown operators
    const std::string text = summarise_error(text_of(e));
    if (starts_like_legacy_save(archive))
      fail(MF_ERR_MODEL_FORMAT, checkpoint_message(path, "torch.save's legacy format"));
    const std::string exporter = exported_with(metadata_record(archive));
    if (!exporter.empty() && newer(exporter, TORCH_VERSION))
      fail(MF_ERR_MODEL_FORMAT, "'" + path + "' was exported with torch " + exporter +
                                    ", newer than this LibTorch " + TORCH_VERSION +
                                    ", which cannot load its TorchScript: export it with torch <= " +
                                    TORCH_VERSION + " or run the shim on a newer LibTorch (" +
                                    first_lines(text, 1) + ")");
    const bool pt2_name = path.size() > 4 && path.compare(path.size() - 4, 4, ".pt2") == 0;
    fail(MF_ERR_MODEL_FORMAT, "'" + path + "' is not a readable TorchScript archive (truncated, "
                              "corrupt or not an export" +
                                  std::string(pt2_name ? "; nor a readable AOTInductor package" : "") +
                                  "): " + first_lines(text, 3));
  }
  if (extra[kMetadataFile].empty())
    fail(MF_ERR_MODEL_FORMAT, "'" + path + "' carries no " + kMetadataFile +
                                  ": export it with models/export.py");
  *meta = parse_metadata(extra[kMetadataFile]);
  if (!module.find_method("forward"))
    fail(MF_ERR_MODEL_FORMAT, "'" + path + "' has no forward method");
  check_terminates(module, path);

  module.eval();
  if (!device.is_cpu()) module.to(device);
  if (options.precision != MF_PRECISION_FP32) cast_floating(module, scalar_type(options.precision));
  std::string report = "none";
  CpuNetwork network(module);
  if (device.is_cpu() && options.cpu_rewrites != MF_CPU_REWRITES_NONE) {
    const CpuPasses passes = cpu_passes_from_env();
    // MASKFORMER_CPU_PASSES=freeze,ofi (torch's optimize_for_inference, for comparisons) makes
    // another module, not a graph over this one: made at load
    if (options.cpu_rewrites == MF_CPU_REWRITES_IN_BACKGROUND && passes.freeze && !passes.ofi)
      return std::make_unique<ScriptBackend>(
          std::make_unique<BackgroundNetwork>(module, passes, scalar_type(options.precision), options.jit_optimize));
    network = optimize_for_cpu(module, passes, &report);
  } else if (device.is_cpu()) {
    report = "none (turned off in the load options)";
  }
  return std::make_unique<ScriptBackend>(std::move(network), std::move(report));
}

}  // namespace maskformer
