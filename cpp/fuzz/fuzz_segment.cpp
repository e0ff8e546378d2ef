// SPDX-License-Identifier: Apache-2.0
// Fuzz target: everything a caller passes to a loaded model. The input picks one call (segment
// with its further outputs and inference rule, warmup, input_size, the getters, benchmark_forward,
// or model loading with its option struct; image_to_rgb) and its arguments: image sizes, strides,
// pixel formats (YUV with each chroma plane's pointer, size and stride, matrix and range), byte
// counts, batch counts, label types, output sizes, alignment, option structs, NULL pointers, and
// struct sizes (the short-struct rule: arrays of images and outputs laid out at the chosen
// struct_size, shorter or longer than this header's, and segment arrays of any entry size). For
// YUV images that mf_image_to_rgb converts, the tensor conversion that GPUs run must give the
// same bytes.
//
// Every pointer passed points at exactly as many bytes as the size next to it claims (the
// buffers are allocated at that size), so a check in the shim that lets a too-small buffer through
// shows up as an ASan overflow. A call that succeeds must have written labels in 0..K-1.
// Valid images are kept small (sides up to 40 pixels, or one side up to 3000 for thin strips) so
// that the forward passes stay quick.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include <torch/script.h>

#include "fuzz_common.hpp"
#include "image.hpp"
#include "yuv.hpp"

using mf_fuzz::check_status;
using mf_fuzz::contract;

namespace {

mf_model* models[2] = {nullptr, nullptr};  // tiny.pt (K = 150), tiny-k300.pt (K = 300)
int32_t num_classes[2] = {0, 0};
int32_t num_queries[2] = {0, 0};

// A buffer of exactly `size` bytes (ASan's redzone starts right after it), `offset` bytes past
// malloc's 16-byte alignment, for the alignment checks.
class Buffer {
 public:
  Buffer(int64_t size, int offset) : size_(size) {
    raw_ = static_cast<uint8_t*>(std::malloc(size_t(size + offset)));
    if (raw_ == nullptr && size + offset > 0) std::abort();
    data_ = raw_ + offset;
  }
  ~Buffer() { std::free(raw_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  uint8_t* data() const { return data_; }
  int64_t size() const { return size_; }

 private:
  uint8_t* raw_ = nullptr;
  uint8_t* data_ = nullptr;
  int64_t size_ = 0;
};

// Largest buffer the fuzzer allocates; a claim above it is replaced by an honest smaller one.
constexpr int64_t kMaxBuffer = int64_t(8) << 20;

int32_t side(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 15)) {
    case 0: return in.ConsumeIntegral<int32_t>();
    case 1: return in.PickValueInArray<int32_t>({0, -1, INT32_MIN, INT32_MAX, MF_MAX_IMAGE_SIDE,
                                                  MF_MAX_IMAGE_SIDE + 1, 65536});
    case 2: return in.ConsumeIntegralInRange<int32_t>(41, 3000);  // long thin images with a 1..40 side
    default: return in.ConsumeIntegralInRange<int32_t>(1, 40);
  }
}

// A size claim near `need`: exact, a little short, a little over, or anything.
int64_t claim(FuzzedDataProvider& in, int64_t need) {
  switch (in.ConsumeIntegralInRange<int>(0, 7)) {
    case 0: return need > INT64_MIN + 8 ? need - in.ConsumeIntegralInRange<int64_t>(1, 8) : need;
    case 1: return need < INT64_MAX - 64 ? need + in.ConsumeIntegralInRange<int64_t>(1, 64) : need;
    case 2: return in.ConsumeIntegral<int64_t>();
    case 3: return in.PickValueInArray<int64_t>({0, -1, INT64_MIN, INT64_MAX});
    default: return need;
  }
}

// Memory for a claim of `size` bytes: exactly that many, or (for a claim the fuzzer will not
// allocate) a smaller honest claim. Negative claims are passed with a 1-byte buffer.
std::unique_ptr<Buffer> allocate(int64_t& size, int offset) {
  if (size > kMaxBuffer) size = kMaxBuffer / 2 + (size & 1023);
  return std::make_unique<Buffer>(size < 0 ? 1 : size, offset);
}

int64_t saturating_mul(int64_t a, int64_t b) {
  int64_t r = 0;
  return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}

struct ImageCase {
  std::unique_ptr<Buffer> pixels, chroma[2], labels, scores, ids, segments, confidence;
  mf_image image{};
  mf_output output{};
  int64_t segments_bytes = 0;  // of the segments buffer: capacity x entry size
};

// A struct_size for a T: this header's, a newer header's (larger), an older one's (shorter,
// whole fields), or one the shim must refuse.
template <class T>
uint32_t struct_size(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 15)) {
    case 0: return uint32_t(sizeof(T)) + uint32_t(alignof(T)) * in.ConsumeIntegralInRange<uint32_t>(1, 8);
    case 1: return uint32_t(alignof(T)) * in.ConsumeIntegralInRange<uint32_t>(1, sizeof(T) / alignof(T));
    case 2: return in.PickValueInArray<uint32_t>({0, 3, 12, 65537, 65544, UINT32_MAX});
    default: return uint32_t(sizeof(T));
  }
}

