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

#include "cpu_optimize.hpp"
#include "error.hpp"
#include "host_memory.hpp"
#include "maskformer.h"
#include "model.hpp"
#include "runtime.hpp"
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

// The short-struct rule (maskformer.h): the caller's struct_size of a T, a multiple of alignof(T)
// (so that the fields inside it are whole) from 4 to 65536, else INVALID_ARGUMENT.
constexpr uint32_t kMaxStructSize = 65536;
template <class T>
uint32_t struct_size_of(const void* p, const char* name) {
  uint32_t size = 0;
  std::memcpy(&size, p, sizeof size);
  // the message is made only for a failure: this runs for every image of every call
  if (size < sizeof(uint32_t) || size > kMaxStructSize || size % alignof(T) != 0)
    fail(MF_ERR_INVALID_ARGUMENT, std::string(name) + ".struct_size must be the struct's sizeof as the caller was "
                                      "compiled (mf_X_init sets it): a multiple of " + std::to_string(alignof(T)) +
                                      " up to " + std::to_string(kMaxStructSize) + ", got " + std::to_string(size));
  return size;
}

// A caller's struct of `size` bytes as this shim knows it: its first `size` bytes over `value`
// (the defaults), so fields past a shorter caller's struct keep their defaults.
template <class T>
T read_struct(const void* p, uint32_t size, T value) {
  std::memcpy(&value, p, std::min<size_t>(size, sizeof(T)));
  value.struct_size = size;
  return value;
}

// Writes the fields of `value` that fit in the caller's struct of `size` bytes.
template <class T>
void write_struct(void* p, uint32_t size, T value) {
  value.struct_size = size;
  std::memcpy(p, &value, std::min<size_t>(size, sizeof(T)));
}

// The defaults of a struct, from the header's own mf_X_init.
template <class T>
T defaults(void (*init)(T*)) {
  T value;
  init(&value);
  return value;
}

// Entry `index` of a caller's array of structs `stride` bytes apart (the first entry's
// struct_size), over the defaults; every entry must carry that struct_size.
template <class T>
T read_entry(const void* p, uint32_t stride, const std::string& where, void (*init)(T*)) {
  uint32_t size = 0;
  std::memcpy(&size, p, sizeof size);
  if (size != stride)
    fail(MF_ERR_INVALID_ARGUMENT, where + "struct_size " + std::to_string(size) + " differs from the first entry's " +
                                      std::to_string(stride) + " (entries lie struct_size apart)");
  return read_struct(p, size, defaults(init));
}

const Model& model_of(const mf_model* m) {
  require(m != nullptr && m->impl != nullptr, "model must not be NULL");
  return *m->impl;
}

