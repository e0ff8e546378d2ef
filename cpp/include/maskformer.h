/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file maskformer.h
 * @brief C ABI of the maskformer-java native shim (C11; the only header jextract reads).
 *
 * The shim loads MaskFormer TorchScript exports made by models/export.py and runs sssegmentation's
 * test-time pipeline on them (keep-ratio resize, normalisation, forward, semantic inference,
 * resize back, argmax) on the CPU or a CUDA device, reading caller-owned pixels and writing
 * caller-owned outputs without copies on the caller's side.
 *
 * Conventions
 *  - Every function that can fail returns an ::mf_status; on failure mf_last_error() describes it.
 *    No C++ exception ever crosses this ABI.
 *  - Objects are opaque handles. Each mf_*_load / mf_*_alloc has exactly one matching free, which
 *    accepts NULL and cannot fail.
 *  - Short structs (one rule for every struct passed by pointer): each starts with `uint32_t
 *    struct_size`, the sizeof as the caller was compiled. The shim reads only the fields that
 *    fit in struct_size bytes and takes the defaults for the fields past them; into a struct it
 *    fills (mf_model_info, mf_host_cache_stats, mf_segment_info) it writes only the fields that
 *    fit. In an array (images, outputs, segments) entries lie struct_size apart, the first
 *    entry's, and every entry carries that struct_size (for the mf_segment_info array the shim
 *    writes, the caller sets segments[0].struct_size). So a caller built against an older,
 *    smaller header keeps working with a newer shim, and one built against a newer header with
 *    an older shim. struct_size must be a multiple of the struct's alignment (8 for structs with
 *    64-bit fields, 4 for mf_load_options), so that no field is cut, and at most 65536; anything
 *    else (an uninitialised struct, most likely) is INVALID_ARGUMENT. The defaults are those of
 *    the static inline mf_X_init(&s) functions below (fields zero unless said otherwise,
 *    struct_size = sizeof), which call nothing in the library: callers without C (FFM, ctypes)
 *    fill the structs themselves with the same values.
 *  - Enums are fixed-width integers; their values are append-only.
 *  - Strings returned through out-parameters are owned by the handle they came from and live as
 *    long as it does, unless stated otherwise.
 */
#ifndef MASKFORMER_H
#define MASKFORMER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h> /* memset, in the static inline mf_X_init functions */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MF_BUILDING_SHIM)
#define MF_API __attribute__((visibility("default")))
#else
#define MF_API
#endif

/** Version of this ABI. Bumped on any incompatible change; the Java side refuses a mismatch.
 *  3: mf_model_load_memory; the shim carries no run path (the caller loads LibTorch first);
 *  YUV 4:2:0 frames (MF_PIXEL_NV12, _I420, _NV21); mf_image_to_rgb.
 *  4: one mf_model_segment (mf_output carries segment ids, segments and confidence,
 *  mf_segment_options the inference rule and thresholds; no _ext or _keepalive variants); one
 *  rule for short structs (struct_size, static inline inits; no exported init functions);
 *  mf_image, mf_output and mf_segment_info start with struct_size.
 *  5: MF_CPU_REWRITES_IN_BACKGROUND, mf_load_options_init's new default;
 *  mf_model_await_cpu_rewrites, mf_stop_cpu_rewrites. */
#define MF_ABI_VERSION 5

/* ============================================================================================= */
/* Status codes                                                                                  */
/* ============================================================================================= */

/** Result of a call: MF_OK or one of the MF_ERR_* codes below. */
typedef int32_t mf_status;

#define MF_OK 0                    /**< Success. */
#define MF_ERR_INVALID_ARGUMENT 1  /**< A NULL, out-of-range, too small or inconsistent argument. */
#define MF_ERR_IO 2                /**< A file could not be opened or read. */
#define MF_ERR_MODEL_FORMAT 3      /**< Not a MaskFormer export, corrupt, or bad metadata. */
#define MF_ERR_UNSUPPORTED 4       /**< Device, precision or feature not available here. */
#define MF_ERR_OUT_OF_MEMORY 5     /**< Host or device memory exhausted; the model stays usable. */
#define MF_ERR_CUDA 6              /**< A CUDA runtime error. */
#define MF_ERR_INTERNAL 7          /**< Any other failure inside LibTorch or the shim. */
#define MF_ERR_NOT_FINITE 8        /**< The network's outputs hold NaN or infinity (no result). */

/** Largest width or height of an image, in pixels (and of any size the ABI takes). */
#define MF_MAX_IMAGE_SIDE 32768

/** Largest resize.long_side / resize.short_side a model's metadata may ask for. */
#define MF_MAX_NETWORK_SIDE 4096