// An array of `entries` laid out `stride` bytes apart, as a caller with that sizeof would pass
// it: each entry's first bytes (what fits), 0xEE past this header's struct (a newer header's
// fields). At least 4 bytes, the first entry's struct_size. Entry i carries `sizes[i]`.
template <class T>
std::unique_ptr<Buffer> pack(const std::vector<T>& entries, uint32_t stride, const std::vector<uint32_t>& sizes) {
  // a refused stride: only the first struct_size is read
  const bool valid = stride >= 4 && stride <= 65536 && stride % alignof(T) == 0;
  const int64_t bytes = std::max<int64_t>(4, valid ? int64_t(entries.size()) * stride : 4);
  auto b = std::make_unique<Buffer>(bytes, 0);
  std::memset(b->data(), 0xEE, size_t(bytes));
  for (size_t i = 0; i < entries.size() && (valid || i == 0); ++i) {
    T e = entries[i];
    e.struct_size = sizes[i];
    std::memcpy(b->data() + i * (valid ? stride : 0), &e, valid ? std::min<size_t>(stride, sizeof(T)) : 4);
  }
  return b;
}

// A stride for rows of `row` bytes: exact, a little short or long, anything, or extreme.
int64_t stride_for(FuzzedDataProvider& in, int64_t row) {
  switch (in.ConsumeIntegralInRange<int>(0, 7)) {
    case 0: return row > INT64_MIN + 4 ? row - in.ConsumeIntegralInRange<int64_t>(1, 4) : row;
    case 1: return in.ConsumeIntegral<int64_t>();
    case 2: return in.PickValueInArray<int64_t>({0, -1, INT64_MIN, INT64_MAX, INT64_MAX / 2});
    case 3: return row < INT64_MAX - 100 ? row + in.ConsumeIntegralInRange<int64_t>(1, 100) : row;
    default: return row;
  }
}

// Bytes that `rows` rows of `row` bytes, `stride` apart, span (INT64_MAX when that overflows).
int64_t span_of(int64_t rows, int64_t stride, int64_t row) {
  int64_t need = 0;
  if (__builtin_mul_overflow(rows - 1, stride, &need) || __builtin_add_overflow(need, row, &need)) return INT64_MAX;
  return need;
}

// A buffer of exactly the claimed size, filled from the input (or a fixed pattern).
std::unique_ptr<Buffer> filled(FuzzedDataProvider& in, int64_t& size) {
  auto b = allocate(size, in.ConsumeIntegralInRange<int>(0, 3));
  if (size > 0) {
    const std::vector<uint8_t> fill = in.ConsumeBytes<uint8_t>(64);
    for (int64_t i = 0; i < size; ++i) b->data()[i] = fill.empty() ? uint8_t(i * 131) : fill[size_t(i) % fill.size()];
  }
  return b;
}

bool is_yuv(int32_t format) { return format == MF_PIXEL_NV12 || format == MF_PIXEL_I420 || format == MF_PIXEL_NV21; }

