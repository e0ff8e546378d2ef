// SPDX-License-Identifier: Apache-2.0
// The C ABI: argument checks, ownership, and the exception boundary. Every function body runs
// inside guard(), so no C++ exception crosses into the caller.
#include <ATen/Parallel.h>
#include <sys/resource.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <new>
#include <string>

#include "error.hpp"
#include "host_memory.hpp"
#include "maskformer.h"
#include "model.hpp"
#include "runtime.hpp"
#include "segments.hpp"
#include "yuv.hpp"

struct mf_model {
  std::unique_ptr<maskformer::Model> impl;
};

namespace maskformer {
namespace {

#ifndef MF_SHIM_VERSION
#define MF_SHIM_VERSION "0.0.0"
#endif

thread_local char last_error[MF_ERROR_TEXT_SIZE] = {0};
std::atomic<int64_t> live_handles{0};

mf_status record(mf_status status, const char* text) noexcept {
  std::strncpy(last_error, text, sizeof(last_error) - 1);
  last_error[sizeof(last_error) - 1] = '\0';
  return status;
}

// The status of a failure from LibTorch, by type where the type says it and by text where
// LibTorch reports it only in words (see is_out_of_memory).
mf_status classify(const std::exception& e) noexcept {
  if (is_out_of_memory(e)) return MF_ERR_OUT_OF_MEMORY;
  const char* text = text_of(e);
  if (text == nullptr) return MF_ERR_INTERNAL;
  if (std::strstr(text, "CUDA error") != nullptr || std::strstr(text, "CUDA driver") != nullptr ||
      std::strstr(text, "cuDNN error") != nullptr || std::strstr(text, "CUBLAS_STATUS") != nullptr ||
      std::strstr(text, "cudaError") != nullptr)
    return MF_ERR_CUDA;
  return MF_ERR_INTERNAL;
}

template <class Fn>
mf_status guard(Fn&& body) noexcept {
  try {
    body();
    last_error[0] = '\0';
    return MF_OK;
  } catch (const Error& e) {
    return record(e.status(), e.what());
  } catch (const std::bad_alloc&) {
    return record(MF_ERR_OUT_OF_MEMORY, "host memory allocation failed");
  } catch (const std::exception& e) {
    try {
      return record(classify(e), summarise_error(text_of(e)).c_str());
    } catch (...) {  // no memory left even for the summary: the raw text
      return record(classify(e), text_of(e));
    }
  } catch (...) {
    return record(MF_ERR_INTERNAL, "unknown C++ exception");
  }
}

// width x height within 1..MF_MAX_IMAGE_SIDE on both sides, else INVALID_ARGUMENT naming `what`
void check_size(int64_t width, int64_t height, const std::string& what) {
  require(width >= 1 && width <= MF_MAX_IMAGE_SIDE && height >= 1 && height <= MF_MAX_IMAGE_SIDE,
          what + " " + std::to_string(width) + "x" + std::to_string(height) + " outside 1.." +
              std::to_string(MF_MAX_IMAGE_SIDE));
}

int channels_of(mf_pixel_format f) { return f == MF_PIXEL_RGBA || f == MF_PIXEL_BGRA ? 4 : 3; }

bool is_yuv(mf_pixel_format f) { return f == MF_PIXEL_NV12 || f == MF_PIXEL_I420 || f == MF_PIXEL_NV21; }

// rows of `row_bytes` bytes, `stride` apart, in a buffer of `size` bytes: stride >= row_bytes and
// (rows - 1) * stride + row_bytes <= size, overflow-checked; returns that span
int64_t check_plane(const uint8_t* data, int64_t size, int64_t stride, int64_t rows, int64_t row_bytes,
                    const std::string& what, int width, int height) {
  require(data != nullptr, what + " is NULL");
  require(stride >= row_bytes, what + " stride " + std::to_string(stride) + " < its row's " +
                                   std::to_string(row_bytes) + " bytes");
  int64_t need = 0;
  const bool overflow = __builtin_mul_overflow(rows - 1, stride, &need) || __builtin_add_overflow(need, row_bytes, &need);
  require(!overflow, what + " stride " + std::to_string(stride) + " for " + std::to_string(rows) +
                         " rows spans more than 2^63 bytes");
  require(size >= need, what + " needs " + std::to_string(need) + " bytes (" + std::to_string(rows) + " rows of " +
                            std::to_string(row_bytes) + ", stride " + std::to_string(stride) + ", for " +
                            std::to_string(width) + "x" + std::to_string(height) + "), got " + std::to_string(size));
  return need;
}

// The chroma planes, matrix and range of a YUV image (its Y plane is checked by the caller).
void check_yuv(const mf_image& img, const std::string& where, ImageView& v) {
  require(img.matrix == MF_YUV_BT601 || img.matrix == MF_YUV_BT709 || img.matrix == MF_YUV_BT2020,
          where + "unknown YUV matrix " + std::to_string(img.matrix));
  require(img.range == MF_YUV_LIMITED || img.range == MF_YUV_FULL,
          where + "unknown YUV range " + std::to_string(img.range));
  const int64_t cw = (int64_t(img.width) + 1) / 2, ch = (int64_t(img.height) + 1) / 2;
  v.yuv = true;
  v.channels = 1;
  v.matrix = img.matrix;
  v.full_range = img.range == MF_YUV_FULL;
  if (img.format == MF_PIXEL_I420) {
    const char* names[2] = {"U plane (chroma[0])", "V plane (chroma[1])"};
    for (int i = 0; i < 2; ++i) {
      const mf_plane& p = img.chroma[i];
      v.chroma_span[i] = check_plane(p.data, p.size, p.stride, ch, cw, where + names[i], img.width, img.height);
      v.chroma_data[i] = p.data;
    }
    v.chroma_buffers = 2;
    v.u = img.chroma[0].data;
    v.v = img.chroma[1].data;
    v.u_stride = img.chroma[0].stride;
    v.v_stride = img.chroma[1].stride;
    v.chroma_step = 1;
    return;
  }
  const mf_plane& p = img.chroma[0];
  const char* name = img.format == MF_PIXEL_NV12 ? "UV plane (chroma[0])" : "VU plane (chroma[0])";
  v.chroma_span[0] = check_plane(p.data, p.size, p.stride, ch, 2 * cw, where + name, img.width, img.height);
  require(img.chroma[1].data == nullptr, where + "chroma[1] must be NULL for NV12 and NV21 (one interleaved chroma "
                                                 "plane, in chroma[0]); I420 has two");
  v.chroma_data[0] = p.data;
  v.chroma_buffers = 1;
  const bool nv12 = img.format == MF_PIXEL_NV12;
  v.u = p.data + (nv12 ? 0 : 1);
  v.v = p.data + (nv12 ? 1 : 0);
  v.u_stride = v.v_stride = p.stride;
  v.chroma_step = 2;
}

const Model& model_of(const mf_model* m) {
  require(m != nullptr && m->impl != nullptr, "model must not be NULL");
  return *m->impl;
}

ImageView check_image(const mf_image& img, int index) {
  const std::string where = "image " + std::to_string(index) + ": ";
  require(img.data != nullptr, where + "data is NULL");
  require(img.format >= MF_PIXEL_RGB && img.format <= MF_PIXEL_NV21,
          where + "unknown pixel format " + std::to_string(img.format));
  check_size(img.width, img.height, where + "size");
  if (is_yuv(img.format)) {
    ImageView v;
    v.data = img.data;
    v.data_size = img.data_size;
    v.width = img.width;
    v.height = img.height;
    v.stride = img.stride;
    check_plane(img.data, img.data_size, img.stride, img.height, img.width, where + "Y plane", img.width, img.height);
    check_yuv(img, where, v);
    return v;
  }
  const int c = channels_of(img.format);
  require(img.stride >= int64_t(img.width) * c,
          where + "stride " + std::to_string(img.stride) + " < width*channels = " +
              std::to_string(int64_t(img.width) * c));
  int64_t need = 0;  // (height - 1) * stride + width * channels, overflow-checked
  const bool overflow = __builtin_mul_overflow(int64_t(img.height) - 1, img.stride, &need) ||
                        __builtin_add_overflow(need, int64_t(img.width) * c, &need);
  require(!overflow, where + "stride " + std::to_string(img.stride) + " for " + std::to_string(img.height) +
                         " rows spans more than 2^63 bytes");
  require(img.data_size >= need, where + "needs " + std::to_string(need) + " bytes for " +
                                     std::to_string(img.width) + "x" + std::to_string(img.height) +
                                     " with stride " + std::to_string(img.stride) + ", got " +
                                     std::to_string(img.data_size));
  ImageView v;
  v.data = img.data;
  v.data_size = img.data_size;
  v.width = img.width;
  v.height = img.height;
  v.stride = img.stride;
  v.channels = c;
  v.bgr = img.format == MF_PIXEL_BGR || img.format == MF_PIXEL_BGRA;
  return v;
}

OutputView check_output(const mf_output& out, const ImageView& img, int index, int num_classes) {
  const std::string where = "output " + std::to_string(index) + ": ";
  const mf_label_type label_type = out.label_type;
  require(label_type == MF_LABEL_U8 || label_type == MF_LABEL_I32,
          where + "unknown label type " + std::to_string(label_type));
  require(label_type != MF_LABEL_U8 || num_classes <= 256,
          where + "uint8 labels hold at most 256 classes; this model has " +
              std::to_string(num_classes) + ": use MF_LABEL_I32");
  const int64_t pixels = int64_t(img.width) * img.height;
  const int64_t label_bytes = pixels * (label_type == MF_LABEL_U8 ? 1 : 4);
  require(out.labels != nullptr, where + "labels is NULL");
  require(out.labels_size >= label_bytes, where + "labels need " + std::to_string(label_bytes) +
                                              " bytes, got " + std::to_string(out.labels_size));
  if (label_type == MF_LABEL_I32)
    require(reinterpret_cast<uintptr_t>(out.labels) % 4 == 0, where + "int32 labels must be 4-byte aligned");
  if (out.scores != nullptr) {
    const int64_t score_bytes = pixels * num_classes * int64_t(sizeof(float));
    require(out.scores_size >= score_bytes, where + "scores need " + std::to_string(score_bytes) +
                                                " bytes (" + std::to_string(num_classes) + " x " +
                                                std::to_string(img.height) + " x " +
                                                std::to_string(img.width) + " floats), got " +
                                                std::to_string(out.scores_size));
    require(reinterpret_cast<uintptr_t>(out.scores) % 4 == 0, where + "scores must be 4-byte aligned");
  }
  OutputView v;
  v.labels = out.labels;
  v.labels_size = out.labels_size;
  v.label_type = label_type;
  v.scores = out.scores;
  v.scores_size = out.scores_size;
  return v;
}

// mf_output_ext.segment_info_size: the caller's sizeof(mf_segment_info), in
// MF_SEGMENT_INFO_MIN_SIZE..4096 and a multiple of its alignment.
void check_segment_info_size(uint32_t size, const char* where) {
  if (size >= MF_SEGMENT_INFO_MIN_SIZE && size <= 4096 && size % alignof(mf_segment_info) == 0) return;
  // the message is made only for a failure: this runs on every segment call
  fail(MF_ERR_INVALID_ARGUMENT, std::string(where) + "segment_info_size must be " +
                                    std::to_string(MF_SEGMENT_INFO_MIN_SIZE) + "..4096 and a multiple of " +
                                    std::to_string(alignof(mf_segment_info)) + " (sizeof(mf_segment_info)), got " +
                                    std::to_string(size) + ": call mf_output_ext_init first");
}

// A struct of the ABI with every byte zero, padding included.
template <class T>
T zeroed() {
  T value;
  std::memset(&value, 0, sizeof(value));
  return value;
}

mf_load_options default_load_options() {
  auto o = zeroed<mf_load_options>();
  o.device = MF_DEVICE_CPU;
  o.precision = MF_PRECISION_FP32;
  return o;
}

mf_segment_options default_segment_options() {
  auto o = zeroed<mf_segment_options>();
  o.resize = 1;
  return o;
}

mf_inference_options default_inference_options() {
  auto o = zeroed<mf_inference_options>();
  o.semantic_rule = MF_SEMANTIC_PROBABILISTIC;
  o.iterative_overlap = 0.8;
  o.object_threshold = 0.8;
  o.overlap_threshold = 0.8;
  return o;
}

mf_output_ext default_output_ext() {
  auto o = zeroed<mf_output_ext>();
  o.confidence_type = MF_CONFIDENCE_U8;
  o.segment_info_size = sizeof(mf_segment_info);  // replaced by the caller's size in the sized init
  return o;
}

// The *_init_sized contract: exactly `size` bytes of the caller's struct are written, the first
// of them from `defaults` (struct_size = size) and zero past this library's struct, so a caller
// compiled against an older, smaller header is never overrun and a newer one gets its own fields
// zeroed. Nothing is written when the arguments are refused.
constexpr uint32_t kMaxStructSize = 65536;
template <class T>
void init_sized(T* p, uint32_t size, T defaults, const char* name) {
  // the messages are made only for a failure: the inits run on every segment call
  if (p == nullptr) fail(MF_ERR_INVALID_ARGUMENT, std::string(name) + " must not be NULL");
  if (size < sizeof(uint32_t) || size > kMaxStructSize)
    fail(MF_ERR_INVALID_ARGUMENT, std::string(name) + " size must be 4.." + std::to_string(kMaxStructSize) +
                                      " (sizeof as the caller was compiled; this library's is " +
                                      std::to_string(sizeof(T)) + "), got " + std::to_string(size));
  defaults.struct_size = size;
  auto* bytes = reinterpret_cast<unsigned char*>(p);
  std::memcpy(bytes, &defaults, std::min<size_t>(size, sizeof(T)));
  if (size > sizeof(T)) std::memset(bytes + sizeof(T), 0, size - sizeof(T));
}

// The load options of a caller's struct (NULL: the defaults), after checking its version.
LoadOptions load_options(const mf_load_options* opts) {
  LoadOptions o;
  if (opts != nullptr) {
    // allow_native_code was appended: a struct from before it ends at jit_optimize
    constexpr size_t before_native = offsetof(mf_load_options, allow_native_code);
    require(opts->struct_size >= before_native,
            "mf_load_options.struct_size is " + std::to_string(opts->struct_size) +
                ": call mf_load_options_init first");
    o.device = opts->device;
    o.precision = opts->precision;
    o.intra_op_threads = opts->intra_op_threads;
    o.jit_optimize = opts->jit_optimize != 0;
    o.allow_native_code = opts->struct_size >= offsetof(mf_load_options, allow_native_code) +
                                                   sizeof(opts->allow_native_code) &&
                          opts->allow_native_code != 0;
  }
  return o;
}

// The resize flag of segment options (default on), after checking the struct's version.
bool resize_option(const mf_segment_options* opts) {
  if (opts == nullptr) return true;
  require(opts->struct_size >= sizeof(mf_segment_options),
          "mf_segment_options.struct_size is " + std::to_string(opts->struct_size) +
              ": call mf_segment_options_init first");
  return opts->resize != 0;
}

}  // namespace
}  // namespace maskformer

