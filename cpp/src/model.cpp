// SPDX-License-Identifier: Apache-2.0
#include "model.hpp"

#include <ATen/Parallel.h>
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <caffe2/serialize/file_adapter.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>

#include "aoti.hpp"
#include "archive.hpp"
#include "error.hpp"
#include "host_memory.hpp"
#include "model_file.hpp"
#include "runtime.hpp"
#include "segments.hpp"
#include "semantic.hpp"
#include "torchscript.hpp"
#include "yuv.hpp"

namespace maskformer {

namespace {

// A zip whose directory claims records larger than the file is refused before any LibTorch reader
// allocates them (archive.hpp, oversized_record)
void refuse_oversized(const Archive& archive, const std::string& name) {
  if (const std::string why = oversized_record(archive); !why.empty())
    fail(MF_ERR_MODEL_FORMAT, "'" + name + "' is corrupt: its " + why + " (not a MaskFormer export)");
}

// Everything one call does on a CUDA device runs on a stream from the device's pool, so calls from
// different threads overlap; synchronize() makes the call look synchronous to its caller. On the
// CPU this is a no-op. Only device-generic c10 interfaces are used, so the same source builds
// against CPU-only LibTorch.
class DeviceScope {
 public:
  explicit DeviceScope(const at::Device& device) {
    if (device.is_cuda()) {
      const auto* impl = c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA);
      stream_.emplace(impl->getStreamFromGlobalPool(device, /*isHighPriority=*/false));
      guard_.emplace(*stream_);
    }
  }
  // On an error the scope is left without synchronize(): asynchronous copies from or into
  // caller memory may still run on the stream, so wait for them before the caller gets control
  // back (and may free that memory). Errors here are dropped: one is already in flight.
  ~DeviceScope() {
    if (stream_ && !synchronized_) {
      try {
        stream_->synchronize();
      } catch (...) {
        // the original failure is what the caller hears about
      }
    }
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

  void synchronize() {
    if (stream_) stream_->synchronize();
    synchronized_ = true;
  }

 private:
  std::optional<c10::Stream> stream_;
  std::optional<c10::StreamGuard> guard_;
  bool synchronized_ = false;
};

}  // namespace

Model::Model(std::unique_ptr<Backend> backend, Metadata meta, at::Device device,
             mf_precision precision, bool jit_optimize)
    : backend_(std::move(backend)),
      meta_(std::move(meta)),
      device_(device),
      precision_(precision),
      dtype_(scalar_type(precision)),
      jit_optimize_(jit_optimize) {}

at::Device Model::prepare(const LoadOptions& options) {
  require_compiled_libtorch();
  install_host_allocator();
  require(options.precision >= MF_PRECISION_FP32 && options.precision <= MF_PRECISION_BF16,
          "unknown precision " + std::to_string(options.precision));
  require(options.device >= MF_DEVICE_CPU, "device must be -1 (CPU) or a CUDA index, got " +
                                               std::to_string(options.device));
  require(options.intra_op_threads >= 0, "intra_op_threads must be >= 0");
  at::Device device(at::kCPU);
  if (options.device >= 0) {
    if (!torch::cuda::is_available())
      fail(MF_ERR_UNSUPPORTED, "cuda:" + std::to_string(options.device) +
                                   " requested, but CUDA is not available here (LibTorch " +
                                   TORCH_VERSION + " without CUDA, or no device visible)");
    if (options.device >= static_cast<int>(torch::cuda::device_count()))
      fail(MF_ERR_UNSUPPORTED, "cuda:" + std::to_string(options.device) + " requested, but only " +
                                   std::to_string(torch::cuda::device_count()) + " CUDA device(s) exist");
    device = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(options.device));
  }
  if (options.precision == MF_PRECISION_FP16 && device.is_cpu())
    fail(MF_ERR_UNSUPPORTED, "fp16 needs a CUDA device; on the CPU use fp32 or bf16");
  // emulated bf16 is slower than fp32 and less exact: refused rather than run quietly
  if (options.precision == MF_PRECISION_BF16 && device.is_cpu() && !cpu_has_native_bf16())
    fail(MF_ERR_UNSUPPORTED, "bf16 on the CPU needs native bf16 instructions (AVX512-BF16 or AMX), "
                             "which this CPU lacks: use fp32");
  if (options.intra_op_threads > 0)
    set_threads(options.intra_op_threads);
  else
    apply_default_threads();
  quiet_unusable_nnpack();
  return device;
}