void make_image(FuzzedDataProvider& in, int32_t k, ImageCase& c) {
  mf_image& img = c.image;
  mf_image_init(&img);
  img.format = in.ConsumeIntegralInRange<int>(0, 9) == 0 ? in.ConsumeIntegral<int32_t>()
                                                         : in.ConsumeIntegralInRange<int32_t>(0, 6);
  img.width = side(in);
  img.height = side(in);
  const bool yuv = is_yuv(img.format);
  const int64_t channels = yuv ? 1 : img.format == MF_PIXEL_RGBA || img.format == MF_PIXEL_BGRA ? 4 : 3;
  const int64_t row = saturating_mul(img.width, channels);
  img.stride = stride_for(in, row);
  img.data_size = claim(in, span_of(img.height, img.stride, row));
  c.pixels = filled(in, img.data_size);
  img.data = c.pixels->data();
  if (in.ConsumeIntegralInRange<int>(0, 31) == 0) img.data = nullptr;
  if (yuv) {
    // the chroma planes: ceil(w/2) x ceil(h/2) samples, interleaved pairs for NV12/NV21, each
    // plane in its own exactly sized buffer so that any read past a claim is an ASan error
    img.matrix = in.ConsumeIntegralInRange<int>(0, 15) == 0 ? in.ConsumeIntegral<int32_t>()
                                                             : in.ConsumeIntegralInRange<int32_t>(0, 2);
    img.range = in.ConsumeIntegralInRange<int>(0, 15) == 0 ? in.ConsumeIntegral<int32_t>()
                                                            : in.ConsumeIntegralInRange<int32_t>(0, 1);
    const int64_t cw = img.width >= 0 ? (int64_t(img.width) + 1) / 2 : int64_t(img.width) / 2;
    const int64_t ch = img.height >= 0 ? (int64_t(img.height) + 1) / 2 : int64_t(img.height) / 2;
    const int64_t crow = img.format == MF_PIXEL_I420 ? cw : saturating_mul(cw, 2);
    int planes = img.format == MF_PIXEL_I420 ? 2 : 1;
    if (in.ConsumeIntegralInRange<int>(0, 15) == 0) planes = 3 - planes;  // one too few or too many
    for (int i = 0; i < planes; ++i) {
      mf_plane& p = img.chroma[i];
      p.stride = stride_for(in, crow);
      p.size = claim(in, span_of(ch, p.stride, crow));
      c.chroma[i] = filled(in, p.size);
      p.data = c.chroma[i]->data();
      if (in.ConsumeIntegralInRange<int>(0, 31) == 0) p.data = nullptr;
    }
  }

  mf_output& out = c.output;
  mf_output_init(&out);
  out.label_type = in.ConsumeIntegralInRange<int>(0, 15) == 0 ? in.ConsumeIntegral<int32_t>()
                                                              : in.ConsumeIntegralInRange<int32_t>(0, 1);
  const int64_t pixels = saturating_mul(img.width, img.height);
  out.labels_size = claim(in, saturating_mul(pixels, out.label_type == MF_LABEL_U8 ? 1 : 4));
  c.labels = allocate(out.labels_size, in.ConsumeIntegralInRange<int>(0, 7) == 0 ? 2 : 0);
  out.labels = c.labels->data();
  if (out.labels_size > 0) std::memset(out.labels, 0xA5, size_t(out.labels_size));
  if (in.ConsumeIntegralInRange<int>(0, 31) == 0) out.labels = nullptr;
  if (in.ConsumeIntegralInRange<int>(0, 3) == 0) {
    out.scores_size = claim(in, saturating_mul(saturating_mul(pixels, k), 4));
    c.scores = allocate(out.scores_size, in.ConsumeIntegralInRange<int>(0, 7) == 0 ? 1 : 0);
    out.scores = reinterpret_cast<float*>(c.scores->data());
  } else {
    out.scores = nullptr;
    out.scores_size = in.ConsumeIntegralInRange<int>(0, 3) == 0 ? in.ConsumeIntegral<int64_t>() : 0;
  }
}

