// SPDX-License-Identifier: Apache-2.0
#include "runtime.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <c10/util/Logging.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <dlfcn.h>
#include <sched.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#ifdef MF_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
#endif

#include "error.hpp"

namespace maskformer {

namespace {

struct Loaded {
  std::string version;
  std::string file;
};

const Loaded& loaded() {
  static const Loaded facts = [] {
    Loaded l;
    try {
      const std::string config = at::show_config();
      const std::string key = "TORCH_VERSION=";
      const size_t at = config.find(key);
      if (at != std::string::npos) {
        const size_t end = config.find_first_of(", \n", at + key.size());
        l.version = config.substr(at + key.size(), end == std::string::npos ? std::string::npos
                                                                           : end - at - key.size());
      }
    } catch (...) {
      l.version.clear();
    }
    Dl_info info{};
    std::string (*probe)() = &at::show_config;
    if (dladdr(reinterpret_cast<void*>(probe), &info) != 0 && info.dli_fname != nullptr)
      l.file = info.dli_fname;
    return l;
  }();
  return facts;
}

#if defined(__x86_64__) || defined(__i386__)
uint64_t xcr0() {
  uint32_t eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (uint64_t(edx) << 32) | eax;
}
#endif

int32_t detect_cpu_features() {
  int32_t bits = 0;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0;  // no OSXSAVE
  const uint64_t os = xcr0();
  const bool avx_state = (os & 0x6) == 0x6;           // SSE + AVX registers
  const bool avx512_state = avx_state && (os & 0xE0) == 0xE0;  // opmask, ZMM
  const bool amx_state = (os & (3ull << 17)) == (3ull << 17);  // XTILECFG + XTILEDATA
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  const unsigned leaf7_max = a;
  if (avx_state && (b & (1u << 5))) bits |= MF_CPU_AVX2;
  if (avx512_state && (b & (1u << 16))) bits |= MF_CPU_AVX512;
  if (amx_state && (d & (1u << 22)) && (d & (1u << 24))) bits |= MF_CPU_AMX_BF16;
  if (leaf7_max >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d) && avx512_state && (a & (1u << 5)))
    bits |= MF_CPU_AVX512_BF16;
#endif
  return bits;
}

// CPUs this process may run on: its affinity mask, and a cgroup v2 CPU quota when one is set.
int usable_cpus() {
  int n = 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) n = CPU_COUNT(&set);
  if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
  std::ifstream quota_file("/sys/fs/cgroup/cpu.max");
  std::string quota;
  long long period = 0;
  if (quota_file >> quota >> period && quota != "max" && period > 0) {
    const long long q = std::atoll(quota.c_str());
    if (q > 0) n = std::min<long long>(n, std::max<long long>(1, (q + period - 1) / period));
  }
  return std::max(1, n);
}

std::atomic<bool> threads_chosen{false};
std::once_flag default_once;

}  // namespace

std::string major_minor(const std::string& version) {
  const size_t first = version.find('.');
  if (first == std::string::npos) return version;
  const size_t second = version.find_first_not_of("0123456789", first + 1);
  return version.substr(0, second);
}

bool newer(const std::string& a, const std::string& b) {
  int a1 = 0, a2 = 0, b1 = 0, b2 = 0;
  if (std::sscanf(a.c_str(), "%d.%d", &a1, &a2) < 1 || std::sscanf(b.c_str(), "%d.%d", &b1, &b2) < 1)
    return false;
  return a1 != b1 ? a1 > b1 : a2 > b2;
}

const std::string& loaded_libtorch_version() { return loaded().version; }
const std::string& loaded_libtorch_file() { return loaded().file; }

void require_compiled_libtorch() {
  const std::string& running = loaded_libtorch_version();
  if (running.empty()) return;  // a LibTorch that does not say: nothing to compare
  if (major_minor(running) != major_minor(TORCH_VERSION))
    fail(MF_ERR_UNSUPPORTED, std::string("the shim was compiled against LibTorch ") + TORCH_VERSION +
                                 ", but LibTorch " + running + " is loaded in this process (" +
                                 loaded_libtorch_file() +
                                 "): rebuild the shim against it, or remove that LibTorch's folder "
                                 "from LD_LIBRARY_PATH");
}

int32_t cpu_features() {
  static const int32_t bits = detect_cpu_features();
  return bits;
}

bool cpu_has_native_bf16() { return (cpu_features() & (MF_CPU_AVX512_BF16 | MF_CPU_AMX_BF16)) != 0; }

int shim_parallel_team(int64_t n) {
  std::atomic<uint64_t> seen{0};
  at::parallel_for(0, n, 1, [&](int64_t, int64_t) {
    const int t = at::get_thread_num();
    seen.fetch_or(uint64_t(1) << (t < 0 ? 0 : std::min(t, 63)));
  });
  return __builtin_popcountll(seen.load());
}

int max_threads() {
  static const int n = std::min(1024, std::max(4, 4 * usable_cpus()));
  return n;
}

int default_threads() {
  static const int n = std::min(64, usable_cpus());
  return n;
}

