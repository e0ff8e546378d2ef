/* SPDX-License-Identifier: Apache-2.0 */
/* Smoke test of the C ABI, in plain C: library facts, argument checks, error statuses, and (when
 * a model file is given) a real segmentation. Exit 0 on success, 1 on a failed check. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MF_HAS_ASAN 1
#endif
#endif
#ifndef MF_HAS_ASAN
#define MF_HAS_ASAN 0
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maskformer.h"

static int failures = 0;

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "FAILED %s:%d: %s (last error: %s)\n", __FILE__,     \
              __LINE__, #cond, mf_last_error() ? mf_last_error() : "none"); \
      ++failures;                                                          \
    }                                                                      \
  } while (0)

/* length of the "major.minor" prefix of a version string */
static size_t major_minor_length(const char *version) {
  const char *dot = strchr(version, '.');
  const char *second = dot != NULL ? strchr(dot + 1, '.') : NULL;
  return second != NULL ? (size_t)(second - version) : strlen(version);
}

/* The short-struct rule: the header's static inline inits fill the defaults; a struct the shim
   fills is written only as far as its struct_size, one it reads is read only that far (defaults
   past it); struct sizes outside 4..65536 are refused by name. */
static void struct_checks(void) {
  mf_load_options opts;
  memset(&opts, 0xAB, sizeof opts);
  mf_load_options_init(&opts);
  CHECK(opts.struct_size == sizeof opts && opts.device == MF_DEVICE_CPU && opts.precision == MF_PRECISION_FP32 &&
        opts.intra_op_threads == 0 && opts.jit_optimize == 0 && opts.allow_native_code == 0 &&
        opts.cpu_rewrites == MF_CPU_REWRITES_IN_BACKGROUND);
  mf_segment_options seg;
  memset(&seg, 0xAB, sizeof seg);
  mf_segment_options_init(&seg);
  CHECK(seg.struct_size == sizeof seg && seg.resize == 1 && seg.semantic_rule == MF_SEMANTIC_PROBABILISTIC &&
        seg.object_threshold == 0.8 && seg.overlap_threshold == 0.8 && seg.iterative_overlap == 0.8 &&
        seg.merge_same_class == 0);
  mf_output out;
  memset(&out, 0xAB, sizeof out);
  mf_output_init(&out);
  CHECK(out.struct_size == sizeof out && out.label_type == MF_LABEL_U8 && out.labels == NULL && out.scores == NULL &&
        out.segment_ids == NULL && out.segments == NULL && out.confidence == NULL &&
        out.confidence_type == MF_CONFIDENCE_U8);
  mf_image image;
  memset(&image, 0xAB, sizeof image);
  mf_image_init(&image);
  CHECK(image.struct_size == sizeof image && image.data == NULL && image.matrix == MF_YUV_BT601 &&
        image.range == MF_YUV_LIMITED && image.chroma[1].data == NULL);

  /* a larger struct from a newer header is read as far as this shim knows it */
  union {
    mf_load_options opts;
    unsigned char bytes[sizeof(mf_load_options) + 16];
  } big;
  memset(&big, 0xAB, sizeof big);
  mf_load_options_init(&big.opts);
  big.opts.struct_size = sizeof big;
  mf_model *model = NULL;
  CHECK(mf_model_load("/nonexistent/model.pt", &big.opts, &model) == MF_ERR_IO);
  /* an uninitialised or absurd size is refused, by name */
  const uint32_t bad[3] = {0, 3, 65537};
  for (int k = 0; k < 3; ++k) {
    opts.struct_size = bad[k];
    CHECK(mf_model_load("/nonexistent/model.pt", &opts, &model) == MF_ERR_INVALID_ARGUMENT);
    CHECK(strstr(mf_last_error(), "mf_load_options.struct_size") != NULL);
  }
  /* an unknown rewrite choice is refused by name, before the file is read */
  mf_load_options_init(&opts);
  opts.cpu_rewrites = 7;
  CHECK(mf_model_load("/nonexistent/model.pt", &opts, &model) == MF_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mf_last_error(), "cpu_rewrites") != NULL);
  /* a struct that ends before a field reads it as its default: only struct_size, all defaults */
  opts.struct_size = 4;
  opts.precision = 99;
  CHECK(mf_model_load("/etc/hostname", &opts, &model) == MF_ERR_MODEL_FORMAT);

  /* a shorter struct that the shim fills is written only as far as it goes */
  mf_host_cache_stats stats;
  memset(&stats, 0xAB, sizeof stats);
  const uint32_t short_size = (uint32_t)offsetof(mf_host_cache_stats, cached_bytes);
  stats.struct_size = short_size;
  CHECK(mf_host_cache_stats_get(&stats) == MF_OK && stats.struct_size == short_size && stats.limit != 0);
  int intact = 1;
  for (size_t b = short_size; b < sizeof stats; ++b) intact &= ((unsigned char *)&stats)[b] == 0xAB;
  CHECK(intact);
  /* 12: not a multiple of the struct's alignment (8), so it would end inside a field */
  const uint32_t bad8[3] = {0, 12, 65544};
  for (int k = 0; k < 3; ++k) {
    stats.struct_size = bad8[k];
    CHECK(mf_host_cache_stats_get(&stats) == MF_ERR_INVALID_ARGUMENT);
    CHECK(strstr(mf_last_error(), "mf_host_cache_stats.struct_size") != NULL);
  }
}