using namespace maskformer;

extern "C" {

MF_API const char* mf_last_error(void) { return last_error[0] == '\0' ? nullptr : last_error; }

MF_API int32_t mf_abi_version(void) { return MF_ABI_VERSION; }

MF_API const char* mf_version(void) { return MF_SHIM_VERSION; }

MF_API const char* mf_libtorch_version(void) { return TORCH_VERSION; }

MF_API int32_t mf_cuda_compiled(void) {
  int32_t compiled = 0;
  guard([&] { compiled = at::hasCUDA() ? 1 : 0; });
  return compiled;
}

MF_API int32_t mf_cuda_device_count(void) {
  int32_t count = 0;
  guard([&] { count = torch::cuda::is_available() ? static_cast<int32_t>(torch::cuda::device_count()) : 0; });
  return count;
}

MF_API mf_status mf_libtorch_loaded(const char** out_version, const char** out_library) {
  return guard([&] {
    if (out_version != nullptr) *out_version = loaded_libtorch_version().c_str();
    if (out_library != nullptr) *out_library = loaded_libtorch_file().c_str();
  });
}

MF_API int32_t mf_cpu_features(void) { return cpu_features(); }

MF_API mf_status mf_cuda_memory(int32_t device, int64_t* out_free, int64_t* out_total) {
  return guard([&] { cuda_memory(device, out_free, out_total); });
}

MF_API mf_status mf_set_num_threads(int32_t n) {
  return guard([&] { set_threads(n); });
}

MF_API int32_t mf_max_threads(void) {
  int32_t n = 1;
  guard([&] { n = max_threads(); });
  return n;
}

MF_API int32_t mf_default_threads(void) {
  int32_t n = 1;
  guard([&] { n = default_threads(); });
  return n;
}

MF_API int32_t mf_get_num_threads(void) {
  int32_t n = 0;
  guard([&] { n = at::get_num_threads(); });
  return n;
}

MF_API mf_status mf_set_host_cache_limit(int64_t bytes) {
  return guard([&] {
    require(bytes >= 0 || bytes == MF_HOST_CACHE_AUTO,
            "cache limit must be >= 0 or MF_HOST_CACHE_AUTO (-1), got " + std::to_string(bytes));
    install_host_allocator();
    set_host_cache_limit(bytes);
  });
}

MF_API mf_status mf_host_cache_stats_init_sized(mf_host_cache_stats* stats, uint32_t size) {
  return guard([&] { init_sized(stats, size, zeroed<mf_host_cache_stats>(), "mf_host_cache_stats"); });
}

MF_API mf_status mf_host_cache_stats_get(mf_host_cache_stats* out) {
  return guard([&] {
    require(out != nullptr, "stats must not be NULL");
    require(out->struct_size >= sizeof(mf_host_cache_stats),
            "mf_host_cache_stats.struct_size is " + std::to_string(out->struct_size) +
                ": call mf_host_cache_stats_init first");
    const HostCacheStats s = host_cache_stats();
    out->automatic = s.automatic ? 1 : 0;
    out->limit = s.limit;
    out->cached_bytes = s.cached_bytes;
    out->cached_blocks = s.cached_blocks;
    out->hits = static_cast<int64_t>(s.hits);
    out->misses = static_cast<int64_t>(s.misses);
    out->evictions = static_cast<int64_t>(s.evictions);
    out->returned = static_cast<int64_t>(s.returned);
    out->in_use = s.in_use;
    out->peak_in_use = s.peak_in_use;
    out->largest_call = s.largest_call;
  });
}

MF_API int64_t mf_host_cache_bytes(void) { return host_cache_bytes(); }

MF_API mf_status mf_host_alloc(int64_t size, void** out_ptr, int32_t* out_pinned) {
  return guard([&] {
    require(out_ptr != nullptr, "out_ptr must not be NULL");
    *out_ptr = nullptr;
    bool pinned = false;
    *out_ptr = host_buffer_alloc(size, &pinned);
    ++live_handles;
    if (out_pinned != nullptr) *out_pinned = pinned ? 1 : 0;
  });
}

MF_API void mf_host_free(void* ptr) {
  guard([&] {
    if (ptr != nullptr && host_buffer_release(ptr)) --live_handles;
  });
}

MF_API mf_status mf_load_options_init_sized(mf_load_options* opts, uint32_t size) {
  return guard([&] { init_sized(opts, size, default_load_options(), "mf_load_options"); });
}


MF_API mf_status mf_model_load(const char* path, const mf_load_options* opts, mf_model** out_model) {
  return guard([&] {
    require(out_model != nullptr, "out_model must not be NULL");
    *out_model = nullptr;
    require(path != nullptr && path[0] != '\0', "path must be a non-empty string");
    const LoadOptions o = load_options(opts);
    auto model = std::make_unique<mf_model>();
    model->impl = Model::load(path, o);
    *out_model = model.release();
    ++live_handles;
  });
}

MF_API mf_status mf_model_load_memory(const void* data, int64_t size, const char* name,
                                      const mf_load_options* opts, mf_model** out_model) {
  return guard([&] {
    require(out_model != nullptr, "out_model must not be NULL");
    *out_model = nullptr;
    require(data != nullptr, "data must not be NULL");
    require(size > 0, "size must be > 0, got " + std::to_string(size));
    const LoadOptions o = load_options(opts);
    auto model = std::make_unique<mf_model>();
    model->impl = Model::load_memory(data, static_cast<size_t>(size),
                                     name != nullptr && name[0] != '\0' ? name : "<memory>", o);
    *out_model = model.release();
    ++live_handles;
  });
}

MF_API void mf_model_free(mf_model* model) {
  if (model == nullptr) return;
  guard([&] {
    delete model;
    --live_handles;
  });
}

MF_API mf_status mf_model_info_init_sized(mf_model_info* info, uint32_t size) {
  return guard([&] { init_sized(info, size, zeroed<mf_model_info>(), "mf_model_info"); });
}

MF_API mf_status mf_model_get_info(const mf_model* model, mf_model_info* out) {
  return guard([&] {
    const Model& m = model_of(model);
    require(out != nullptr, "out must not be NULL");
    require(out->struct_size >= sizeof(mf_model_info),
            "mf_model_info.struct_size is " + std::to_string(out->struct_size) +
                ": call mf_model_info_init first");
    const Metadata& meta = m.metadata();
    out->num_classes = meta.num_classes;
    out->num_queries = meta.num_queries;
    out->device = m.device().is_cpu() ? MF_DEVICE_CPU : m.device().index();
    out->precision = m.precision();
    out->resize_long = meta.resize_keep_ratio ? meta.resize_long : 0;
    out->resize_short = meta.resize_keep_ratio ? meta.resize_short : 0;
    out->format_version = meta.format_version;
    for (int i = 0; i < 3; ++i) {
      out->mean[i] = meta.mean[i];
      out->std[i] = meta.std[i];
    }
    out->variant = meta.variant.c_str();
  });
}

MF_API mf_status mf_model_format(const mf_model* model, int32_t* out_format) {
  return guard([&] {
    const Model& m = model_of(model);
    require(out_format != nullptr, "out_format must not be NULL");
    *out_format = std::strcmp(m.format(), "aoti") == 0 ? MF_FORMAT_AOTI : MF_FORMAT_TORCHSCRIPT;
  });
}

MF_API mf_status mf_model_metadata_json(const mf_model* model, const char** out_json, int64_t* out_length) {
  return guard([&] {
    const Model& m = model_of(model);
    require(out_json != nullptr, "out_json must not be NULL");
    *out_json = m.metadata().json.c_str();
    if (out_length != nullptr) *out_length = static_cast<int64_t>(m.metadata().json.size());
  });
}

MF_API mf_status mf_model_class_name(const mf_model* model, int32_t index, const char** out_name) {
  return guard([&] {
    const Model& m = model_of(model);
    require(out_name != nullptr, "out_name must not be NULL");
    require(index >= 0 && index < m.metadata().num_classes,
            "class index " + std::to_string(index) + " outside 0.." +
                std::to_string(m.metadata().num_classes - 1));
    *out_name = m.metadata().classes[static_cast<size_t>(index)].c_str();
  });
}

MF_API mf_status mf_model_palette(const mf_model* model, uint8_t* out_rgb, int64_t size) {
  return guard([&] {
    const Model& m = model_of(model);
    const int64_t need = 3 * int64_t(m.metadata().num_classes);
    require(out_rgb != nullptr, "out_rgb must not be NULL");
    require(size >= need, "palette needs " + std::to_string(need) + " bytes, got " + std::to_string(size));
    for (size_t i = 0; i < m.metadata().palette.size(); ++i)
      std::memcpy(out_rgb + 3 * i, m.metadata().palette[i].data(), 3);
  });
}

MF_API mf_status mf_model_input_size(const mf_model* model, int32_t width, int32_t height,
                                     int32_t* out_width, int32_t* out_height) {
  return guard([&] {
    const Model& m = model_of(model);
    require(out_width != nullptr && out_height != nullptr, "outputs must not be NULL");
    check_size(width, height, "size");
    auto hw = m.input_size(height, width, true);
    *out_height = hw.first;
    *out_width = hw.second;
  });
}

MF_API mf_status mf_segment_options_init_sized(mf_segment_options* opts, uint32_t size) {
  return guard([&] { init_sized(opts, size, default_segment_options(), "mf_segment_options"); });
}

MF_API mf_status mf_model_segment(mf_model* model, const mf_image* images, const mf_output* outputs,
                                  int32_t count, const mf_segment_options* opts) {
  return guard([&] {
    const Model& m = model_of(model);
    require(count >= 0, "count must be >= 0, got " + std::to_string(count));
    if (count == 0) return;
    require(images != nullptr && outputs != nullptr, "images and outputs must not be NULL");
    const bool resize = resize_option(opts);
    const int k = m.metadata().num_classes;
    std::vector<ImageView> views;
    std::vector<OutputView> outs;
    views.reserve(static_cast<size_t>(count));
    outs.reserve(static_cast<size_t>(count));
    for (int i = 0; i < count; ++i) {
      views.push_back(check_image(images[i], i));
      outs.push_back(check_output(outputs[i], views.back(), i, k));
    }
    m.segment(views, outs, resize);
  });
}

MF_API mf_status mf_model_segment_keepalive(mf_model* model, const mf_image* images,
                                            const mf_output* outputs, int32_t count,
                                            const mf_segment_options* opts, int32_t keep_count, ...) {
  (void)keep_count;  // the variadic arguments exist only for the caller's memory management
  return mf_model_segment(model, images, outputs, count, opts);
}

MF_API mf_status mf_image_to_rgb(const mf_image* image, uint8_t* out_rgb, int64_t out_size, int32_t keep_count,
                                 ...) {
  (void)keep_count;  // the variadic arguments exist only for the caller's memory management
  return guard([&] {
    require(image != nullptr, "image must not be NULL");
    const ImageView v = check_image(*image, 0);
    const int64_t need = int64_t(v.width) * v.height * 3;
    require(out_rgb != nullptr, "out_rgb must not be NULL");
    require(out_size >= need, "out_rgb needs " + std::to_string(need) + " bytes (" + std::to_string(v.width) + "x" +
                                  std::to_string(v.height) + "x3), got " + std::to_string(out_size));
    c10::InferenceMode inference;
    if (v.yuv) {
      yuv_to_rgb_rows(v, nullptr, v.height, out_rgb);
      return;
    }
    // packed: the channels in RGB order, row by row
    const int c = v.channels;
    const int r = v.bgr ? 2 : 0, b = v.bgr ? 0 : 2;
    for (int64_t y = 0; y < v.height; ++y) {
      const uint8_t* src = v.data + y * v.stride;
      uint8_t* dst = out_rgb + y * int64_t(v.width) * 3;
      for (int64_t x = 0; x < v.width; ++x) {
        dst[3 * x] = src[c * x + r];
        dst[3 * x + 1] = src[c * x + 1];
        dst[3 * x + 2] = src[c * x + b];
      }
    }
  });
}

MF_API mf_status mf_model_warmup(mf_model* model, const int32_t* sizes, int32_t count) {
  return guard([&] {
    const Model& m = model_of(model);
    require(count >= 0, "count must be >= 0");
    require(count == 0 || sizes != nullptr, "sizes must not be NULL");
    std::vector<std::pair<int, int>> hw;
    for (int i = 0; i < count; ++i) {
      const int w = sizes[2 * i], h = sizes[2 * i + 1];
      check_size(w, h, "warm-up size");
      hw.emplace_back(h, w);
    }
    m.warmup(hw);
  });
}

MF_API mf_status mf_model_benchmark_forward(const mf_model* model, int32_t width, int32_t height,
                                            int32_t batch, int32_t iters, double* out_ms) {
  return guard([&] {
    const Model& m = model_of(model);
    require(out_ms != nullptr, "out_ms must not be NULL");
    check_size(width, height, "size");
    require(batch >= 1 && batch <= 1024, "batch must be 1..1024, got " + std::to_string(batch));
    require(iters >= 1 && iters <= 100000, "iters must be 1..100000, got " + std::to_string(iters));
    const std::vector<double> ms = m.benchmark_forward(height, width, batch, iters);
    std::copy(ms.begin(), ms.end(), out_ms);
  });
}

MF_API mf_status mf_benchmark_matmul(int32_t device, mf_precision precision, int32_t n,
                                     int32_t iters, double* out_gflops) {
  return guard([&] {
    require(out_gflops != nullptr, "out_gflops must not be NULL");
    *out_gflops = matmul_gflops(device, precision, n, iters);
  });
}

MF_API int64_t mf_debug_live_handles(void) { return live_handles.load(); }

MF_API int64_t mf_debug_page_faults(void) {
  struct rusage usage {};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return -1;
  return static_cast<int64_t>(usage.ru_minflt);
}

}  // extern "C"