/** Bytes of the per-thread error text, its NUL included: longer messages are cut. */
#define MF_ERROR_TEXT_SIZE 2048

/** Text of this thread's last failure, or NULL after a success.
 *  Valid until this thread's next mf_ call. Thread-safe (the text is per thread). */
MF_API const char *mf_last_error(void);

/* ============================================================================================= */
/* Library and environment                                                                       */
/* ============================================================================================= */

/** MF_ABI_VERSION of the compiled shim. Thread-safe. */
MF_API int32_t mf_abi_version(void);

/** Version of the shim, e.g. "0.1.0". Static storage. Thread-safe. */
MF_API const char *mf_version(void);

/** Version of the LibTorch the shim was compiled against, e.g. "1.13.1". Static storage. */
MF_API const char *mf_libtorch_version(void);

/** Whether the LibTorch in use was built with CUDA support (1) or not (0). Thread-safe. */
MF_API int32_t mf_cuda_compiled(void);

/** Number of usable CUDA devices (0 without CUDA). Thread-safe. */
MF_API int32_t mf_cuda_device_count(void);

/** Version of the LibTorch actually loaded in this process, read from the library at run time
 *  (mf_libtorch_version() is the one the shim was compiled against), e.g. "2.13.0", and the file
 *  of its libtorch_cpu. [out] *out_version, *out_library (either may be NULL): static storage,
 *  "" when unknown. mf_model_load refuses to run (UNSUPPORTED) when the loaded major.minor
 *  differs from the compiled one. Thread-safe. */
MF_API mf_status mf_libtorch_loaded(const char **out_version, const char **out_library);

/** CPU features that matter for inference, as bits of mf_cpu_features(): supported by the
 *  processor and enabled by the operating system for this process. Append-only. */
#define MF_CPU_AVX2 1
#define MF_CPU_AVX512 2
#define MF_CPU_AVX512_BF16 4 /**< native bf16 dot products (AVX512-BF16) */
#define MF_CPU_AMX_BF16 8    /**< Advanced Matrix Extensions tiles with bf16 */

/** The MF_CPU_* bits of this machine. Thread-safe. */
MF_API int32_t mf_cpu_features(void);

/** Free and total memory of CUDA device `device`, in bytes, as the driver reports it (memory the
 *  caching allocator holds counts as used). [out] *out_free, *out_total (either may be NULL).
 *  Fails with UNSUPPORTED (a shim built without CUDA, or no such device) or CUDA. Thread-safe. */
MF_API mf_status mf_cuda_memory(int32_t device, int64_t *out_free, int64_t *out_total);

/** Sets LibTorch's intra-op thread count for the whole process, 1 <= n <= mf_max_threads().
 *  Call it once at start-up, before inference threads run: threads that already ran an operation
 *  keep their count. Returns MF_ERR_INVALID_ARGUMENT outside that range. */
MF_API mf_status mf_set_num_threads(int32_t n);

/** LibTorch's current intra-op thread count (the default of mf_default_threads() once a model
 *  was loaded, unless mf_set_num_threads chose another). */
MF_API int32_t mf_get_num_threads(void);

/** The largest count mf_set_num_threads accepts: 4 x the CPUs this process may run on, at least
 *  4, at most 1024 (more threads than that only add contention). Thread-safe. */
MF_API int32_t mf_max_threads(void);

/** The intra-op thread count the shim sets when the first model is loaded and nobody chose one
 *  (no mf_set_num_threads, no OMP_NUM_THREADS): the CPUs this process may run on (its affinity
 *  mask and cgroup CPU quota), at most 64. Idle OpenMP threads should spin only briefly before
 *  they sleep, or a forward pass slows down severalfold when another process holds a core: the
 *  Java library sets GOMP_SPINCOUNT=1000 (unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set) before
 *  it loads the shim; C callers set it in the environment before the process starts. Thread-safe. */
MF_API int32_t mf_default_threads(void);

/* ============================================================================================= */
/* Host memory: reusable caching of large CPU tensors, and frame buffers                         */
/* ============================================================================================= */

/** Upper bound, in bytes, of freed CPU tensor memory the shim keeps for reuse instead of returning
 *  it to the operating system. Keeping it avoids page faults on every call. The default,
 *  MF_HOST_CACHE_AUTO, sizes the limit from the workload: twice the largest working set of one
 *  segment call times the most calls seen in flight at once, between 32 MiB and 2 GiB. 0
 *  disables the cache and releases what it holds; a smaller limit evicts the least recently
 *  freed blocks first. Process-wide; thread-safe. */
#define MF_HOST_CACHE_AUTO (-1)
MF_API mf_status mf_set_host_cache_limit(int64_t bytes);