std::unique_ptr<Model> Model::load(const std::string& path, const LoadOptions& options) {
  const at::Device device = prepare(options);
  const ModelFile file(path);
  refuse_oversized(std::make_shared<caffe2::serialize::FileAdapter>(file.source()), path);
  Metadata meta;
  // the format is read from the file's records, not its name; a package's code runs only after
  // every check that needs none of it, and only with allow_native_code
  std::unique_ptr<Backend> backend;
  {
    const LongLivedScope weights;  // what is allocated until the test forward pass lives with the model
    backend = is_aoti_package(file.source())
                  ? load_aoti(path, file.source(), options, device, &meta)
                  : load_torchscript(path, std::make_shared<caffe2::serialize::FileAdapter>(file.source()),
                                     file.size(), options, device, &meta);
  }
  return finish(std::move(backend), std::move(meta), device, options, path);
}

std::unique_ptr<Model> Model::load_memory(const void* data, size_t size, const std::string& name,
                                          const LoadOptions& options) {
  const at::Device device = prepare(options);
  if (size == 0) fail(MF_ERR_MODEL_FORMAT, "model '" + name + "' is empty (0 bytes)");
  const Archive archive = std::make_shared<BytesAdapter>(data, size);
  refuse_oversized(archive, name);
  if (is_aoti_package(archive))
    fail(MF_ERR_MODEL_FORMAT, "'" + name + "' is an AOTInductor package (.pt2), which loads from a file only "
                             "(LibTorch unpacks its compiled library to disk): save it to a file and load that");
  Metadata meta;
  std::unique_ptr<Backend> backend;
  {
    const LongLivedScope weights;  // what is allocated until the test forward pass lives with the model
    backend = load_torchscript(name, archive, static_cast<int64_t>(size), options, device, &meta);
  }
  return finish(std::move(backend), std::move(meta), device, options, name);
}