// Labels of a successful call, as the output struct of `size` bytes gave them to the shim.
void check_labels(const ImageCase& c, int32_t k, uint32_t size) {
  if (size < offsetof(mf_output, labels_size)) return;  // no labels: the call cannot succeed
  const int64_t n = int64_t(c.image.width) * c.image.height;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = c.output.label_type == MF_LABEL_U8
                              ? static_cast<const uint8_t*>(c.output.labels)[i]
                              : static_cast<const int32_t*>(c.output.labels)[i];
    if (label < 0 || label >= k) contract("mf_model_segment", "succeeded with a label outside 0..K-1");
  }
}

// The further results of one image: the segment-id map, the segment array (capacity entries of
// the entry size in its first entry's struct_size, allocated at exactly that size) and the
// confidence map.
void make_further(FuzzedDataProvider& in, int32_t queries, ImageCase& c) {
  mf_output& e = c.output;
  const int64_t pixels = saturating_mul(c.image.width, c.image.height);
  if (in.ConsumeBool()) {
    e.segment_ids_size = claim(in, saturating_mul(pixels, 4));
    c.ids = allocate(e.segment_ids_size, in.ConsumeIntegralInRange<int>(0, 7) == 0 ? 2 : 0);
    e.segment_ids = reinterpret_cast<int32_t*>(c.ids->data());
    if (e.segment_ids_size > 0) std::memset(e.segment_ids, 0xA5, size_t(e.segment_ids_size));  // < 0: unwritten
  }
  if (in.ConsumeBool()) {
    switch (in.ConsumeIntegralInRange<int>(0, 7)) {
      case 0: e.segments_capacity = in.ConsumeIntegral<int32_t>(); break;
      case 1: e.segments_capacity = in.ConsumeIntegralInRange<int32_t>(0, queries); break;
      default: e.segments_capacity = queries;
    }
    uint32_t entry = struct_size<mf_segment_info>(in);
    if (entry > 4104 && entry <= 65536) entry = uint32_t(sizeof(mf_segment_info));  // valid but large: kept small
    // exactly capacity x entry size bytes, so a write past the caller's array is an ASan error
    const int64_t cap = e.segments_capacity > 0 ? std::min<int64_t>(e.segments_capacity, 4096) : 0;
    if (cap != e.segments_capacity && e.segments_capacity > 0) e.segments_capacity = int32_t(cap);
    c.segments_bytes = cap * int64_t(std::min<uint32_t>(entry, 8192));
    int64_t bytes = std::max<int64_t>(c.segments_bytes, cap > 0 ? 4 : 0);
    c.segments = allocate(bytes, in.ConsumeIntegralInRange<int>(0, 15) == 0 ? 4 : 0);
    e.segments = reinterpret_cast<mf_segment_info*>(c.segments->data());
    if (bytes > 0) std::memset(e.segments, 0x5A, size_t(bytes));
    if (bytes >= 4) std::memcpy(e.segments, &entry, sizeof entry);
  }
  if (in.ConsumeIntegralInRange<int>(0, 2) == 0) {
    e.confidence_type = in.ConsumeIntegralInRange<int>(0, 15) == 0 ? in.ConsumeIntegral<int32_t>()
                                                                   : in.ConsumeIntegralInRange<int32_t>(0, 1);
    e.confidence_size = claim(in, saturating_mul(pixels, e.confidence_type == MF_CONFIDENCE_U8 ? 1 : 4));
    c.confidence = allocate(e.confidence_size, in.ConsumeIntegralInRange<int>(0, 7) == 0 ? 1 : 0);
    e.confidence = c.confidence->data();
  }
}