/** Counters of the host cache (mf_host_cache_stats). */
typedef struct mf_host_cache_stats {
  uint32_t struct_size;   /**< sizeof(mf_host_cache_stats) (mf_host_cache_stats_init). */
  int32_t automatic;      /**< 1 when the limit is MF_HOST_CACHE_AUTO's. */
  int64_t limit;          /**< The limit in force, in bytes. */
  int64_t cached_bytes;   /**< Bytes held for reuse now. */
  int64_t cached_blocks;  /**< Blocks held for reuse now. */
  int64_t hits;           /**< Allocations served from the cache. */
  int64_t misses;         /**< Cacheable allocations the cache could not serve. */
  int64_t evictions;      /**< Blocks dropped to stay under the limit. */
  int64_t returned;       /**< Freed blocks larger than the limit, returned at once. */
  int64_t in_use;         /**< Bytes of CPU tensors alive now (models' weights included). */
  int64_t peak_in_use;    /**< The most bytes alive at once so far. */
  int64_t largest_call;   /**< The largest working set of one segment call so far. */
} mf_host_cache_stats;

/** Sets struct_size and zeroes the rest. */
static inline void mf_host_cache_stats_init(mf_host_cache_stats *stats) {
  memset(stats, 0, sizeof *stats);
  stats->struct_size = (uint32_t)sizeof *stats;
}

/** Fills the fields of *stats that fit in its struct_size. Thread-safe. */
MF_API mf_status mf_host_cache_stats_get(mf_host_cache_stats *stats);

MF_API int64_t mf_host_cache_bytes(void);

/** Allocates `size` bytes of host memory for frames or outputs, 64-byte aligned.
 *  [out] *out_ptr: the memory; release it with mf_host_free.
 *  [out] *out_pinned (may be NULL): 1 when the memory is page-locked (CUDA present), so copies to
 *  and from a CUDA device are asynchronous single transfers; 0 for ordinary memory.
 *  Fails with INVALID_ARGUMENT (size <= 0, NULL out_ptr) or OUT_OF_MEMORY. Thread-safe. */
MF_API mf_status mf_host_alloc(int64_t size, void **out_ptr, int32_t *out_pinned);

/** Releases memory from mf_host_alloc; NULL and unknown pointers are ignored. Thread-safe. */
MF_API void mf_host_free(void *ptr);

/* ============================================================================================= */
/* Models                                                                                        */
/* ============================================================================================= */

/** A loaded model. Opaque; owned by the caller after mf_model_load until mf_model_free. */
typedef struct mf_model mf_model;

/** The CPU, as a device index. Values >= 0 name CUDA devices. */
#define MF_DEVICE_CPU (-1)

/** Numeric precision the network runs in. Pre- and post-processing always run in fp32. */
typedef int32_t mf_precision;
#define MF_PRECISION_FP32 0
#define MF_PRECISION_FP16 1 /**< Half precision; CUDA only. */
#define MF_PRECISION_BF16 2 /**< bfloat16; CUDA, and CPUs with native bf16 (MF_CPU_AVX512_BF16
                                 or MF_CPU_AMX_BF16): elsewhere it would only be emulated, slower
                                 than fp32, and mf_model_load refuses it with UNSUPPORTED. */

/** Load-time rewrites of a TorchScript network that runs on the CPU (append-only). */
typedef int32_t mf_cpu_rewrites;
#define MF_CPU_REWRITES_AT_LOAD 0 /**< Frozen, linear and convolution layers on oneDNN with their
                                       weights packed, each fused with the activation after it,
                                       done before mf_model_load returns; the rewritten network's
                                       first run is the load's test forward pass (one that fails
                                       it runs as exported). MASKFORMER_CPU_PASSES narrows the set.
                                       Faster calls (about 1.4x on Swin-T), a slower load (about
                                       +0.17 s for the demo model, +0.5 s for Swin-T on 2 cores). */
#define MF_CPU_REWRITES_NONE 1    /**< The module runs as it is: the fastest load, slower calls. */
#define MF_CPU_REWRITES_IN_BACKGROUND 2 /**< The default: the same rewrites, made by a thread of
                                       the model's own after mf_model_load returned (as fast as
                                       with NONE); calls run the network as exported until the
                                       rewritten one has matched its outputs on a test input, then
                                       move to it. A call's scores may thus differ by rounding
                                       (about 1e-6) from the same call's before the switch;
                                       mf_model_await_cpu_rewrites waits for it. */