// ---- segments, inference rules and confidence (mf_model_segment_ext) ----------------------------

namespace maskformer {
namespace {

// A threshold of mf_inference_options: finite, in [0, 1].
void check_threshold(double value, const char* name) {
  require(value >= 0.0 && value <= 1.0,  // false for NaN
          std::string("mf_inference_options.") + name + " must be a number in [0, 1], got " +
              std::to_string(value));
}

InferenceRules check_rules(const mf_inference_options* o) {
  InferenceRules r;
  if (o == nullptr) return r;
  require(o->struct_size >= sizeof(mf_inference_options),
          "mf_inference_options.struct_size is " + std::to_string(o->struct_size) +
              ": call mf_inference_options_init first");
  require(o->semantic_rule == MF_SEMANTIC_PROBABILISTIC || o->semantic_rule == MF_SEMANTIC_ITERATIVE,
          "unknown semantic rule " + std::to_string(o->semantic_rule));
  require(o->merge_same_class == 0 || o->merge_same_class == 1,
          "merge_same_class must be 0 or 1, got " + std::to_string(o->merge_same_class));
  check_threshold(o->iterative_overlap, "iterative_overlap");
  check_threshold(o->object_threshold, "object_threshold");
  check_threshold(o->overlap_threshold, "overlap_threshold");
  r.iterative = o->semantic_rule == MF_SEMANTIC_ITERATIVE;
  r.iterative_overlap = o->iterative_overlap;
  r.object_threshold = o->object_threshold;
  r.overlap_threshold = o->overlap_threshold;
  r.merge_same_class = o->merge_same_class != 0;
  return r;
}

// bytes = pixels * element, overflow-checked (INVALID_ARGUMENT naming `what`)
int64_t frame_bytes(const ImageView& img, int64_t element, const std::string& what) {
  int64_t bytes = 0;
  require(!__builtin_mul_overflow(int64_t(img.width) * img.height, element, &bytes),
          what + " size overflows");
  return bytes;
}

ExtraView check_extra(mf_output_ext* e, const ImageView& img, int index) {
  ExtraView v;
  if (e == nullptr) return v;
  const std::string where = "extra output " + std::to_string(index) + ": ";
  require(e->struct_size >= sizeof(mf_output_ext),
          where + "struct_size is " + std::to_string(e->struct_size) + ": call mf_output_ext_init first");
  if (e->segment_ids != nullptr) {
    const int64_t need = frame_bytes(img, 4, where + "segment_ids");
    require(e->segment_ids_size >= need, where + "segment_ids need " + std::to_string(need) +
                                             " bytes, got " + std::to_string(e->segment_ids_size));
    require(reinterpret_cast<uintptr_t>(e->segment_ids) % 4 == 0, where + "segment_ids must be 4-byte aligned");
  }
  require(e->segments_capacity >= 0, where + "segments_capacity must be >= 0, got " +
                                         std::to_string(e->segments_capacity));
  require(e->segments != nullptr || e->segments_capacity == 0,
          where + "segments is NULL but segments_capacity is " + std::to_string(e->segments_capacity));
  if (e->segments != nullptr) {
    require(reinterpret_cast<uintptr_t>(e->segments) % alignof(mf_segment_info) == 0,
            where + "segments must be " + std::to_string(alignof(mf_segment_info)) + "-byte aligned");
    check_segment_info_size(e->segment_info_size, where.c_str());
  }
  if (e->confidence != nullptr) {
    require(e->confidence_type == MF_CONFIDENCE_U8 || e->confidence_type == MF_CONFIDENCE_F32,
            where + "unknown confidence type " + std::to_string(e->confidence_type));
    const bool u8 = e->confidence_type == MF_CONFIDENCE_U8;
    const int64_t need = frame_bytes(img, u8 ? 1 : 4, where + "confidence");
    require(e->confidence_size >= need, where + "confidence needs " + std::to_string(need) +
                                            " bytes, got " + std::to_string(e->confidence_size));
    if (!u8)
      require(reinterpret_cast<uintptr_t>(e->confidence) % 4 == 0, where + "float confidence must be 4-byte aligned");
    v.confidence_u8 = u8;
  }
  v.segment_ids = e->segment_ids;
  v.segment_ids_size = e->segment_ids_size;
  v.segments = e->segments;
  v.capacity = e->segments != nullptr ? e->segments_capacity : 0;
  v.segment_info_size = e->segment_info_size;
  v.count = &e->segments_count;
  v.confidence = e->confidence;
  v.confidence_size = e->confidence_size;
  return v;
}

}  // namespace
}  // namespace maskformer