// After a successful call whose output struct was `size` bytes and reported `count` segments:
// ids 1..n in order, classes in 0..K-1, areas and boxes inside the image, and the id map only
// names listed segments.
void check_further(const ImageCase& c, uint32_t size, int32_t count, int32_t k, int32_t queries) {
  const mf_output& e = c.output;
  if (size < sizeof(mf_output)) return;  // the shim read (and wrote) only part of these fields
  if (count < 0 || count > queries) contract("mf_model_segment", "segments_count outside 0..num_queries");
  const int32_t written = e.segments == nullptr ? 0 : std::min(count, e.segments_capacity);
  uint32_t entry = 0;
  if (written > 0) std::memcpy(&entry, e.segments, sizeof entry);
  for (int32_t i = 0; i < written; ++i) {
    mf_segment_info s{};
    std::memcpy(&s, reinterpret_cast<const uint8_t*>(e.segments) + int64_t(i) * entry, std::min<size_t>(sizeof s, entry));
    if (entry < sizeof s) continue;  // fields past the caller's entry were not written
    if (s.struct_size != entry || s.id != i + 1 || s.class_index < 0 || s.class_index >= k || s.area < 1 ||
        s.area > int64_t(c.image.width) * c.image.height || s.x0 < 0 || s.y0 < 0 || s.x1 > c.image.width ||
        s.y1 > c.image.height || s.x0 >= s.x1 || s.y0 >= s.y1)
      contract("mf_model_segment", "wrote a segment entry out of range");
  }
  if (e.segment_ids != nullptr) {
    const int64_t n = int64_t(c.image.width) * c.image.height;
    for (int64_t i = 0; i < n; ++i)
      if (e.segment_ids[i] < 0 || e.segment_ids[i] > count)
        contract("mf_model_segment", "segment id map names no listed segment");
  }
}

void segment(FuzzedDataProvider& in, mf_model* model, int32_t k, int32_t queries) {
  // batch count: usually the number of descriptors given, sometimes fewer or negative
  const int n = in.ConsumeIntegralInRange<int>(0, 3);
  std::vector<ImageCase> cases(static_cast<size_t>(n));
  std::vector<mf_image> images;
  std::vector<mf_output> outputs;
  for (auto& c : cases) {
    make_image(in, k, c);
    if (in.ConsumeIntegralInRange<int>(0, 2) == 0) make_further(in, queries, c);
    images.push_back(c.image);
    outputs.push_back(c.output);
  }
  int32_t count = n;
  switch (in.ConsumeIntegralInRange<int>(0, 9)) {
    case 0: count = in.PickValueInArray<int32_t>({-1, INT32_MIN}); break;
    case 1: count = n > 0 ? in.ConsumeIntegralInRange<int32_t>(0, n - 1) : 0; break;
    default: break;
  }
  // the arrays at a struct size of the fuzzer's choice; rarely a later entry's differs
  const uint32_t image_size = struct_size<mf_image>(in), output_size = struct_size<mf_output>(in);
  std::vector<uint32_t> image_sizes(size_t(n), image_size), output_sizes(size_t(n), output_size);
  if (n > 1 && in.ConsumeIntegralInRange<int>(0, 15) == 0) image_sizes[1] = struct_size<mf_image>(in);
  if (n > 1 && in.ConsumeIntegralInRange<int>(0, 15) == 0) output_sizes[1] = struct_size<mf_output>(in);
  const auto packed_images = pack(images, image_size, image_sizes);
  const auto packed_outputs = pack(outputs, output_size, output_sizes);
  const mf_image* image_arg = images.empty() || in.ConsumeIntegralInRange<int>(0, 31) == 0
                                  ? nullptr
                                  : reinterpret_cast<const mf_image*>(packed_images->data());
  mf_output* output_arg = outputs.empty() || in.ConsumeIntegralInRange<int>(0, 31) == 0
                              ? nullptr
                              : reinterpret_cast<mf_output*>(packed_outputs->data());
  mf_segment_options opts;
  mf_segment_options_init(&opts);
  const mf_segment_options* opts_arg = &opts;
  switch (in.ConsumeIntegralInRange<int>(0, 11)) {
    case 0: opts_arg = nullptr; break;
    case 1: opts.struct_size = struct_size<mf_segment_options>(in); break;
    case 2: opts.resize = in.ConsumeIntegral<int32_t>(); break;
    case 3: opts.semantic_rule = in.ConsumeIntegral<int32_t>(); break;
    case 4: {
      const double odd[] = {-0.1, 1.5, __builtin_nan(""), __builtin_inf(), -0.0, 1.0, 0.0};
      opts.object_threshold = odd[in.ConsumeIntegralInRange<int>(0, 6)];
      opts.overlap_threshold = odd[in.ConsumeIntegralInRange<int>(0, 6)];
      opts.iterative_overlap = odd[in.ConsumeIntegralInRange<int>(0, 6)];
      break;
    }
    case 5:
    case 6:  // valid: low thresholds, so that the tiny random models make segments
      opts.resize = in.ConsumeBool() ? 1 : 0;
      opts.semantic_rule = in.ConsumeIntegralInRange<int32_t>(0, 1);
      // the tiny models' class probabilities are near 1/K: only thresholds near 0 keep queries
      opts.object_threshold = in.ConsumeBool() ? 0.0 : in.ConsumeProbability<double>() * 0.3;
      opts.overlap_threshold = in.ConsumeBool() ? 0.0 : in.ConsumeProbability<double>();
      opts.iterative_overlap = in.ConsumeProbability<double>();
      opts.merge_same_class = in.ConsumeBool() ? 1 : in.ConsumeIntegral<int32_t>();
      break;
    default: opts.resize = in.ConsumeBool() ? 1 : 0;
  }
  // the keep-alive arguments are never read: any number of them, any values
  const mf_status status =
      in.ConsumeBool() ? mf_model_segment(model, image_arg, output_arg, count, opts_arg, 0)
                       : mf_model_segment(model, image_arg, output_arg, count, opts_arg, 2, image_arg, output_arg);
  check_status(status, "mf_model_segment");
  if (status != MF_OK) return;
  for (int32_t i = 0; i < count; ++i) {
    check_labels(cases[size_t(i)], k, output_size);
    int32_t found = 0;
    if (output_size >= offsetof(mf_output, segments_count) + sizeof found)
      std::memcpy(&found, packed_outputs->data() + size_t(i) * output_size + offsetof(mf_output, segments_count),
                  sizeof found);
    check_further(cases[size_t(i)], output_size, found, k, queries);
  }
}