/** Options of mf_model_load. Fill with mf_load_options_init() first. */
typedef struct mf_load_options {
    uint32_t struct_size;      /**< sizeof(mf_load_options) (mf_load_options_init). */
    int32_t device;            /**< MF_DEVICE_CPU (default) or a CUDA device index. */
    mf_precision precision;    /**< MF_PRECISION_FP32 (default), FP16 or BF16. */
    int32_t intra_op_threads;  /**< > 0: calls mf_set_num_threads first (1..mf_max_threads());
                                    0 (default): unchanged, or mf_default_threads() when no count
                                    was set in this process yet. */
    int32_t jit_optimize;      /**< 0 (default): plain TorchScript interpreter, no profiling, so a
                                    new input size never triggers re-optimisation; 1: LibTorch's
                                    profiling executor (may fuse ops, re-specialises per size). */
    int32_t allow_native_code; /**< 0 (default): AOTInductor packages (.pt2) are refused with
                                    MODEL_FORMAT; 1: they load. A .pt2 holds a compiled shared
                                    library, so loading one RUNS NATIVE CODE FROM THE FILE in this
                                    process: set 1 only for packages from a source you trust.
                                    TorchScript files load either way. */
    mf_cpu_rewrites cpu_rewrites; /**< MF_CPU_REWRITES_IN_BACKGROUND (default), _AT_LOAD or _NONE:
                                    whether and when a TorchScript network on the CPU is rewritten
                                    (above). */
} mf_load_options;

/** Fills *opts with the defaults: CPU, fp32, threads unchanged, no JIT profiling, no .pt2, CPU
 *  rewrites in the background. */
static inline void mf_load_options_init(mf_load_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->struct_size = (uint32_t)sizeof *opts;
  opts->device = MF_DEVICE_CPU;
  opts->precision = MF_PRECISION_FP32;
  opts->cpu_rewrites = MF_CPU_REWRITES_IN_BACKGROUND;
}

/** Loads a TorchScript export or, with opts->allow_native_code, an AOTInductor package (.pt2;
 *  told apart by content, not by name) with its maskformer.json metadata, and checks it with a
 *  small forward pass on the target device (64x64, or a package's smallest compiled size).
 *  A package is checked against this device, precision, CPU and LibTorch before any of its code
 *  runs: one compiled for another device or precision fails with UNSUPPORTED, one from a newer
 *  torch with MODEL_FORMAT; a LibTorch older than 2.6 cannot load packages (UNSUPPORTED).
 *  [in] path: file name (UTF-8). [in] opts: options, or NULL for the defaults.
 *  [out] *out_model: the model on MF_OK, NULL otherwise; release with mf_model_free.
 *  Fails with INVALID_ARGUMENT, IO (missing/unreadable file), MODEL_FORMAT (not TorchScript,
 *  truncated, no or bad metadata, outputs not of the MaskFormer contract; a training checkpoint
 *  written by torch.save is named as such, with models/export.py to convert it), UNSUPPORTED (no such
 *  CUDA device, precision not available on the device), OUT_OF_MEMORY or CUDA. Thread-safe. */
MF_API mf_status mf_model_load(const char *path, const mf_load_options *opts,
                               mf_model **out_model);

/** Loads a TorchScript export held in memory, with the checks and the test forward pass of
 *  mf_model_load. The bytes are read during the call only (no copy is kept): the caller may free
 *  them when it returns. AOTInductor packages load from files only (MODEL_FORMAT here).
 *  [in] data, size: the file's bytes (size > 0). [in] name: what messages call the model (e.g.
 *  a resource name; NULL or "" gives "<memory>"). [in] opts: options, or NULL for the defaults.
 *  [out] *out_model: the model on MF_OK, NULL otherwise; release with mf_model_free.
 *  Fails like mf_model_load, without IO. Thread-safe. */
MF_API mf_status mf_model_load_memory(const void *data, int64_t size, const char *name,
                                      const mf_load_options *opts, mf_model **out_model);

/** Releases a model; NULL is ignored. The caller must ensure no other call uses the model. */
MF_API void mf_model_free(mf_model *model);

/** Fixed-size facts about a loaded model. Fill struct_size (mf_model_info_init) first. */
typedef struct mf_model_info {
    uint32_t struct_size;    /**< sizeof(mf_model_info). */
    int32_t num_classes;     /**< K: labels are 0..K-1. */
    int32_t num_queries;     /**< Q. */
    int32_t device;          /**< MF_DEVICE_CPU or the CUDA index. */
    mf_precision precision;  /**< Precision the network runs in. */
    int32_t resize_long;     /**< Test-time resize: long side <= resize_long ... */
    int32_t resize_short;    /**< ... and short side <= resize_short (keep ratio). */
    int32_t format_version;  /**< Metadata format version. */
    double mean[3];          /**< Normalisation mean, RGB order, on 0..255 values. */
    double std[3];           /**< Normalisation std, RGB order. */
    const char *variant;     /**< Variant name from the metadata ("" if absent), owned by the
                                  model, valid while it lives. */
    const char *cpu_rewrites; /**< The CPU rewrites in force, owned by the model: "none", or
                                  the passes with what they changed and cost, e.g. "freeze,linear,
                                  gelu,conv,channels_last: 59 linear (10 with GELU), ... (rewrites
                                  140 ms)"; "none (...)" says why none are (turned off, or the
                                  rewritten network failed the load's test forward pass or, made
                                  in the background, its comparison); "in the background (...)"
                                  while they are being made (a later mf_model_get_info gives the
                                  outcome; both texts stay valid while the model lives). */
} mf_model_info;