extern "C" {

MF_API mf_status mf_inference_options_init_sized(mf_inference_options* opts, uint32_t size) {
  return guard([&] { init_sized(opts, size, default_inference_options(), "mf_inference_options"); });
}

static_assert(offsetof(mf_segment_info, y1) + sizeof(int32_t) == MF_SEGMENT_INFO_MIN_SIZE,
              "MF_SEGMENT_INFO_MIN_SIZE is the size of the first mf_segment_info layout");
static_assert(sizeof(mf_segment_info) >= MF_SEGMENT_INFO_MIN_SIZE, "mf_segment_info only grows");

MF_API mf_status mf_output_ext_init_sized(mf_output_ext* ext, uint32_t size, uint32_t segment_info_size) {
  return guard([&] {
    check_segment_info_size(segment_info_size, "mf_output_ext_init_sized: ");
    mf_output_ext defaults = default_output_ext();
    defaults.segment_info_size = segment_info_size;
    init_sized(ext, size, defaults, "mf_output_ext");
  });
}

MF_API mf_status mf_model_segment_ext(mf_model* model, const mf_image* images, const mf_output* outputs,
                                      mf_output_ext* const* extras, int32_t count,
                                      const mf_segment_options* opts, const mf_inference_options* rules,
                                      int32_t keep_count, ...) {
  (void)keep_count;  // the variadic arguments exist only for the caller's memory management
  return guard([&] {
    const Model& m = model_of(model);
    require(count >= 0, "count must be >= 0, got " + std::to_string(count));
    if (count == 0) return;
    require(images != nullptr && outputs != nullptr, "images and outputs must not be NULL");
    const bool resize = resize_option(opts);
    SegmentExtras ext;
    ext.rules = check_rules(rules);
    const int k = m.metadata().num_classes;
    std::vector<ImageView> views;
    std::vector<OutputView> outs;
    views.reserve(static_cast<size_t>(count));
    outs.reserve(static_cast<size_t>(count));
    ext.views.reserve(static_cast<size_t>(count));
    for (int i = 0; i < count; ++i) {
      views.push_back(check_image(images[i], i));
      outs.push_back(check_output(outputs[i], views.back(), i, k));
      ext.views.push_back(check_extra(extras != nullptr ? extras[i] : nullptr, views.back(), i));
    }
    for (int i = 0; i < count; ++i)
      if (extras != nullptr && extras[i] != nullptr) extras[i]->segments_count = 0;
    m.segment(views, outs, resize, &ext);
  });
}

}  // extern "C"