void set_threads(int n) {
  require(n >= 1 && n <= max_threads(), "thread count must be 1.." + std::to_string(max_threads()) +
                                            " (4 x the " + std::to_string(usable_cpus()) +
                                            " CPUs this process may use), got " + std::to_string(n));
  threads_chosen = true;
  at::set_num_threads(n);
}

void quiet_unusable_nnpack() {
  static std::once_flag once;
  std::call_once(once, [] {
    // LibTorch asks NNPACK before every convolution whether it can run and, on a CPU it cannot
    // initialise (x86 machines where its CPU check fails), logs "Could not initialize NNPACK!"
    // each time: a load printed 11 such lines. Asked once with warnings off; when it cannot run,
    // convolutions stop asking (they take the same oneDNN/ATen kernels as before).
    const int level = FLAGS_caffe2_log_level;
    FLAGS_caffe2_log_level = 2;  // errors only
    bool usable = false;
    try {
      usable = at::_nnpack_available();
    } catch (const std::exception&) {
    }
    FLAGS_caffe2_log_level = level;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
    if (!usable) at::globalContext().setUserEnabledNNPACK(false);
#else
    (void)usable;  // LibTorch 1.13 has no such switch (Debian's printed no NNPACK warnings here)
#endif
  });
}

void apply_default_threads() {
  std::call_once(default_once, [] {
    const char* env = std::getenv("OMP_NUM_THREADS");
    if (threads_chosen || (env != nullptr && env[0] != '\0')) return;
    at::set_num_threads(default_threads());
  });
}

void cuda_memory(int device, int64_t* free_bytes, int64_t* total_bytes) {
#ifdef MF_WITH_CUDA
  if (!torch::cuda::is_available() || device < 0 || device >= static_cast<int>(torch::cuda::device_count()))
    fail(MF_ERR_UNSUPPORTED, "cuda:" + std::to_string(device) + " is not available here");
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device));
  size_t free_now = 0, total = 0;
  const cudaError_t status = cudaMemGetInfo(&free_now, &total);
  if (status != cudaSuccess) fail(MF_ERR_CUDA, std::string("cudaMemGetInfo: ") + cudaGetErrorString(status));
  if (free_bytes != nullptr) *free_bytes = static_cast<int64_t>(free_now);
  if (total_bytes != nullptr) *total_bytes = static_cast<int64_t>(total);
#else
  (void)free_bytes;
  (void)total_bytes;
  fail(MF_ERR_UNSUPPORTED, "cuda:" + std::to_string(device) + ": this shim was built against a LibTorch without CUDA");
#endif
}

double matmul_gflops(int device, mf_precision precision, int n, int iters) {
  require(n >= 64 && n <= 8192, "matmul size must be 64..8192, got " + std::to_string(n));
  require(iters >= 1 && iters <= 1000, "iterations must be 1..1000, got " + std::to_string(iters));
  require(precision >= MF_PRECISION_FP32 && precision <= MF_PRECISION_BF16,
          "unknown precision " + std::to_string(precision));
  at::Device dev(at::kCPU);
  if (device >= 0) {
    if (!torch::cuda::is_available() || device >= static_cast<int>(torch::cuda::device_count()))
      fail(MF_ERR_UNSUPPORTED, "cuda:" + std::to_string(device) + " is not available here");
    dev = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device));
  } else {
    require(device == MF_DEVICE_CPU, "device must be -1 (CPU) or a CUDA index");
    if (precision == MF_PRECISION_FP16) fail(MF_ERR_UNSUPPORTED, "fp16 matmul is measured on CUDA only");
  }
  const at::ScalarType dtype = precision == MF_PRECISION_FP16   ? at::kHalf
                               : precision == MF_PRECISION_BF16 ? at::kBFloat16
                                                                : at::kFloat;
  c10::InferenceMode inference;
  auto opts = at::TensorOptions().device(dev).dtype(dtype);
  auto sync = [&] {
    if (dev.is_cuda()) c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->getStream(dev).synchronize();
  };
  // Two kernels that do the same n^3 multiply-adds: at::mm (BLAS: MKL or OpenBLAS on the CPU)
  // and a 1x1 convolution over n pixels (oneDNN on the CPU, cuDNN on CUDA). Which one is faster
  // depends on the CPU (MKL, for one, has no AVX-512 path on AMD), and the network uses both.
  const int64_t rows = 32, n64 = n;
  at::Tensor a = at::rand({n64, n64}, opts), b = at::rand({n64, n64}, opts);
  at::Tensor c = at::empty({n64, n64}, opts);
  at::Tensor image = at::rand({1, n64, rows, (n64 + rows - 1) / rows}, opts);
  at::Tensor weight = at::rand({n64, n64, 1, 1}, opts);
  const double conv_flops = 2.0 * double(n64) * n64 * rows * image.size(3);
  const double mm_flops = 2.0 * double(n64) * n64 * n64;
  at::mm_out(c, a, b);
  at::conv2d(image, weight);
  sync();
  double best = 0;
  for (int i = 0; i < iters; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    at::mm_out(c, a, b);
    sync();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, mm_flops / s / 1e9);
    t0 = std::chrono::steady_clock::now();
    at::Tensor out = at::conv2d(image, weight);
    sync();
    s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, conv_flops / s / 1e9);
  }
  return best;
}

}  // namespace maskformer