static void library_checks(void) {
  CHECK(mf_abi_version() == MF_ABI_VERSION);
  CHECK(mf_version() != NULL && strlen(mf_version()) > 0);
  CHECK(mf_libtorch_version() != NULL && strlen(mf_libtorch_version()) > 0);
  CHECK(mf_cuda_device_count() >= 0);
  CHECK(mf_set_num_threads(0) == MF_ERR_INVALID_ARGUMENT);
  CHECK(mf_last_error() != NULL);
  CHECK(mf_get_num_threads() >= 1);
  /* thread counts are bounded: absurd ones are refused, not passed to OpenMP */
  CHECK(mf_max_threads() >= 4 && mf_max_threads() <= 1024);
  CHECK(mf_default_threads() >= 1 && mf_default_threads() <= mf_max_threads());
  CHECK(mf_set_num_threads(mf_max_threads() + 1) == MF_ERR_INVALID_ARGUMENT);
  CHECK(mf_set_num_threads(INT32_MAX) == MF_ERR_INVALID_ARGUMENT);
  CHECK(mf_set_num_threads(-5) == MF_ERR_INVALID_ARGUMENT);
  /* the LibTorch loaded is the one compiled against (same major.minor) */
  const char *loaded = NULL, *file = NULL;
  CHECK(mf_libtorch_loaded(&loaded, &file) == MF_OK && loaded != NULL && file != NULL);
  if (loaded != NULL && loaded[0] != '\0') {
    const char *compiled = mf_libtorch_version();
    size_t n = major_minor_length(compiled);
    CHECK(n == major_minor_length(loaded) && strncmp(compiled, loaded, n) == 0);
    CHECK(strstr(file, "libtorch_cpu") != NULL);
  }
  CHECK(mf_libtorch_loaded(NULL, NULL) == MF_OK);
  int64_t free_bytes = -1, total_bytes = -1;
  if (mf_cuda_device_count() == 0) {
    CHECK(mf_cuda_memory(0, &free_bytes, &total_bytes) == MF_ERR_UNSUPPORTED);
  } else {
    CHECK(mf_cuda_memory(0, &free_bytes, &total_bytes) == MF_OK && free_bytes > 0 && total_bytes >= free_bytes);
  }
  CHECK(mf_cuda_memory(-1, &free_bytes, &total_bytes) == MF_ERR_UNSUPPORTED);
  CHECK((mf_cpu_features() & ~(MF_CPU_AVX2 | MF_CPU_AVX512 | MF_CPU_AVX512_BF16 | MF_CPU_AMX_BF16)) == 0);
  double gflops = 0;
  CHECK(mf_benchmark_matmul(MF_DEVICE_CPU, MF_PRECISION_FP32, 128, 1, &gflops) == MF_OK && gflops > 0);
  CHECK(mf_benchmark_matmul(MF_DEVICE_CPU, MF_PRECISION_FP32, 1 << 20, 1, &gflops) == MF_ERR_INVALID_ARGUMENT);
  CHECK(mf_benchmark_matmul(MF_DEVICE_CPU, MF_PRECISION_FP16, 128, 1, &gflops) == MF_ERR_UNSUPPORTED);
  CHECK(mf_benchmark_matmul(MF_DEVICE_CPU, MF_PRECISION_FP32, 128, 1, NULL) == MF_ERR_INVALID_ARGUMENT);

  mf_model *model = (mf_model *)1;
  CHECK(mf_model_load(NULL, NULL, &model) == MF_ERR_INVALID_ARGUMENT);
  CHECK(model == NULL);
  CHECK(mf_model_load("/nonexistent/model.pt", NULL, &model) == MF_ERR_IO);
  CHECK(strstr(mf_last_error(), "/nonexistent/model.pt") != NULL);
  CHECK(mf_model_load("/etc/hostname", NULL, &model) == MF_ERR_MODEL_FORMAT);
  CHECK(mf_model_load("/tmp", NULL, &model) == MF_ERR_IO);
  mf_model_free(NULL);

  /* from memory: the same argument checks and refusals */
  static const char not_a_zip[] = "this is not a model";
  model = (mf_model *)1;
  CHECK(mf_model_load_memory(NULL, 10, "x", NULL, &model) == MF_ERR_INVALID_ARGUMENT && model == NULL);
  CHECK(mf_model_load_memory(not_a_zip, 0, "x", NULL, &model) == MF_ERR_INVALID_ARGUMENT);
  CHECK(mf_model_load_memory(not_a_zip, -1, "x", NULL, &model) == MF_ERR_INVALID_ARGUMENT);
  CHECK(mf_model_load_memory(not_a_zip, sizeof not_a_zip, "x", NULL, NULL) == MF_ERR_INVALID_ARGUMENT);
  CHECK(mf_model_load_memory(not_a_zip, sizeof not_a_zip, "bytes of a test", NULL, &model) == MF_ERR_MODEL_FORMAT);
  CHECK(strstr(mf_last_error(), "'bytes of a test'") != NULL && model == NULL);
  CHECK(mf_model_load_memory(not_a_zip, sizeof not_a_zip, NULL, NULL, &model) == MF_ERR_MODEL_FORMAT);
  CHECK(strstr(mf_last_error(), "<memory>") != NULL);

  void *buffer = NULL;
  int32_t pinned = -1;
  CHECK(mf_host_alloc(0, &buffer, &pinned) == MF_ERR_INVALID_ARGUMENT);
  CHECK(mf_host_alloc(1000, &buffer, &pinned) == MF_OK);
  CHECK(buffer != NULL && ((uintptr_t)buffer % 64) == 0);
  CHECK(pinned == (mf_cuda_device_count() > 0));
  memset(buffer, 7, 1000);
  mf_host_free(buffer);
  mf_host_free(NULL);
  mf_host_free((void *)&failures); /* unknown pointers are ignored */
  CHECK(mf_set_host_cache_limit(-2) == MF_ERR_INVALID_ARGUMENT);
  CHECK(mf_last_error() != NULL);
  CHECK(mf_set_host_cache_limit((int64_t)1 << 30) == MF_OK);
  CHECK(mf_last_error() == NULL);
  mf_host_cache_stats stats;
  mf_host_cache_stats_init(&stats);
  CHECK(mf_host_cache_stats_get(&stats) == MF_OK);
  CHECK(stats.automatic == 0 && stats.limit == (int64_t)1 << 30);
  CHECK(mf_set_host_cache_limit(MF_HOST_CACHE_AUTO) == MF_OK);
  CHECK(mf_host_cache_stats_get(&stats) == MF_OK && stats.automatic == 1);
  CHECK(stats.limit >= (int64_t)32 << 20 && stats.cached_bytes <= stats.limit);
  CHECK(mf_host_cache_stats_get(NULL) == MF_ERR_INVALID_ARGUMENT);
}