// ---- the ABI 1 init entry points, kept for binaries built against the ABI 1 header (where
// mf_X_init were functions). They write the ABI 1 sizes, frozen here, so a later struct that
// grows cannot overrun such a caller's. The header no longer declares them: its mf_X_init(p)
// macros pass the caller's sizeof to mf_X_init_sized. ------------------------------------------
namespace {
constexpr uint32_t kAbi1HostCacheStats = 88, kAbi1LoadOptions = 24, kAbi1ModelInfo = 88,
                   kAbi1SegmentOptions = 8, kAbi1InferenceOptions = 40, kAbi1OutputExt = 64,
                   kAbi1SegmentInfo = 40;
static_assert(sizeof(mf_host_cache_stats) == kAbi1HostCacheStats && sizeof(mf_load_options) == kAbi1LoadOptions &&
                  sizeof(mf_model_info) == kAbi1ModelInfo && sizeof(mf_segment_options) == kAbi1SegmentOptions &&
                  sizeof(mf_inference_options) == kAbi1InferenceOptions && sizeof(mf_output_ext) == kAbi1OutputExt &&
                  sizeof(mf_segment_info) == kAbi1SegmentInfo,
              "a struct grew: keep the kAbi1 sizes as they are (ABI 1 callers have them) and relax this check");
}  // namespace