/** Sets info->struct_size and zeroes the rest. */
static inline void mf_model_info_init(mf_model_info *info) {
  memset(info, 0, sizeof *info);
  info->struct_size = (uint32_t)sizeof *info;
}

/** Blocks until the CPU rewrites made in the background (MF_CPU_REWRITES_IN_BACKGROUND) are done:
 *  calls made after it returns run the network mf_model_get_info's cpu_rewrites names. Returns at
 *  once for other models. Thread-safe; the wait lasts as long as the rewrite (on 2 idle cores
 *  about 0.3 s for the demo model, 1.1 s for Swin-T; longer while calls keep the cores busy, as
 *  the rewrite runs at a lower priority). */
MF_API mf_status mf_model_await_cpu_rewrites(const mf_model *model);

/** Stops every CPU rewrite still running in the background and waits for its thread; none starts
 *  afterwards (models keep running the network they run now: the exported one, or the rewritten
 *  one if it was done). For the end of a process: LibTorch's globals must not be destroyed while a
 *  rewrite runs, so a program that exits with models loaded calls this (or frees its models)
 *  first. The Java side calls it from a shutdown hook. Thread-safe; idempotent. */
MF_API void mf_stop_cpu_rewrites(void);

/** Copies the model's facts that fit in out->struct_size into *out. Fails with INVALID_ARGUMENT.
 *  Thread-safe. */
MF_API mf_status mf_model_get_info(const mf_model *model, mf_model_info *out);

/** File formats of a loaded model (append-only). */
#define MF_FORMAT_TORCHSCRIPT 0 /**< TorchScript archive (.pt): runs at any size, device, precision. */
#define MF_FORMAT_AOTI 1        /**< AOTInductor package (.pt2): compiled code for one device,
                                     one precision and the network sizes it lists. */

/** [out] *out_format: MF_FORMAT_TORCHSCRIPT or MF_FORMAT_AOTI. Fails with INVALID_ARGUMENT.
 *  Thread-safe. */
MF_API mf_status mf_model_format(const mf_model *model, int32_t *out_format);

/** The maskformer.json text stored in the export (UTF-8, NUL-terminated), owned by the model.
 *  [out] *out_length (may be NULL): its length in bytes. Thread-safe. */
MF_API mf_status mf_model_metadata_json(const mf_model *model, const char **out_json,
                                        int64_t *out_length);

/** Name of class `index` (0..K-1), UTF-8, owned by the model. Thread-safe. */
MF_API mf_status mf_model_class_name(const mf_model *model, int32_t index, const char **out_name);

/** Writes the palette, 3 bytes (R, G, B) per class, into out_rgb (size >= 3*K). Thread-safe. */
MF_API mf_status mf_model_palette(const mf_model *model, uint8_t *out_rgb, int64_t size);

/** Network input size (after the test-time resize) for an image of width x height.
 *  [out] *out_width, *out_height. Thread-safe. */
MF_API mf_status mf_model_input_size(const mf_model *model, int32_t width, int32_t height,
                                     int32_t *out_width, int32_t *out_height);

/* ============================================================================================= */
/* Inference                                                                                     */
/* ============================================================================================= */

/** Layout of the pixels in caller memory. Packed formats: one plane of 3 or 4 bytes per pixel
 *  (alpha is ignored). YUV formats (ABI 3): 8-bit 4:2:0 as video decoders produce it, a luma
 *  plane of width x height bytes and chroma planes of ceil(width/2) x ceil(height/2) samples
 *  (odd sizes round up, as in ffmpeg), each plane with its own row stride. */
typedef int32_t mf_pixel_format;
#define MF_PIXEL_RGB 0
#define MF_PIXEL_BGR 1
#define MF_PIXEL_RGBA 2
#define MF_PIXEL_BGRA 3
#define MF_PIXEL_NV12 4 /**< Y plane, then one plane of interleaved U,V byte pairs (chroma[0]). */
#define MF_PIXEL_I420 5 /**< Y plane, U plane (chroma[0]), V plane (chroma[1]); ffmpeg's yuv420p. */
#define MF_PIXEL_NV21 6 /**< As NV12 with V,U pairs (Android's camera format). */