/* A YUV 4:2:0 frame of w x h in one buffer with padded rows: Y plane, then chroma (I420: U, V;
   NV12/NV21: interleaved pairs), every sample from the same pseudo-random Y, U, V values, so the
   three layouts hold the same picture. */
typedef struct yuv_frame {
  uint8_t *buffer;
  mf_image image;
} yuv_frame;

static yuv_frame make_yuv(int w, int h, mf_pixel_format format) {
  const int cw = (w + 1) / 2, ch = (h + 1) / 2;
  const int64_t y_stride = w + 7;
  const int nv = format != MF_PIXEL_I420;
  const int64_t c_stride = nv ? 2 * cw + 3 : cw + 5;
  const int64_t y_size = y_stride * h, c_size = c_stride * ch;
  yuv_frame f;
  f.buffer = malloc((size_t)(y_size + 2 * c_size));
  memset(f.buffer, 0xEE, (size_t)(y_size + 2 * c_size));
  for (int r = 0; r < h; ++r)
    for (int x = 0; x < w; ++x) f.buffer[r * y_stride + x] = (uint8_t)(((r * w + x) * 2654435761u) >> 24);
  uint8_t *c0 = f.buffer + y_size, *c1 = c0 + c_size;
  for (int r = 0; r < ch; ++r)
    for (int x = 0; x < cw; ++x) {
      const uint8_t u = (uint8_t)(96 + ((r * 7 + x * 3) & 63)), v = (uint8_t)(160 - ((r * 5 + x * 11) & 63));
      if (!nv) {
        c0[r * c_stride + x] = u;
        c1[r * c_stride + x] = v;
      } else {
        c0[r * c_stride + 2 * x] = format == MF_PIXEL_NV12 ? u : v;
        c0[r * c_stride + 2 * x + 1] = format == MF_PIXEL_NV12 ? v : u;
      }
    }
  mf_image image;
  mf_image_init(&image);
  image.data = f.buffer;
  image.data_size = y_size;
  image.width = w;
  image.height = h;
  image.stride = y_stride;
  image.format = format;
  image.matrix = MF_YUV_BT709;
  image.range = MF_YUV_LIMITED;
  image.chroma[0].data = c0;
  image.chroma[0].size = c_size;
  image.chroma[0].stride = c_stride;
  if (!nv) {
    image.chroma[1].data = c1;
    image.chroma[1].size = c_size;
    image.chroma[1].stride = c_stride;
  }
  f.image = image;
  return f;
}