// mf_image_to_rgb on a fuzzed image; for a YUV image it converted, the tensor version (the one GPUs
// run) must give the same bytes on the CPU, from the same planes.
void to_rgb(FuzzedDataProvider& in) {
  ImageCase c;
  make_image(in, 150, c);
  // a single struct: any struct_size is safe to pass (the shim reads at most its own sizeof)
  if (in.ConsumeIntegralInRange<int>(0, 15) == 0) c.image.struct_size = struct_size<mf_image>(in);
  const mf_image& img = c.image;
  int64_t size = claim(in, saturating_mul(saturating_mul(img.width, img.height), 3));
  auto out = allocate(size, 0);
  const mf_status st = mf_image_to_rgb(&img, in.ConsumeIntegralInRange<int>(0, 31) == 0 ? nullptr : out->data(), size, 0);
  check_status(st, "mf_image_to_rgb");
  if (st != MF_OK || !is_yuv(img.format)) return;
  maskformer::ImageView v;
  v.data = img.data;
  v.data_size = img.data_size;
  v.width = img.width;
  v.height = img.height;
  v.stride = img.stride;
  v.channels = 1;
  v.yuv = true;
  v.matrix = img.matrix;
  v.full_range = img.range == MF_YUV_FULL;
  const bool i420 = img.format == MF_PIXEL_I420;
  v.chroma_buffers = i420 ? 2 : 1;
  for (int i = 0; i < v.chroma_buffers; ++i) {
    v.chroma_data[i] = img.chroma[i].data;
    v.chroma_span[i] = span_of((img.height + 1) / 2, img.chroma[i].stride,
                               (i420 ? 1 : 2) * ((int64_t(img.width) + 1) / 2));
  }
  v.u = i420 ? img.chroma[0].data : img.chroma[0].data + (img.format == MF_PIXEL_NV12 ? 0 : 1);
  v.v = i420 ? img.chroma[1].data : img.chroma[0].data + (img.format == MF_PIXEL_NV12 ? 1 : 0);
  v.u_stride = img.chroma[0].stride;
  v.v_stride = i420 ? img.chroma[1].stride : img.chroma[0].stride;
  v.chroma_step = i420 ? 1 : 2;
  c10::InferenceMode inference;
  const std::vector<at::Tensor> planes = maskformer::yuv_planes_to_device(v, at::Device(at::kCPU));
  const at::Tensor rgb =
      maskformer::yuv_to_rgb_tensor(planes[0], planes[1], planes[2], v.matrix, v.full_range).contiguous();
  if (rgb.numel() != int64_t(img.width) * img.height * 3 ||
      std::memcmp(rgb.data_ptr<uint8_t>(), out->data(), size_t(rgb.numel())) != 0)
    contract("yuv_to_rgb_tensor", "differs from mf_image_to_rgb (the CPU kernel) on the same planes");
}