/** The colour matrix of a YUV frame (ignored for packed formats). The default, BT.601, is what
 *  ffmpeg assumes for a frame that does not say (and what SD video and JPEG use); HD video is
 *  usually BT.709: take it from the stream (ffprobe's color_space). */
typedef int32_t mf_yuv_matrix;
#define MF_YUV_BT601 0  /**< ITU-R BT.601 (ffmpeg's bt470bg, smpte170m, and unspecified). */
#define MF_YUV_BT709 1  /**< ITU-R BT.709. */
#define MF_YUV_BT2020 2 /**< ITU-R BT.2020 non-constant luminance (8-bit samples). */

/** The value range of a YUV frame (ignored for packed formats). */
typedef int32_t mf_yuv_range;
#define MF_YUV_LIMITED 0 /**< Y 16..235, U and V 16..240 ("tv", MPEG): the default, as in ffmpeg. */
#define MF_YUV_FULL 1    /**< 0..255 ("pc", JPEG; ffmpeg's yuvj420p). */

/** One chroma plane of a YUV image, in caller memory. */
typedef struct mf_plane {
    const uint8_t *data;  /**< First sample of the plane's first row. */
    int64_t size;         /**< Bytes readable from data: >= (rows-1)*stride + row bytes. */
    int64_t stride;       /**< Bytes from one row to the next, >= the row's bytes: ceil(width/2)
                               for I420, 2*ceil(width/2) for NV12/NV21. */
} mf_plane;

/** One input image in caller memory: 8 bits per sample, rows of `stride` bytes. Borrowed for the
 *  duration of the call only; never written. Fill with mf_image_init() first: a packed image
 *  leaves matrix, range and chroma as they are (they are not read), and a YUV image with matrix
 *  and range zero is BT.601, limited range. */
typedef struct mf_image {
    uint32_t struct_size;    /**< sizeof(mf_image) (mf_image_init); entries of an array of
                                  images lie this far apart. */
    mf_pixel_format format;  /**< One of MF_PIXEL_*. */
    const uint8_t *data;     /**< First pixel of the first row (YUV: of the Y plane). */
    int64_t data_size;       /**< Bytes readable from data: >= (height-1)*stride + width*channels
                                  (YUV: >= (height-1)*stride + width). */
    int32_t width;           /**< 1..MF_MAX_IMAGE_SIDE. */
    int32_t height;          /**< 1..MF_MAX_IMAGE_SIDE. */
    int64_t stride;          /**< Bytes from one row to the next, >= width*channels (YUV: of the
                                  Y plane, >= width). */
    mf_yuv_matrix matrix;    /**< YUV: MF_YUV_BT601 (0, default), _BT709 or _BT2020. */
    mf_yuv_range range;      /**< YUV: MF_YUV_LIMITED (0, default) or MF_YUV_FULL. */
    mf_plane chroma[2];      /**< YUV: NV12/NV21 chroma[0] (chroma[1].data NULL); I420 U in
                                  chroma[0], V in chroma[1]. Planes may lie anywhere, in the
                                  same buffer as the Y plane or not. */
} mf_image;

/** Sets struct_size and zeroes the rest (no pixels: data NULL). */
static inline void mf_image_init(mf_image *image) {
  memset(image, 0, sizeof *image);
  image->struct_size = (uint32_t)sizeof *image;
}

/** The packed RGB that the model's pre-processing starts from for `image` (before the resize):
 *  for packed formats the channels reordered; for YUV formats ffmpeg's own conversion to rgb24
 *  (swscale as ffmpeg 5.1 runs it on x86 with its default flags: for even heights each chroma
 *  sample covers its 2x2 block, in swscale's 16-bit fixed point; for odd heights ffmpeg's general
 *  scaler, whose default bicubic filter interpolates chroma vertically, and horizontally too
 *  when the width is odd), the same bytes as `ffmpeg -pix_fmt rgb24` for the same frame.
 *  Runs on the CPU, for overlays and checks; mf_model_segment does the same on the model's device.
 *  [in] image: as for mf_model_segment (validated the same way). [out] out_rgb: width*height*3
 *  bytes, rows of width*3, written during the call. The `keep_count` trailing arguments are not
 *  read (as in mf_model_segment). Fails with INVALID_ARGUMENT or OUT_OF_MEMORY. Thread-safe. */
MF_API mf_status mf_image_to_rgb(const mf_image *image, uint8_t *out_rgb, int64_t out_size,
                                 int32_t keep_count, ...);

/** Element type of label maps. */
typedef int32_t mf_label_type;
#define MF_LABEL_U8 0   /**< uint8; needs K <= 256. */
#define MF_LABEL_I32 1  /**< int32, 4-byte aligned. */