std::unique_ptr<Model> Model::finish(std::unique_ptr<Backend> backend, Metadata meta, const at::Device& device,
                                     const LoadOptions& options, const std::string& path) {
  std::unique_ptr<Model> model(
      new Model(std::move(backend), std::move(meta), device, options.precision, options.jit_optimize));
  // a small forward pass proves the file keeps the contract on this device and precision; a
  // package of fixed sizes is probed at its smallest one
  const auto& fixed = model->fixed_sizes();
  const std::pair<int, int> probe_hw =
      fixed.empty() ? std::make_pair(64, 64)
                    : *std::min_element(fixed.begin(), fixed.end(), [](const auto& a, const auto& b) {
                        return int64_t(a.first) * a.second < int64_t(b.first) * b.second;
                      });
  const std::string probe_text = std::to_string(probe_hw.second) + "x" + std::to_string(probe_hw.first);
  const auto probe_once = [&] {
    c10::InferenceMode inference;
    torch::jit::GraphOptimizerEnabledGuard optimizer(model->jit_optimize_);
    DeviceScope scope(device);
    at::Tensor probe = at::zeros({1, 3, probe_hw.first, probe_hw.second}, at::TensorOptions().device(device).dtype(model->dtype_));
    model->forward(probe);
    scope.synchronize();
  };
  try {
    try {
      probe_once();
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {
      // a network rewritten at load that fails here runs as exported instead, if that passes
      if (is_out_of_memory(e) || !model->backend_->fall_back(first_lines(summarise_error(text_of(e)), 1))) throw;
      probe_once();
    }
    model->backend_->settle();
  } catch (const Error& e) {
    // NaN on zeros, or outputs off the contract: the file's weights or code are broken
    if (e.status() == MF_ERR_NOT_FINITE || e.status() == MF_ERR_MODEL_FORMAT)
      fail(MF_ERR_MODEL_FORMAT, "'" + path + "' failed a " + probe_text + " test forward pass on " + device.str() + " (" +
                                    precision_name(options.precision) + "): " + e.what());
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    // c10::Error from an operator, or the interpreter's std::runtime_error carrying its text
    const std::string text = summarise_error(text_of(e));
    if (is_out_of_memory(e))
      fail(MF_ERR_OUT_OF_MEMORY, "'" + path + "': the " + probe_text + " test forward pass ran out of memory on " +
                                     device.str() + ": " + first_lines(text, 1));
    if (options.precision != MF_PRECISION_FP32 && text.find("not implemented for") != std::string::npos)
      fail(MF_ERR_UNSUPPORTED, std::string(precision_name(options.precision)) + " is not supported on " +
                                   device.str() + " by this LibTorch: " + first_lines(text, 3));
    fail(MF_ERR_MODEL_FORMAT, "'" + path + "' failed a " + probe_text + " test forward pass on " + device.str() +
                                  " (" + precision_name(options.precision) + "): " + first_lines(text, 3));
  }
  // MASKFORMER_VERBOSE=1: what the load did to the network, on stderr (docs/performance.md)
  if (const char* verbose = std::getenv("MASKFORMER_VERBOSE");
      verbose != nullptr && verbose[0] == '1' && device.is_cpu() && std::string(model->backend_->format()) == "torchscript")
    std::fprintf(stderr, "maskformer: %s: CPU rewrites %s\n", path.c_str(), model->backend_->optimizations().c_str());
  model->backend_->loaded(path);
  return model;
}

void Model::require_size(int net_h, int net_w, int image_h, int image_w) const {
  const auto& fixed = backend_->sizes();
  if (fixed.empty() || std::find(fixed.begin(), fixed.end(), std::make_pair(net_h, net_w)) != fixed.end())
    return;
  std::string have;
  for (const auto& hw : fixed)
    have += (have.empty() ? "" : ", ") + std::to_string(hw.second) + "x" + std::to_string(hw.first);
  fail(MF_ERR_INVALID_ARGUMENT,
       "the network input size " + std::to_string(net_w) + "x" + std::to_string(net_h) + " (for a " +
           std::to_string(image_w) + "x" + std::to_string(image_h) +
           " frame) is not among the sizes this AOTInductor package was compiled for (" + have +
           "): export one with --sizes " + std::to_string(net_w) + "x" + std::to_string(net_h) +
           ", or give frames whose network size is listed");
}

std::pair<int, int> Model::input_size(int height, int width, bool resize) const {
  if (!resize || !meta_.resize_keep_ratio) return {height, width};
  return keep_ratio_size(height, width, meta_.resize_long, meta_.resize_short);
}

std::pair<at::Tensor, at::Tensor> Model::forward(const at::Tensor& batch) const {
  c10::IValue result = backend_->run(batch);
  auto fail_contract = [&](const std::string& what) {
    fail(MF_ERR_MODEL_FORMAT, "forward() does not keep the MaskFormer contract: " + what);
  };
  if (!result.isTuple()) fail_contract("it returned " + result.tagKind() + ", expected a tuple");
  const auto& items = result.toTupleRef().elements();
  if (items.size() != 2 || !items[0].isTensor() || !items[1].isTensor())
    fail_contract("expected (pred_logits, pred_masks)");
  at::Tensor logits = items[0].toTensor(), masks = items[1].toTensor();
  for (const auto* t : {&logits, &masks}) {
    const char* name = t == &logits ? "pred_logits" : "pred_masks";
    if (t->layout() != at::kStrided)
      fail_contract(std::string(name) + " is a " + c10::str(t->layout()) + " tensor, expected a dense one");
    if (t->device() != device_)
      fail_contract(std::string(name) + " is on " + t->device().str() + ", expected " + device_.str());
    if (!t->is_floating_point())
      fail_contract(std::string(name) + " has dtype " + c10::str(t->scalar_type()) + ", expected a floating type");
  }
  const int64_t b = batch.size(0), k = meta_.num_classes, q = meta_.num_queries;
  const int64_t mh = (batch.size(2) + meta_.mask_stride - 1) / meta_.mask_stride;
  const int64_t mw = (batch.size(3) + meta_.mask_stride - 1) / meta_.mask_stride;
  if (logits.dim() != 3 || logits.size(0) != b || logits.size(1) != q || logits.size(2) != k + 1)
    fail_contract("pred_logits has shape " + c10::str(logits.sizes()) + ", expected [" +
                  std::to_string(b) + ", " + std::to_string(q) + ", " + std::to_string(k + 1) + "]");
  if (masks.dim() != 4 || masks.size(0) != b || masks.size(1) != q || masks.size(2) != mh ||
      masks.size(3) != mw)
    fail_contract("pred_masks has shape " + c10::str(masks.sizes()) + ", expected [" +
                  std::to_string(b) + ", " + std::to_string(q) + ", " + std::to_string(mh) + ", " +
                  std::to_string(mw) + "]");
  // NaN would give label 0 everywhere (argmax of NaN), a silent wrong result; infinity alike
  // one reduction each and one host read for both (one device sync on CUDA, not two)
  const at::Tensor finite = at::stack({at::isfinite(logits).all(), at::isfinite(masks).all()}).cpu();
  const bool* ok = finite.data_ptr<bool>();
  if (!ok[0] || !ok[1])
    fail(MF_ERR_NOT_FINITE, std::string("the network's outputs hold NaN or infinity (") +
                                (ok[0] ? "pred_masks" : "pred_logits") + ", " + precision_name(precision_) +
                                "): no labels are written");
  return {logits.to(at::kFloat), masks.to(at::kFloat)};
}

void Model::segment(const std::vector<ImageView>& images, const std::vector<OutputView>& outputs,
                    const SegmentOptions& options) const {
  HostCallScope host_call;  // this call's working set sizes the host cache
  c10::InferenceMode inference;
  torch::jit::GraphOptimizerEnabledGuard optimizer(jit_optimize_);
  DeviceScope scope(device_);

  std::map<std::pair<int, int>, std::vector<size_t>> groups;  // network size -> images
  for (size_t i = 0; i < images.size(); ++i)
    groups[input_size(images[i].height, images[i].width, options.resize)].push_back(i);
  for (const auto& group : groups)  // before any work: a missing size fails the whole call
    require_size(group.first.first, group.first.second, images[group.second[0]].height,
                 images[group.second[0]].width);

  auto float_opts = at::TensorOptions().device(device_).dtype(at::kFloat);
  // class scores are made in bands of rows, which bounds the memory that large frames need:
  // 32 MiB on the CPU, 512 MiB on a GPU (where fewer, larger kernels are what counts)
  const int64_t band_bytes = device_.is_cpu() ? (int64_t(32) << 20) : (int64_t(512) << 20);
  for (const auto& group : groups) {
    const int net_h = group.first.first, net_w = group.first.second;
    const auto& members = group.second;
    at::Tensor batch = at::empty({static_cast<int64_t>(members.size()), 3, net_h, net_w}, float_opts);
    for (size_t j = 0; j < members.size(); ++j) {
      const ImageView& image = images[members[j]];
      const bool same_size = net_h == image.height && net_w == image.width;
      at::Tensor sized;
      if (image.yuv) {
        sized = yuv_to_network_size(image, net_h, net_w);
      } else {
        at::Tensor hwc = image_to_device(image, device_, host_buffer_is_pinned(image.data, image.span()));
        sized = same_size ? hwc : resize_linear_u8(hwc, net_h, net_w);
      }
      normalise_into(sized, image.bgr, meta_.input_bgr, meta_.mean, meta_.std, batch[j]);
    }
    auto result = forward(dtype_ == at::kFloat ? batch : batch.to(dtype_));
    for (size_t j = 0; j < members.size(); ++j) {
      const ImageView& image = images[members[j]];
      write_outputs(result.first[j], result.second[j], net_h, net_w, image.height, image.width,
                    meta_.num_classes, outputs[members[j]], options, band_bytes);
    }
  }
  scope.synchronize();
}

at::Tensor Model::yuv_to_network_size(const ImageView& image, int net_h, int net_w) const {
  const bool same_size = net_h == image.height && net_w == image.width;
  if (!device_.is_cpu()) {  // the planes go up (1.5 bytes a pixel); RGB is made on the device
    const std::vector<at::Tensor> planes = yuv_planes_to_device(image, device_);
    at::Tensor rgb = yuv_to_rgb_tensor(planes[0], planes[1], planes[2], image.matrix, image.full_range);
    return same_size ? rgb : resize_linear_u8(rgb, net_h, net_w);
  }
  // on the CPU only the rows that the resize reads are converted
  const auto bytes = at::TensorOptions().dtype(at::kByte);
  if (same_size) {
    at::Tensor rgb = at::empty({image.height, image.width, 3}, bytes);
    yuv_to_rgb_rows(image, nullptr, image.height, rgb.data_ptr<uint8_t>());
    return rgb;
  }
  const std::vector<int64_t> rows = resize_source_rows(image.height, net_h);
  at::Tensor rgb = at::empty({static_cast<int64_t>(rows.size()), image.width, 3}, bytes);
  yuv_to_rgb_rows(image, rows.data(), static_cast<int64_t>(rows.size()), rgb.data_ptr<uint8_t>());
  return resize_linear_u8(rgb, net_h, net_w, image.height);
}

std::vector<double> Model::benchmark_forward(int height, int width, int batch, int iters) const {
  c10::InferenceMode inference;
  torch::jit::GraphOptimizerEnabledGuard optimizer(jit_optimize_);
  DeviceScope scope(device_);
  require_size(height, width, height, width);
  at::Tensor x = at::zeros({batch, 3, height, width}, at::TensorOptions().device(device_).dtype(dtype_));
  forward(x);
  scope.synchronize();
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(iters));
  for (int i = 0; i < iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    forward(x);
    scope.synchronize();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return ms;
}

void Model::warmup(const std::vector<std::pair<int, int>>& sizes_hw) const {
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  // the network to warm is the one later calls run: the rewritten one, once it is made
  backend_->await_optimizations();
  for (const auto& hw : sizes_hw) {
    ImageView image;
    image.height = hw.first;
    image.width = hw.second;
    image.stride = int64_t(hw.second) * 3;
    const size_t pixel_bytes = static_cast<size_t>(image.stride) * hw.first;
    // calloc maps large blocks as untouched zero pages: the forward pass only reads them, so a
    // warm-up frame costs no resident memory, where a filled vector cost 3 bytes a pixel
    std::unique_ptr<void, Free> pixels(std::calloc(pixel_bytes, 1));
    // the narrowest label type the model allows: 1 byte a pixel instead of 4 for K <= 256
    const bool u8 = meta_.num_classes <= 256;
    const size_t label_bytes = static_cast<size_t>(hw.first) * hw.second * (u8 ? 1 : 4);
    std::unique_ptr<void, Free> labels(std::malloc(label_bytes));
    if (!pixels || !labels)
      fail(MF_ERR_OUT_OF_MEMORY, "cannot allocate the " + std::to_string(hw.second) + "x" +
                                     std::to_string(hw.first) + " warm-up frame");
    image.data = static_cast<const uint8_t*>(pixels.get());
    image.data_size = static_cast<int64_t>(pixel_bytes);
    OutputView out;
    out.labels = labels.get();
    out.labels_size = static_cast<int64_t>(label_bytes);
    out.label_type = u8 ? MF_LABEL_U8 : MF_LABEL_I32;
    segment({image}, {out}, SegmentOptions());
  }
}

}  // namespace maskformer