/* mf_image_to_rgb and its checks, without a model */
static void yuv_checks(void) {
  const int w = 33, h = 17;
  uint8_t *rgb[3];
  const mf_pixel_format formats[3] = {MF_PIXEL_I420, MF_PIXEL_NV12, MF_PIXEL_NV21};
  for (int i = 0; i < 3; ++i) {
    yuv_frame f = make_yuv(w, h, formats[i]);
    rgb[i] = malloc((size_t)w * h * 3);
    CHECK(mf_image_to_rgb(&f.image, rgb[i], (int64_t)w * h * 3, 0) == MF_OK);
    CHECK(mf_image_to_rgb(&f.image, rgb[i], (int64_t)w * h * 3 - 1, 0) == MF_ERR_INVALID_ARGUMENT);
    free(f.buffer);
  }
  /* the three layouts of one picture convert to the same RGB */
  CHECK(memcmp(rgb[0], rgb[1], (size_t)w * h * 3) == 0 && memcmp(rgb[0], rgb[2], (size_t)w * h * 3) == 0);
  /* a packed frame comes back in RGB order */
  uint8_t bgr[3 * 4] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, out[3 * 4];
  mf_image packed;
  mf_image_init(&packed);
  packed.data = bgr;
  packed.data_size = sizeof bgr;
  packed.width = 2;
  packed.height = 2;
  packed.stride = 6;
  packed.format = MF_PIXEL_BGR;
  CHECK(mf_image_to_rgb(&packed, out, sizeof out, 0) == MF_OK && out[0] == 3 && out[2] == 1 && out[11] == 10);

  /* every plane is checked like a packed image: NULL, stride, size (overflow-safe) */
  yuv_frame f = make_yuv(w, h, MF_PIXEL_I420);
  const int64_t cw = (w + 1) / 2, ch = (h + 1) / 2;
  mf_image bad = f.image;
  bad.chroma[1].data = NULL;
  CHECK(mf_image_to_rgb(&bad, rgb[0], (int64_t)w * h * 3, 0) == MF_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mf_last_error(), "V plane") != NULL);
  bad = f.image;
  bad.chroma[0].size = (ch - 1) * bad.chroma[0].stride + cw - 1; /* last row lacks one byte */
  CHECK(mf_image_to_rgb(&bad, rgb[0], (int64_t)w * h * 3, 0) == MF_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mf_last_error(), "U plane") != NULL);
  bad.chroma[0].size = f.image.chroma[0].size;
  bad.chroma[0].stride = cw - 1;
  CHECK(mf_image_to_rgb(&bad, rgb[0], (int64_t)w * h * 3, 0) == MF_ERR_INVALID_ARGUMENT);
  bad.chroma[0].stride = INT64_MAX / 2;
  CHECK(mf_image_to_rgb(&bad, rgb[0], (int64_t)w * h * 3, 0) == MF_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mf_last_error(), "2^63") != NULL);
  bad = f.image;
  bad.data_size = (h - 1) * bad.stride + w - 1;
  CHECK(mf_image_to_rgb(&bad, rgb[0], (int64_t)w * h * 3, 0) == MF_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mf_last_error(), "Y plane") != NULL);
  bad = f.image;
  bad.matrix = 3;
  CHECK(mf_image_to_rgb(&bad, rgb[0], (int64_t)w * h * 3, 0) == MF_ERR_INVALID_ARGUMENT);
  bad = f.image;
  bad.range = -1;
  CHECK(mf_image_to_rgb(&bad, rgb[0], (int64_t)w * h * 3, 0) == MF_ERR_INVALID_ARGUMENT);
  bad = f.image;
  bad.format = MF_PIXEL_NV12; /* I420 planes given as NV12: the interleaved plane is too short */
  CHECK(mf_image_to_rgb(&bad, rgb[0], (int64_t)w * h * 3, 0) == MF_ERR_INVALID_ARGUMENT);
  bad.chroma[0].stride = 2 * cw;
  bad.chroma[0].size = ch * 2 * cw;
  CHECK(mf_image_to_rgb(&bad, rgb[0], (int64_t)w * h * 3, 0) == MF_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mf_last_error(), "chroma[1] must be NULL") != NULL);
  bad = f.image;
  bad.format = 7;
  CHECK(mf_image_to_rgb(&bad, rgb[0], (int64_t)w * h * 3, 0) == MF_ERR_INVALID_ARGUMENT);
  CHECK(mf_image_to_rgb(NULL, rgb[0], (int64_t)w * h * 3, 0) == MF_ERR_INVALID_ARGUMENT);
  CHECK(mf_image_to_rgb(&f.image, NULL, (int64_t)w * h * 3, 0) == MF_ERR_INVALID_ARGUMENT);
  free(f.buffer);
  for (int i = 0; i < 3; ++i) free(rgb[i]);
}