/** Element type of a confidence map. */
typedef int32_t mf_confidence_type;
#define MF_CONFIDENCE_U8 0  /**< uint8: round(255 * min(score, 1)). */
#define MF_CONFIDENCE_F32 1 /**< float32, 4-byte aligned: the score itself. */

/** One segment of a frame, written by mf_model_segment. Segments are computed at the frame size:
 *  mask probabilities are the mask logits upsampled to the network input, sigmoid, resized
 *  bilinearly to the frame. */
typedef struct mf_segment_info {
    uint32_t struct_size; /**< The caller's sizeof(mf_segment_info), in the array's first entry
                               (entries lie this far apart); written to each entry. */
    int32_t id;           /**< 1.. in the segment-id map; segments are listed by ascending id. */
    int32_t class_index;  /**< Label 0..K-1. */
    float score;          /**< Mean over the segment's pixels of the owning query's class
                               probability x its mask probability (one query: class probability x
                               mean mask probability inside the segment). */
    int32_t query;        /**< The (first) query that made the segment, 0..Q-1. */
    int64_t area;         /**< Pixels of the segment. */
    int32_t x0, y0;       /**< Bounding box: first column and row (inclusive) ... */
    int32_t x1, y1;       /**< ... and one past the last (exclusive). */
} mf_segment_info;

/** Where the results of one image go: caller memory, written during the call. Fill with
 *  mf_output_init() first; labels are required, every other pointer may be NULL (that result is
 *  then not made). Segments are made when segment_ids or segments is set. */
typedef struct mf_output {
    uint32_t struct_size;      /**< sizeof(mf_output) (mf_output_init); entries of an array of
                                    outputs lie this far apart. */
    mf_label_type label_type;  /**< MF_LABEL_U8 (default; needs K <= 256) or MF_LABEL_I32. */
    void *labels;              /**< width*height labels, row-major, same size as the input image. */
    int64_t labels_size;       /**< Bytes available at labels. */
    float *scores;             /**< NULL, or K*height*width floats (class-major), 4-byte aligned:
                                    the per-class scores that the argmax picks from. */
    int64_t scores_size;       /**< Bytes available at scores. */
    int32_t *segment_ids;      /**< NULL, or width*height int32 (4-byte aligned): the id of each
                                    pixel's segment, 0 for "no segment". */
    int64_t segment_ids_size;  /**< Bytes available at segment_ids. */
    mf_segment_info *segments; /**< NULL, or segments_capacity entries, segments[0].struct_size
                                    set. At most Q segments exist, so a capacity of num_queries
                                    always suffices. */
    int32_t segments_capacity; /**< Entries available at segments (>= 0). */
    int32_t segments_count;    /**< [out] Segments found (all of them, even when more than
                                    segments_capacity: then only that many were written). */
    void *confidence;          /**< NULL, or width*height values of confidence_type: the winning
                                    class's score at each pixel. */
    int64_t confidence_size;   /**< Bytes available at confidence. */
    mf_confidence_type confidence_type; /**< MF_CONFIDENCE_U8 (default) or _F32. */
} mf_output;

/** Sets struct_size and zeroes the rest (uint8 labels, no further results). */
static inline void mf_output_init(mf_output *out) {
  memset(out, 0, sizeof *out);
  out->struct_size = (uint32_t)sizeof *out;
}

/** Semantic inference rule: how the class scores that the labels are argmaxed from are made. */
typedef int32_t mf_semantic_rule;
#define MF_SEMANTIC_PROBABILISTIC 0 /**< sssegmentation's (default): einsum over every query. */
#define MF_SEMANTIC_ITERATIVE 1     /**< The official MaskFormer's "iterative" rule: at the network
                                         input size, a query q of class c_q (argmax of its K class
                                         probabilities) is dropped when the pixels of its binary
                                         mask (probability >= 0.5) that the probabilistic labels
                                         give c_q, divided by its binary mask's pixels, is below
                                         iterative_overlap (a query with an empty binary mask is
                                         kept); the scores are then the einsum over the kept
                                         queries (all zero when none is kept). */

/** Options of mf_model_segment. Fill with mf_segment_options_init() first. Thresholds are finite
 *  numbers in [0, 1]; anything else is INVALID_ARGUMENT. */