void other_calls(FuzzedDataProvider& in, mf_model* model, int32_t k, int which) {
  switch (which) {
    case 0: {  // input_size
      int32_t nw = -1, nh = -1;
      const bool null_out = in.ConsumeIntegralInRange<int>(0, 15) == 0;
      const int32_t w = side(in), h = side(in);
      const mf_status st = mf_model_input_size(model, w, h, null_out ? nullptr : &nw, &nh);
      check_status(st, "mf_model_input_size");
      if (st == MF_OK && (nw < 1 || nh < 1 || nw > MF_MAX_IMAGE_SIDE || nh > MF_MAX_IMAGE_SIDE))
        contract("mf_model_input_size", "gave a size outside 1..MF_MAX_IMAGE_SIDE");
      break;
    }
    case 1: {  // warmup: at most two small sizes run; others must be refused
      const int n = in.ConsumeIntegralInRange<int>(0, 2);
      std::vector<int32_t> sizes;
      // a valid side above 3000 would make the shim allocate a zero image of up to 7 GB
      for (int i = 0; i < 2 * n; ++i) {
        const int32_t v = side(in);
        sizes.push_back(v > 3000 && v <= MF_MAX_IMAGE_SIDE ? 1 + v % 40 : v);
      }
      int32_t count = n;
      if (in.ConsumeIntegralInRange<int>(0, 7) == 0) count = in.PickValueInArray<int32_t>({-1, INT32_MIN});
      const int32_t* arg = sizes.empty() || in.ConsumeIntegralInRange<int>(0, 15) == 0 ? nullptr : sizes.data();
      check_status(mf_model_warmup(model, arg, count), "mf_model_warmup");
      break;
    }
    case 2: {  // getters with their size and index arguments
      mf_model_info info;
      mf_model_info_init(&info);
      if (in.ConsumeBool()) info.struct_size = in.ConsumeIntegral<uint32_t>();
      check_status(mf_model_get_info(model, in.ConsumeIntegralInRange<int>(0, 15) == 0 ? nullptr : &info),
                   "mf_model_get_info");
      const char* name = nullptr;
      const int32_t index = in.ConsumeBool() ? in.ConsumeIntegralInRange<int32_t>(-2, k + 1) : in.ConsumeIntegral<int32_t>();
      const mf_status st = mf_model_class_name(model, index, in.ConsumeIntegralInRange<int>(0, 15) == 0 ? nullptr : &name);
      check_status(st, "mf_model_class_name");
      if (st == MF_OK && (name == nullptr || index < 0 || index >= k)) contract("mf_model_class_name", "bad success");
      int64_t size = claim(in, int64_t(3) * k);
      auto palette = allocate(size, 0);
      check_status(mf_model_palette(model, in.ConsumeIntegralInRange<int>(0, 15) == 0 ? nullptr : palette->data(), size),
                   "mf_model_palette");
      const char* json = nullptr;
      int64_t length = 0;
      check_status(mf_model_metadata_json(model, in.ConsumeIntegralInRange<int>(0, 15) == 0 ? nullptr : &json,
                                          in.ConsumeBool() ? &length : nullptr),
                   "mf_model_metadata_json");
      break;
    }
    case 3: {  // benchmark_forward: valid calls kept to one tiny pass
      int32_t w = side(in), h = side(in);
      // the network runs at exactly this size: valid sides stay at most 64
      if (w >= 1 && w <= MF_MAX_IMAGE_SIDE) w = 1 + w % 64;
      if (h >= 1 && h <= MF_MAX_IMAGE_SIDE) h = 1 + h % 64;
      int32_t batch = in.ConsumeIntegralInRange<int>(0, 3) == 0 ? in.ConsumeIntegral<int32_t>() : 1;
      int32_t iters = in.ConsumeIntegralInRange<int>(0, 3) == 0 ? in.ConsumeIntegral<int32_t>() : 1;
      if (batch >= 1 && batch <= 1024) batch = 1 + batch % 2;
      if (iters >= 1 && iters <= 100000) iters = 1 + iters % 2;
      std::vector<double> ms(size_t(iters >= 1 && iters <= 2 ? iters : 1));
      check_status(mf_model_benchmark_forward(model, w, h, batch, iters,
                                              in.ConsumeIntegralInRange<int>(0, 15) == 0 ? nullptr : ms.data()),
                   "mf_model_benchmark_forward");
      break;
    }
    default: {  // loading: the option struct and paths, up to opening the file
      mf_load_options opts;
      mf_load_options_init(&opts);
      if (in.ConsumeBool()) opts.struct_size = in.ConsumeIntegral<uint32_t>();
      if (in.ConsumeBool()) opts.device = in.ConsumeIntegralInRange<int32_t>(-3, 3);
      if (in.ConsumeBool()) opts.precision = in.ConsumeIntegral<int32_t>();
      if (in.ConsumeBool()) opts.jit_optimize = in.ConsumeIntegral<int32_t>();
      if (in.ConsumeBool()) {
        opts.intra_op_threads = in.ConsumeIntegral<int32_t>();
        // valid counts above 1 are left out: they would slow every later forward pass
        if (opts.intra_op_threads > 1 && opts.intra_op_threads <= mf_max_threads()) opts.intra_op_threads = 1;
      }
      const char* path = in.PickValueInArray<const char*>({"/nonexistent/model.pt", "", "/", nullptr});
      mf_model* out = reinterpret_cast<mf_model*>(1);
      const mf_status st = mf_model_load(path, in.ConsumeIntegralInRange<int>(0, 7) == 0 ? nullptr : &opts,
                                         in.ConsumeIntegralInRange<int>(0, 15) == 0 ? nullptr : &out);
      check_status(st, "mf_model_load");
      if (st == MF_OK) contract("mf_model_load", "loaded a model from a path that holds none");
      (void)model;
      break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  check_status(mf_set_num_threads(1), "mf_set_num_threads");
  const char* names[2] = {"tiny.pt", "tiny-k300.pt"};
  for (int i = 0; i < 2; ++i) {
    const mf_status st = mf_model_load(mf_fuzz::model_path(names[i]).c_str(), nullptr, &models[i]);
    if (st != MF_OK) {
      std::fprintf(stderr, "fuzz: cannot load %s: %s\n", names[i], mf_last_error());
      std::exit(2);
    }
    mf_model_info info;
    mf_model_info_init(&info);
    check_status(mf_model_get_info(models[i], &info), "mf_model_get_info");
    num_classes[i] = info.num_classes;
    num_queries[i] = info.num_queries;
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const int pick = in.ConsumeIntegralInRange<int>(0, 31);
  const int m = pick == 31 ? -1 : pick % 4 == 3 ? 1 : 0;  // mostly K = 150, sometimes 300, rarely NULL
  mf_model* model = m < 0 ? nullptr : models[m];
  const int32_t k = m < 0 ? 150 : num_classes[m];
  const int32_t queries = m < 0 ? 12 : num_queries[m];
  const int call = in.ConsumeIntegralInRange<int>(0, 16);
  if (call < 9) segment(in, model, k, queries);
  else if (call >= 15) to_rgb(in);
  else other_calls(in, model, k, call - 9);
  return 0;
}