/* A YUV frame segments to the same labels as the RGB that mf_image_to_rgb makes of it (the
   model converts the same way, on its device), for odd and even sizes and each layout. */
static void yuv_model_checks(mf_model *model, int32_t num_classes) {
  const int sizes[3][2] = {{97, 61}, {64, 48}, {31, 2}};
  const mf_pixel_format formats[3] = {MF_PIXEL_I420, MF_PIXEL_NV12, MF_PIXEL_NV21};
  mf_segment_options seg;
  mf_segment_options_init(&seg);
  for (int s = 0; s < 3; ++s)
    for (int i = 0; i < 3; ++i) {
      const int w = sizes[s][0], h = sizes[s][1];
      yuv_frame f = make_yuv(w, h, formats[i]);
      f.image.matrix = (mf_yuv_matrix)(s % 3);
      f.image.range = (mf_yuv_range)(i % 2);
      uint8_t *rgb = malloc((size_t)w * h * 3);
      CHECK(mf_image_to_rgb(&f.image, rgb, (int64_t)w * h * 3, 0) == MF_OK);
      mf_image packed;
      mf_image_init(&packed);
      packed.data = rgb;
      packed.data_size = (int64_t)w * h * 3;
      packed.width = w;
      packed.height = h;
      packed.stride = (int64_t)w * 3;
      packed.format = MF_PIXEL_RGB;
      int32_t *a = malloc((size_t)w * h * 4), *b = malloc((size_t)w * h * 4);
      mf_output oa, ob;
      mf_output_init(&oa);
      mf_output_init(&ob);
      oa.labels = a;
      ob.labels = b;
      oa.labels_size = ob.labels_size = (int64_t)w * h * 4;
      oa.label_type = ob.label_type = MF_LABEL_I32;
      for (int resize = 0; resize < 2; ++resize) {
        seg.resize = resize;
        CHECK(mf_model_segment(model, &f.image, &oa, 1, &seg, 0) == MF_OK);
        CHECK(mf_model_segment(model, &packed, &ob, 1, &seg, 0) == MF_OK);
        int same = 1;
        for (int p = 0; p < w * h; ++p) same &= a[p] == b[p] && a[p] >= 0 && a[p] < num_classes;
        CHECK(same);
      }
      /* in a batch with a packed frame of the same size: one forward pass, the same labels */
      mf_image both[2] = {f.image, packed};
      mf_output outs[2] = {oa, ob};
      seg.resize = 1;
      CHECK(mf_model_segment(model, both, outs, 2, &seg, 0) == MF_OK);
      CHECK(memcmp(a, b, (size_t)w * h * 4) == 0);
      mf_image short_chroma = f.image;
      const int64_t row_bytes = formats[i] == MF_PIXEL_I420 ? (w + 1) / 2 : 2 * ((w + 1) / 2);
      short_chroma.chroma[0].size = ((h + 1) / 2 - 1) * short_chroma.chroma[0].stride + row_bytes - 1;
      CHECK(mf_model_segment(model, &short_chroma, &oa, 1, &seg, 0) == MF_ERR_INVALID_ARGUMENT);
      CHECK(strstr(mf_last_error(), "image 0") != NULL);
      free(a);
      free(b);
      free(rgb);
      free(f.buffer);
    }
}

