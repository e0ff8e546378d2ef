// SPDX-License-Identifier: Apache-2.0
// Facts about the process the shim runs in: the LibTorch actually loaded, CPU features, thread
// counts, and throughput measurements for benchmarks.
#pragma once

#include <cstdint>
#include <string>

#include "maskformer.h"

namespace maskformer {

// "X.Y" of a version string ("2.13.0a0+git" -> "2.13").
std::string major_minor(const std::string& version);
// Whether version "X.Y" is newer than "A.B" (numerically; false when either is no version).
bool newer(const std::string& a, const std::string& b);

// TORCH_VERSION as the loaded libtorch_cpu reports it (at::show_config), and that library's file.
const std::string& loaded_libtorch_version();
const std::string& loaded_libtorch_file();
// Throws Error(MF_ERR_UNSUPPORTED) when the loaded LibTorch's major.minor is not the compiled one.
void require_compiled_libtorch();

int32_t cpu_features();  // MF_CPU_* bits
bool cpu_has_native_bf16();

int max_threads();
int default_threads();
// How many threads one at::parallel_for in the shim's own code runs on, for a range of n items
// with grain 1 (at most the intra-op count). At::parallel_for parallelises in its caller's code
// (`#pragma omp parallel` in a LibTorch header): 1 with two or more threads means the shim was
// compiled without the OpenMP LibTorch uses, and its loops run on the calling thread (cpu_paths).
int shim_parallel_team(int64_t n);
// mf_set_num_threads: validated, remembered as the process's explicit choice.
void set_threads(int n);
// Applies default_threads() once, unless a count was chosen (set_threads, OMP_NUM_THREADS).
void apply_default_threads();
// NNPACK switched off, without its warnings, where it cannot run on this CPU (once per process)
void quiet_unusable_nnpack();

// cudaMemGetInfo of a device (UNSUPPORTED in a shim built without CUDA).
void cuda_memory(int device, int64_t* free_bytes, int64_t* total_bytes);

// Best GFLOP/s of n x n matrix products on `device` in `dtype`.
double matmul_gflops(int device, mf_precision precision, int n, int iters);

}  // namespace maskformer