// Image `index` of an array whose entries lie `stride` bytes apart.
ImageView check_image(const void* entry, uint32_t stride, int index) {
  const std::string where = "image " + std::to_string(index) + ": ";
  const mf_image img = read_entry(entry, stride, where, mf_image_init);
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

// bytes = pixels * element, overflow-checked (INVALID_ARGUMENT naming `what`)
int64_t frame_bytes(const ImageView& img, int64_t element, const std::string& what) {
  int64_t bytes = 0;
  require(!__builtin_mul_overflow(int64_t(img.width) * img.height, element, &bytes), what + " size overflows");
  return bytes;
}

// Output `index` of an array whose entries lie `stride` bytes apart, for image `img`.
OutputView check_output(void* entry, uint32_t stride, const ImageView& img, int index, int num_classes) {
  const std::string where = "output " + std::to_string(index) + ": ";
  const mf_output out = read_entry(entry, stride, where, mf_output_init);
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
  if (out.segment_ids != nullptr) {
    const int64_t need = frame_bytes(img, 4, where + "segment_ids");
    require(out.segment_ids_size >= need, where + "segment_ids need " + std::to_string(need) + " bytes, got " +
                                              std::to_string(out.segment_ids_size));
    require(reinterpret_cast<uintptr_t>(out.segment_ids) % 4 == 0, where + "segment_ids must be 4-byte aligned");
    v.segment_ids = out.segment_ids;
    v.segment_ids_size = out.segment_ids_size;
  }
  require(out.segments_capacity >= 0,
          where + "segments_capacity must be >= 0, got " + std::to_string(out.segments_capacity));
  require(out.segments != nullptr || out.segments_capacity == 0,
          where + "segments is NULL but segments_capacity is " + std::to_string(out.segments_capacity));
  if (out.segments != nullptr) {
    v.segments = out.segments;
    v.capacity = out.segments_capacity;
    // the entry size is the caller's, from its first entry (none to read without capacity)
    if (v.capacity > 0) v.segment_size = struct_size_of<mf_segment_info>(out.segments, (where + "segments[0]").c_str());
  }
  if (out.confidence != nullptr) {
    require(out.confidence_type == MF_CONFIDENCE_U8 || out.confidence_type == MF_CONFIDENCE_F32,
            where + "unknown confidence type " + std::to_string(out.confidence_type));
    const bool u8 = out.confidence_type == MF_CONFIDENCE_U8;
    const int64_t need = frame_bytes(img, u8 ? 1 : 4, where + "confidence");
    require(out.confidence_size >= need,
            where + "confidence needs " + std::to_string(need) + " bytes, got " + std::to_string(out.confidence_size));
    if (!u8)
      require(reinterpret_cast<uintptr_t>(out.confidence) % 4 == 0, where + "float confidence must be 4-byte aligned");
    v.confidence = out.confidence;
    v.confidence_size = out.confidence_size;
    v.confidence_u8 = u8;
  }
  return v;
}

// A threshold of mf_segment_options: finite, in [0, 1].
void check_threshold(double value, const char* name) {
  if (!(value >= 0.0 && value <= 1.0))  // true for NaN
    fail(MF_ERR_INVALID_ARGUMENT, std::string("mf_segment_options.") + name + " must be a number in [0, 1], got " +
                                      std::to_string(value));
}

// The options of a caller's struct (NULL: the defaults), checked.
SegmentOptions segment_options(const mf_segment_options* opts) {
  const mf_segment_options o =
      opts == nullptr ? defaults(mf_segment_options_init)
                      : read_struct(opts, struct_size_of<mf_segment_options>(opts, "mf_segment_options"), defaults(mf_segment_options_init));
  if (o.semantic_rule != MF_SEMANTIC_PROBABILISTIC && o.semantic_rule != MF_SEMANTIC_ITERATIVE)
    fail(MF_ERR_INVALID_ARGUMENT, "unknown semantic rule " + std::to_string(o.semantic_rule));
  if (o.merge_same_class != 0 && o.merge_same_class != 1)
    fail(MF_ERR_INVALID_ARGUMENT, "merge_same_class must be 0 or 1, got " + std::to_string(o.merge_same_class));
  check_threshold(o.iterative_overlap, "iterative_overlap");
  check_threshold(o.object_threshold, "object_threshold");
  check_threshold(o.overlap_threshold, "overlap_threshold");
  SegmentOptions r;
  r.resize = o.resize != 0;
  r.iterative = o.semantic_rule == MF_SEMANTIC_ITERATIVE;
  r.iterative_overlap = o.iterative_overlap;
  r.object_threshold = o.object_threshold;
  r.overlap_threshold = o.overlap_threshold;
  r.merge_same_class = o.merge_same_class != 0;
  return r;
}

// The load options of a caller's struct (NULL: the defaults).
LoadOptions load_options(const mf_load_options* opts) {
  const mf_load_options in =
      opts == nullptr ? defaults(mf_load_options_init)
                      : read_struct(opts, struct_size_of<mf_load_options>(opts, "mf_load_options"), defaults(mf_load_options_init));
  LoadOptions o;
  o.device = in.device;
  o.precision = in.precision;
  o.intra_op_threads = in.intra_op_threads;
  o.jit_optimize = in.jit_optimize != 0;
  o.allow_native_code = in.allow_native_code != 0;
  if (in.cpu_rewrites != MF_CPU_REWRITES_AT_LOAD && in.cpu_rewrites != MF_CPU_REWRITES_NONE &&
      in.cpu_rewrites != MF_CPU_REWRITES_IN_BACKGROUND)
    fail(MF_ERR_INVALID_ARGUMENT, "cpu_rewrites must be MF_CPU_REWRITES_AT_LOAD (0), MF_CPU_REWRITES_NONE (1) or "
                                  "MF_CPU_REWRITES_IN_BACKGROUND (2), got " +
                                      std::to_string(in.cpu_rewrites));
  o.cpu_rewrites = in.cpu_rewrites;
  return o;
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

MF_API mf_status mf_host_cache_stats_get(mf_host_cache_stats* out) {
  return guard([&] {
    require(out != nullptr, "stats must not be NULL");
    const uint32_t size = struct_size_of<mf_host_cache_stats>(out, "mf_host_cache_stats");
    const HostCacheStats s = host_cache_stats();
    mf_host_cache_stats o = defaults(mf_host_cache_stats_init);
    o.automatic = s.automatic ? 1 : 0;
    o.limit = s.limit;
    o.cached_bytes = s.cached_bytes;
    o.cached_blocks = s.cached_blocks;
    o.hits = static_cast<int64_t>(s.hits);
    o.misses = static_cast<int64_t>(s.misses);
    o.evictions = static_cast<int64_t>(s.evictions);
    o.returned = static_cast<int64_t>(s.returned);
    o.in_use = s.in_use;
    o.peak_in_use = s.peak_in_use;
    o.largest_call = s.largest_call;
    write_struct(out, size, o);
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

MF_API mf_status mf_model_get_info(const mf_model* model, mf_model_info* out) {
  return guard([&] {
    const Model& m = model_of(model);
    require(out != nullptr, "out must not be NULL");
    const uint32_t size = struct_size_of<mf_model_info>(out, "mf_model_info");
    const Metadata& meta = m.metadata();
    mf_model_info o = defaults(mf_model_info_init);
    o.num_classes = meta.num_classes;
    o.num_queries = meta.num_queries;
    o.device = m.device().is_cpu() ? MF_DEVICE_CPU : m.device().index();
    o.precision = m.precision();
    o.resize_long = meta.resize_keep_ratio ? meta.resize_long : 0;
    o.resize_short = meta.resize_keep_ratio ? meta.resize_short : 0;
    o.format_version = meta.format_version;
    for (int i = 0; i < 3; ++i) {
      o.mean[i] = meta.mean[i];
      o.std[i] = meta.std[i];
    }
    o.variant = meta.variant.c_str();
    o.cpu_rewrites = m.optimizations().c_str();
    write_struct(out, size, o);
  });
}

MF_API mf_status mf_model_await_cpu_rewrites(const mf_model* model) {
  return guard([&] { model_of(model).await_optimizations(); });
}

MF_API void mf_stop_cpu_rewrites(void) {
  guard([&] { stop_background_rewrites(); });
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

MF_API mf_status mf_model_segment(mf_model* model, const mf_image* images, mf_output* outputs, int32_t count,
                                  const mf_segment_options* opts, int32_t keep_count, ...) {
  (void)keep_count;  // the variadic arguments exist only for the caller's memory management
  return guard([&] {
    const Model& m = model_of(model);
    require(count >= 0, "count must be >= 0, got " + std::to_string(count));
    if (count == 0) return;
    require(images != nullptr && outputs != nullptr, "images and outputs must not be NULL");
    const SegmentOptions options = segment_options(opts);
    // entries lie struct_size apart, the first entry's (the short-struct rule)
    const uint32_t image_size = struct_size_of<mf_image>(images, "images[0]");
    const uint32_t output_size = struct_size_of<mf_output>(outputs, "outputs[0]");
    const auto* image_bytes = reinterpret_cast<const unsigned char*>(images);
    auto* output_bytes = reinterpret_cast<unsigned char*>(outputs);
    const int k = m.metadata().num_classes;
    std::vector<ImageView> views;
    std::vector<OutputView> outs;
    std::vector<int32_t> counts(static_cast<size_t>(count), 0);
    views.reserve(static_cast<size_t>(count));
    outs.reserve(static_cast<size_t>(count));
    for (int i = 0; i < count; ++i) {
      views.push_back(check_image(image_bytes + size_t(i) * image_size, image_size, i));
      outs.push_back(check_output(output_bytes + size_t(i) * output_size, output_size, views.back(), i, k));
      outs.back().count = &counts[size_t(i)];
    }
    m.segment(views, outs, options);
    constexpr size_t count_at = offsetof(mf_output, segments_count);
    if (output_size >= count_at + sizeof(int32_t))
      for (int i = 0; i < count; ++i)
        std::memcpy(output_bytes + size_t(i) * output_size + count_at, &counts[size_t(i)], sizeof(int32_t));
  });
}

MF_API mf_status mf_image_to_rgb(const mf_image* image, uint8_t* out_rgb, int64_t out_size, int32_t keep_count,
                                 ...) {
  (void)keep_count;  // the variadic arguments exist only for the caller's memory management
  return guard([&] {
    require(image != nullptr, "image must not be NULL");
    const ImageView v = check_image(image, struct_size_of<mf_image>(image, "image"), 0);
    const int64_t need = int64_t(v.width) * v.height * 3;
    require(out_rgb != nullptr, "out_rgb must not be NULL");
    require(out_size >= need, "out_rgb needs " + std::to_string(need) + " bytes (" + std::to_string(v.width) + "x" +
                                  std::to_string(v.height) + "x3), got " + std::to_string(out_size));
    c10::InferenceMode inference;
    if (v.yuv) {
      apply_default_threads();  // its rows run on the intra-op threads: the library's count, as for models
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