static void model_checks(const char *path) {
  mf_model *model = NULL;
  mf_load_options opts;
  mf_load_options_init(&opts);
  CHECK(mf_model_load(path, &opts, &model) == MF_OK);
  if (model == NULL) return;

  mf_model_info info;
  mf_model_info_init(&info);
  CHECK(mf_model_get_info(model, &info) == MF_OK);
  CHECK(info.num_classes > 0 && info.num_queries > 0 && info.device == MF_DEVICE_CPU);
  CHECK(info.variant != NULL && info.cpu_rewrites != NULL);
  const char *json = NULL;
  int64_t length = 0;
  CHECK(mf_model_metadata_json(model, &json, &length) == MF_OK);
  CHECK(json != NULL && (int64_t)strlen(json) == length && strstr(json, "maskformer-java") != NULL);
  const char *name = NULL;
  CHECK(mf_model_class_name(model, 0, &name) == MF_OK && name != NULL);
  CHECK(mf_model_class_name(model, info.num_classes, &name) == MF_ERR_INVALID_ARGUMENT);
  uint8_t *palette = malloc((size_t)info.num_classes * 3);
  CHECK(mf_model_palette(model, palette, 3) == (info.num_classes > 1 ? MF_ERR_INVALID_ARGUMENT : MF_OK));
  CHECK(mf_model_palette(model, palette, (int64_t)info.num_classes * 3) == MF_OK);
  free(palette);

  /* a 97x61 BGRA image with padded rows */
  const int w = 97, h = 61;
  const int64_t stride = w * 4 + 12;
  uint8_t *pixels = malloc((size_t)(stride * h));
  for (int64_t i = 0; i < stride * h; ++i) pixels[i] = (uint8_t)((i * 2654435761u) >> 24);
  int32_t *labels = malloc((size_t)w * h * sizeof(int32_t));
  float *scores = malloc((size_t)w * h * info.num_classes * sizeof(float));
  mf_image image = {.struct_size = sizeof(mf_image), .data = pixels, .data_size = stride * h, .width = w,
                    .height = h, .stride = stride, .format = MF_PIXEL_BGRA};
  mf_output out;
  mf_output_init(&out);
  out.labels = labels;
  out.labels_size = (int64_t)w * h * 4;
  out.label_type = MF_LABEL_I32;
  out.scores = scores;
  out.scores_size = (int64_t)w * h * info.num_classes * 4;
  mf_segment_options seg;
  mf_segment_options_init(&seg);
  for (int i = 0; i < w * h; ++i) labels[i] = -1;
  CHECK(mf_model_segment(model, &image, &out, 1, &seg, 0) == MF_OK);
  int in_range = 1;
  for (int i = 0; i < w * h; ++i) in_range &= labels[i] >= 0 && labels[i] < info.num_classes;
  CHECK(in_range);
  /* the label is the argmax of the scores */
  int agree = 1;
  for (int p = 0; p < w * h; p += 13) {
    int best = 0;
    for (int c = 1; c < info.num_classes; ++c)
      if (scores[(size_t)c * w * h + p] > scores[(size_t)best * w * h + p]) best = c;
    agree &= best == labels[p];
  }
  CHECK(agree);

  /* the CPU rewrites, made in the background by default: calls ran before they were done; the
     wait returns once they are, the info then gives their outcome (the text read before stays
     valid), and the scores of the same call agree to rounding */
  {
    const size_t n = (size_t)w * h * info.num_classes;
    float *before = malloc(n * sizeof(float));
    memcpy(before, scores, n * sizeof(float));
    const char *early = info.cpu_rewrites;
    CHECK(mf_model_await_cpu_rewrites(model) == MF_OK);
    CHECK(mf_model_await_cpu_rewrites(model) == MF_OK);
    CHECK(mf_model_await_cpu_rewrites(NULL) == MF_ERR_INVALID_ARGUMENT);
    mf_model_info done;
    mf_model_info_init(&done);
    CHECK(mf_model_get_info(model, &done) == MF_OK && done.cpu_rewrites != NULL);
    CHECK(strncmp(done.cpu_rewrites, "in the background", 17) != 0 && strlen(early) > 0);
    fprintf(stderr, "smoke: CPU rewrites: %s\n", done.cpu_rewrites);
    CHECK(mf_model_segment(model, &image, &out, 1, &seg, 0) == MF_OK);
    float worst = 0;
    for (size_t i = 0; i < n; ++i) {
      const float d = scores[i] > before[i] ? scores[i] - before[i] : before[i] - scores[i];
      if (!(d <= worst)) worst = d;
    }
    CHECK(worst <= 1e-4f);
    free(before);
    /* a model freed while its rewrites run: the free waits for the thread, nothing leaks */
    mf_model *brief = NULL;
    CHECK(mf_model_load(path, &opts, &brief) == MF_OK);
    mf_model_free(brief);
    CHECK(mf_debug_live_handles() == 1);
  }

  /* segments: entries lie segments[0].struct_size apart, so a caller whose mf_segment_info is
     larger (a later header) gets every entry where it expects it, and its extra bytes intact */
  {
    const uint32_t big = sizeof(mf_segment_info) + 16;
    const int cap = info.num_queries;
    unsigned char *raw = malloc((size_t)cap * big);
    memset(raw, 0xAB, (size_t)cap * big);
    memcpy(raw, &big, sizeof big);
    int32_t *ids = malloc((size_t)w * h * sizeof(int32_t));
    mf_output ext = out;
    ext.segment_ids = ids;
    ext.segment_ids_size = (int64_t)w * h * 4;
    ext.segments = (mf_segment_info *)(void *)raw;
    ext.segments_capacity = cap;
    ext.segments_count = -1;
    CHECK(mf_model_segment(model, &image, &ext, 1, &seg, 0) == MF_OK);
    int ok = ext.segments_count >= 0;
    int64_t area = 0;
    for (int i = 0; i < ext.segments_count && i < cap; ++i) {
      mf_segment_info s;
      memcpy(&s, raw + (size_t)i * big, sizeof s);
      ok &= s.struct_size == big && s.id == i + 1 && s.class_index >= 0 && s.class_index < info.num_classes &&
            s.area > 0;
      area += s.area;
      for (uint32_t b = sizeof(mf_segment_info); b < big; ++b) ok &= raw[(size_t)i * big + b] == 0xAB;
    }
    int64_t labelled = 0;
    for (int i = 0; i < w * h; ++i) labelled += ids[i] != 0;
    CHECK(ok && area == labelled);
    const uint32_t zero = 0;
    memcpy(raw, &zero, sizeof zero);
    CHECK(mf_model_segment(model, &image, &ext, 1, &seg, 0) == MF_ERR_INVALID_ARGUMENT);
    CHECK(strstr(mf_last_error(), "segments[0].struct_size") != NULL);

    /* an output struct from an older header that ends before segment_ids: its further fields
       are not read (they hold garbage here) and segments_count is not written */
    mf_output older = ext;
    older.struct_size = (uint32_t)offsetof(mf_output, segment_ids);
    older.segments_capacity = -7;
    older.segments_count = 12345;
    older.confidence_type = 99;
    CHECK(mf_model_segment(model, &image, &older, 1, &seg, 0) == MF_OK && older.segments_count == 12345);
    /* options from an older header: the rule past its end is the default, not the garbage */
    mf_segment_options old_opts = seg;
    old_opts.struct_size = (uint32_t)offsetof(mf_segment_options, semantic_rule);
    old_opts.semantic_rule = 99;
    CHECK(mf_model_segment(model, &image, &out, 1, &old_opts, 0) == MF_OK);
    old_opts.struct_size = sizeof old_opts;
    CHECK(mf_model_segment(model, &image, &out, 1, &old_opts, 0) == MF_ERR_INVALID_ARGUMENT);
    /* in an array every entry carries the first one's struct_size (the stride) */
    mf_image two[2] = {image, image};
    mf_output two_out[2] = {out, out};
    two[1].struct_size = 8;
    CHECK(mf_model_segment(model, two, two_out, 2, &seg, 0) == MF_ERR_INVALID_ARGUMENT);
    CHECK(strstr(mf_last_error(), "image 1: struct_size 8 differs") != NULL);
    free(raw);
    free(ids);
  }

  /* warm-up of a large frame touches little memory: the frame is zero pages that are only read,
     the labels the narrowest type (it once filled a frame and an int32 map: 7 bytes a pixel).
     Faults count touched pages, zero pages read included; tiny.pt resizes 4096x4096 to 512x512,
     which reads only the source rows that the resize needs. */
  {
    const int32_t big[2] = {4096, 4096};
    CHECK(mf_model_warmup(model, big, 1) == MF_OK);
    const int64_t before = mf_debug_page_faults();
    CHECK(mf_model_warmup(model, big, 1) == MF_OK);
    const double page = (double)sysconf(_SC_PAGESIZE);
    const double bytes_per_pixel = (double)(mf_debug_page_faults() - before) * page / (4096.0 * 4096.0);
#if !defined(__SANITIZE_ADDRESS__) && !MF_HAS_ASAN
    if (info.num_classes <= 256) CHECK(bytes_per_pixel < 3.0);
#endif
    (void)bytes_per_pixel;
  }

  /* bad arguments are rejected before any work */
  mf_image short_image = image;
  short_image.data_size = (h - 1) * stride + w * 4 - 1; /* last row lacks one byte */
  CHECK(mf_model_segment(model, &short_image, &out, 1, &seg, 0) == MF_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mf_last_error(), "image 0") != NULL);
  mf_image bad_stride = image;
  bad_stride.stride = w * 4 - 1;
  CHECK(mf_model_segment(model, &bad_stride, &out, 1, &seg, 0) == MF_ERR_INVALID_ARGUMENT);
  mf_output small = out;
  small.labels_size = (int64_t)w * h * 4 - 1;
  CHECK(mf_model_segment(model, &image, &small, 1, &seg, 0) == MF_ERR_INVALID_ARGUMENT);
  mf_output bad_type = out;
  bad_type.label_type = 9;
  CHECK(mf_model_segment(model, &image, &bad_type, 1, &seg, 0) == MF_ERR_INVALID_ARGUMENT);
  mf_output misaligned = out;
  misaligned.scores = (float *)((char *)scores + 1);
  CHECK(mf_model_segment(model, &image, &misaligned, 1, &seg, 0) == MF_ERR_INVALID_ARGUMENT);
  CHECK(mf_model_segment(model, &image, &out, -1, &seg, 0) == MF_ERR_INVALID_ARGUMENT);
  CHECK(mf_model_segment(NULL, &image, &out, 1, &seg, 0) == MF_ERR_INVALID_ARGUMENT);
  CHECK(mf_model_segment(model, &image, &out, 0, &seg, 0) == MF_OK);
  int32_t sizes[4] = {64, 48, 33, 17};
  CHECK(mf_model_warmup(model, sizes, 2) == MF_OK);
  int32_t nw = 0, nh = 0;
  CHECK(mf_model_input_size(model, w, h, &nw, &nh) == MF_OK && nw > 0 && nh > 0);
  /* a thin strip keeps at least one pixel on its short side after the keep-ratio resize */
  CHECK(mf_model_input_size(model, 4000, 1, &nw, &nh) == MF_OK && nw > 0 && nh == 1);
  CHECK(mf_model_input_size(model, 1, 4000, &nw, &nh) == MF_OK && nw == 1 && nh > 0);
  double ms[3] = {-1, -1, -1};
  CHECK(mf_model_benchmark_forward(model, 64, 48, 2, 3, ms) == MF_OK && ms[0] > 0 && ms[2] > 0);
  CHECK(mf_model_benchmark_forward(model, 64, 48, 0, 3, ms) == MF_ERR_INVALID_ARGUMENT);
  CHECK(mf_model_benchmark_forward(model, 64, 48, 1, 3, NULL) == MF_ERR_INVALID_ARGUMENT);
  CHECK(mf_model_benchmark_forward(NULL, 64, 48, 1, 3, ms) == MF_ERR_INVALID_ARGUMENT);
  /* bf16 on the CPU: runs where the CPU has native bf16, refused (UNSUPPORTED) elsewhere */
  mf_model *bf16 = NULL;
  opts.precision = MF_PRECISION_BF16;
  const int native = (mf_cpu_features() & (MF_CPU_AVX512_BF16 | MF_CPU_AMX_BF16)) != 0;
  CHECK(mf_model_load(path, &opts, &bf16) == (native ? MF_OK : MF_ERR_UNSUPPORTED));
  mf_model_free(bf16);
  opts.precision = MF_PRECISION_FP32;
  opts.intra_op_threads = mf_max_threads() + 1;
  CHECK(mf_model_load(path, &opts, &bf16) == MF_ERR_INVALID_ARGUMENT && bf16 == NULL);

  /* the same file from memory: loads, reports the same facts; the bytes may go right after */
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL);
  if (f != NULL) {
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = malloc((size_t)size);
    CHECK(bytes != NULL && fread(bytes, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    mf_model *in_memory = NULL;
    mf_load_options plain;
    mf_load_options_init(&plain);
    plain.cpu_rewrites = MF_CPU_REWRITES_NONE;
    CHECK(mf_model_load_memory(bytes, size, "smoke", &plain, &in_memory) == MF_OK && in_memory != NULL);
    memset(bytes, 0, (size_t)size);
    free(bytes);
    mf_model_info again;
    mf_model_info_init(&again);
    CHECK(mf_model_get_info(in_memory, &again) == MF_OK && again.num_classes == info.num_classes);
    CHECK(again.cpu_rewrites != NULL && strncmp(again.cpu_rewrites, "none (turned off", 16) == 0);
    CHECK(mf_debug_live_handles() == 2);
    mf_model_free(in_memory);
  }

  yuv_model_checks(model, info.num_classes);

  /* the end of a process: mf_stop_cpu_rewrites stops the rewrites and refuses later ones; a model
     loaded afterwards runs as exported and says why */
  mf_stop_cpu_rewrites();
  mf_stop_cpu_rewrites();
  {
    mf_model *late = NULL;
    mf_load_options defaults;
    mf_load_options_init(&defaults);
    CHECK(mf_model_load(path, &defaults, &late) == MF_OK && late != NULL);
    CHECK(mf_model_await_cpu_rewrites(late) == MF_OK);
    mf_model_info ended;
    mf_model_info_init(&ended);
    CHECK(mf_model_get_info(late, &ended) == MF_OK && strcmp(ended.cpu_rewrites, "none (the process is ending)") == 0);
    CHECK(mf_model_segment(late, &image, &out, 1, &seg, 0) == MF_OK);
    mf_model_free(late);
  }

  free(pixels);
  free(labels);
  free(scores);
  CHECK(mf_debug_live_handles() == 1);
  mf_model_free(model);
}

int main(int argc, char **argv) {
  library_checks();
  struct_checks();
  yuv_checks();
  if (argc > 1 && argv[1][0] != '\0') {
    model_checks(argv[1]);
  } else {
    fprintf(stderr, "no model file given: model checks skipped\n");
  }
  CHECK(mf_debug_live_handles() == 0);
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("smoke: all checks passed\n");
  return argc > 1 && argv[1][0] != '\0' ? 0 : 77;
}