typedef struct mf_segment_options {
    uint32_t struct_size;            /**< sizeof(mf_segment_options) (mf_segment_options_init). */
    int32_t resize;                  /**< 1 (default): the model's test-time resize; 0: the
                                          network sees each image at its own size. Outputs always
                                          have the input image's size. */
    mf_semantic_rule semantic_rule;  /**< MF_SEMANTIC_PROBABILISTIC (default) or _ITERATIVE. */
    int32_t merge_same_class;        /**< 1: a segment whose class already has one joins it
                                          (MaskFormer's rule for "stuff"); 0 (default): one
                                          segment per surviving query. */
    double iterative_overlap;        /**< Overlap threshold of the iterative rule (0.8). */
    double object_threshold;         /**< Segments: a query takes part when its most probable
                                          class is not "no object" and that probability is
                                          > object_threshold (0.8, MaskFormer's default). */
    double overlap_threshold;        /**< Segments: a query's pixels (where its probability x
                                          mask probability is the largest of the taking part
                                          queries) divided by its mask's pixels (mask probability
                                          >= 0.5) must be >= overlap_threshold (0.8). */
} mf_segment_options;

/** Fills *opts with the defaults: the model's resize, the probabilistic rule, thresholds 0.8, no
 *  merging. */
static inline void mf_segment_options_init(mf_segment_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->struct_size = (uint32_t)sizeof *opts;
  opts->resize = 1;
  opts->semantic_rule = MF_SEMANTIC_PROBABILISTIC;
  opts->iterative_overlap = 0.8;
  opts->object_threshold = 0.8;
  opts->overlap_threshold = 0.8;
}

/** Segments `count` images; image i's results go to outputs[i] (both arrays of struct_size
 *  strides, see "Short structs"). Images whose network input sizes are equal run as one batched
 *  forward pass; others run in groups by size. All arguments are validated before any work
 *  starts. [in] opts: NULL for mf_segment_options_init's defaults.
 *  The `keep_count` trailing arguments (pointers to the image and output memory) are not read:
 *  C callers pass 0 and nothing more. Passing each buffer as a call argument lets a runtime that
 *  manages memory lifetimes keep it alive for the duration of the call; Java's FFM, for one, then
 *  refuses to free the memory while the call runs instead of letting native code read freed
 *  memory.
 *  On CUDA each call runs on a stream of the device's stream pool and returns when its results
 *  are in caller memory. Concurrent calls on one model are safe.
 *  Fails with INVALID_ARGUMENT (message names the image or output), OUT_OF_MEMORY, CUDA,
 *  NOT_FINITE, MODEL_FORMAT (the network's outputs broke the MaskFormer contract) or INTERNAL;
 *  outputs are then unspecified. */
MF_API mf_status mf_model_segment(mf_model *model, const mf_image *images, mf_output *outputs,
                                  int32_t count, const mf_segment_options *opts,
                                  int32_t keep_count, ...);

/** Runs the network once per listed image size (width, height pairs) so that later calls at those
 *  sizes find everything initialised; waits for the CPU rewrites made in the background first
 *  (mf_model_await_cpu_rewrites), so that it warms the network later calls run. [in] sizes:
 *  2*count int32 values. Thread-safe. */
MF_API mf_status mf_model_warmup(mf_model *model, const int32_t *sizes, int32_t count);

/* ============================================================================================= */
/* Benchmarks                                                                                    */
/* ============================================================================================= */

/** Times the network's forward pass alone (no pre- or post-processing) on an all-zero batch of
 *  `batch` images at the network input size width x height: one untimed pass, then `iters`
 *  timed ones, each waited for on CUDA. [out] out_ms: `iters` doubles, milliseconds per pass.
 *  Fails with INVALID_ARGUMENT (sizes, batch 1..1024, iters 1..100000), OUT_OF_MEMORY, CUDA,
 *  INTERNAL. Thread-safe. */
MF_API mf_status mf_model_benchmark_forward(const mf_model *model, int32_t width, int32_t height,
                                            int32_t batch, int32_t iters, double *out_ms);

/** Measured matrix-multiply throughput of this LibTorch: n x n by n x n products in `precision`
 *  on `device` (MF_DEVICE_CPU or a CUDA index), both as at::mm (BLAS) and as a 1x1 convolution
 *  over n pixels (oneDNN / cuDNN), the best of `iters` after one warm-up, in GFLOP/s (2 per
 *  multiply-add) at the current thread count. n in 64..8192, iters 1..1000.
 *  Fails with INVALID_ARGUMENT, UNSUPPORTED (device, or fp16 on the CPU), OUT_OF_MEMORY. */
MF_API mf_status mf_benchmark_matmul(int32_t device, mf_precision precision, int32_t n,
                                     int32_t iters, double *out_gflops);

/* ============================================================================================= */
/* Diagnostics                                                                                   */
/* ============================================================================================= */

/** Number of live handles (models and host buffers) in the process; 0 after everything was
 *  freed. For leak tests. Thread-safe. */
MF_API int64_t mf_debug_live_handles(void);

/** Minor page faults of the process so far (getrusage), for benchmarks. Thread-safe. */
MF_API int64_t mf_debug_page_faults(void);

#ifdef __cplusplus
}
#endif

#endif /* MASKFORMER_H */
