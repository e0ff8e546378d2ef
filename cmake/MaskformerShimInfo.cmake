# SPDX-License-Identifier: Apache-2.0
# What this shim is built for, written to ${CMAKE_BINARY_DIR}/libmaskformer.properties beside it:
# the library version (pom.xml's), the C ABI version (maskformer.h), the platform, the LibTorch
# line (major.minor) and flavour (cpu, or cudaN for a CUDA LibTorch whose toolkit is CUDA N). The
# classifier <platform>-torch<line>-<flavour> names the shim's resource folder
# (dev/maskformer/native/<classifier>/) and its Maven classifier; the Java loader computes it from
# the LibTorch it finds and loads that shim.
file(STRINGS "${CMAKE_CURRENT_LIST_DIR}/../cpp/include/maskformer.h" _mf_abi REGEX "^#define MF_ABI_VERSION [0-9]+")
string(REGEX REPLACE ".* ([0-9]+)$" "\\1" MF_SHIM_ABI "${_mf_abi}")

string(TOLOWER "${CMAKE_SYSTEM_NAME}" _mf_os)
string(TOLOWER "${CMAKE_SYSTEM_PROCESSOR}" _mf_arch)
if(_mf_arch STREQUAL "amd64")
  set(_mf_arch x86_64)
elseif(_mf_arch STREQUAL "arm64")
  set(_mf_arch aarch64)
endif()
set(MF_SHIM_PLATFORM "${_mf_os}-${_mf_arch}")

string(REGEX MATCH "^[0-9]+\\.[0-9]+" MF_SHIM_TORCH_LINE "${Torch_VERSION}")
if(MF_TORCH_HAS_CUDA)
  if(CUDAToolkit_VERSION_MAJOR)
    set(MF_SHIM_FLAVOUR "cuda${CUDAToolkit_VERSION_MAJOR}")
  elseif(CUDA_VERSION_MAJOR)
    set(MF_SHIM_FLAVOUR "cuda${CUDA_VERSION_MAJOR}")
  else()
    message(FATAL_ERROR "a CUDA LibTorch, but the CUDA toolkit's version is unknown (CUDAToolkit_VERSION_MAJOR)")
  endif()
else()
  set(MF_SHIM_FLAVOUR cpu)
endif()
set(MF_SHIM_CLASSIFIER "${MF_SHIM_PLATFORM}-torch${MF_SHIM_TORCH_LINE}-${MF_SHIM_FLAVOUR}")
set(MF_SHIM_PROPERTIES "${CMAKE_BINARY_DIR}/libmaskformer.properties")
file(WRITE "${MF_SHIM_PROPERTIES}"
  "# the maskformer-java native shim: what it was built for (cmake/MaskformerShimInfo.cmake)\n"
  "version=${MASKFORMER_VERSION}\n"
  "abi=${MF_SHIM_ABI}\n"
  "platform=${MF_SHIM_PLATFORM}\n"
  "torch=${Torch_VERSION}\n"
  "torch.line=${MF_SHIM_TORCH_LINE}\n"
  "flavour=${MF_SHIM_FLAVOUR}\n"
  "classifier=${MF_SHIM_CLASSIFIER}\n")
message(STATUS "maskformer: shim ${MASKFORMER_VERSION} (ABI ${MF_SHIM_ABI}) for ${MF_SHIM_CLASSIFIER}")