extern "C" {
MF_API void(mf_host_cache_stats_init)(mf_host_cache_stats* p);
MF_API void(mf_load_options_init)(mf_load_options* p);
MF_API void(mf_model_info_init)(mf_model_info* p);
MF_API void(mf_segment_options_init)(mf_segment_options* p);
MF_API void(mf_inference_options_init)(mf_inference_options* p);
MF_API void(mf_output_ext_init)(mf_output_ext* p);

MF_API void(mf_host_cache_stats_init)(mf_host_cache_stats* p) { mf_host_cache_stats_init_sized(p, kAbi1HostCacheStats); }
MF_API void(mf_load_options_init)(mf_load_options* p) { mf_load_options_init_sized(p, kAbi1LoadOptions); }
MF_API void(mf_model_info_init)(mf_model_info* p) { mf_model_info_init_sized(p, kAbi1ModelInfo); }
MF_API void(mf_segment_options_init)(mf_segment_options* p) { mf_segment_options_init_sized(p, kAbi1SegmentOptions); }
MF_API void(mf_inference_options_init)(mf_inference_options* p) {
  mf_inference_options_init_sized(p, kAbi1InferenceOptions);
}
MF_API void(mf_output_ext_init)(mf_output_ext* p) { mf_output_ext_init_sized(p, kAbi1OutputExt, kAbi1SegmentInfo); }
}  // extern "C"
