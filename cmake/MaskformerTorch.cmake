# SPDX-License-Identifier: Apache-2.0
# Finds LibTorch for the shim, in this order:
#   1. -DLIBTORCH_HOME=<dir> or the LIBTORCH_HOME environment variable (an unpacked LibTorch
#      download, or a Python torch's torch.utils.cmake_prefix_path/..),
#   2. CMAKE_PREFIX_PATH (for example `python3 -c 'import torch; print(torch.utils.cmake_prefix_path)'`),
#   3. the system: Debian's libtorch-dev (/usr/lib/<triplet>/cmake/Torch).
# The error lists every place tried and what to install.

set(_mf_torch_hints "")
if(LIBTORCH_HOME)
  list(APPEND _mf_torch_hints "${LIBTORCH_HOME}" "${LIBTORCH_HOME}/share/cmake/Torch")
endif()
if(DEFINED ENV{LIBTORCH_HOME} AND NOT "$ENV{LIBTORCH_HOME}" STREQUAL "")
  list(APPEND _mf_torch_hints "$ENV{LIBTORCH_HOME}" "$ENV{LIBTORCH_HOME}/share/cmake/Torch")
endif()

find_package(Torch CONFIG QUIET HINTS ${_mf_torch_hints})

if(NOT Torch_FOUND)
  message(FATAL_ERROR
    "LibTorch was not found. Places tried:\n"
    "  LIBTORCH_HOME (cmake or environment): '${_mf_torch_hints}'\n"
    "  CMAKE_PREFIX_PATH: '${CMAKE_PREFIX_PATH}'\n"
    "  system prefixes: '${CMAKE_SYSTEM_PREFIX_PATH}' (Debian: /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/cmake/Torch)\n"
    "Install one of:\n"
    "  Debian/Ubuntu, CPU:   apt-get install libtorch-dev\n"
    "  any LibTorch 2.x:     unpack the download and set LIBTORCH_HOME=<its folder>\n"
    "  Python torch (CUDA):  export CMAKE_PREFIX_PATH=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')")
endif()

# Torch's own compile flags (notably -D_GLIBCXX_USE_CXX11_ABI) must match the library's.
separate_arguments(MF_TORCH_CXX_FLAGS UNIX_COMMAND "${TORCH_CXX_FLAGS}")

# Where libtorch*.so live, so the shim finds them at run time without LD_LIBRARY_PATH.
set(MF_TORCH_LIBRARY_DIRS "")
foreach(_lib IN LISTS TORCH_LIBRARIES)
  if(TARGET ${_lib})
    get_target_property(_loc ${_lib} IMPORTED_LOCATION)
    if(NOT _loc)
      get_target_property(_loc ${_lib} IMPORTED_LOCATION_RELEASE)
    endif()
  else()
    set(_loc ${_lib})
  endif()
  if(_loc AND EXISTS "${_loc}")
    get_filename_component(_dir "${_loc}" DIRECTORY)
    list(APPEND MF_TORCH_LIBRARY_DIRS "${_dir}")
  endif()
endforeach()
list(REMOVE_DUPLICATES MF_TORCH_LIBRARY_DIRS)

if(TORCH_CUDA_LIBRARIES OR CAFFE2_USE_CUDA)
  set(MF_TORCH_HAS_CUDA ON)
else()
  set(MF_TORCH_HAS_CUDA OFF)
endif()
message(STATUS "maskformer: LibTorch ${Torch_VERSION} from ${Torch_DIR} (CUDA: ${MF_TORCH_HAS_CUDA}); libraries in ${MF_TORCH_LIBRARY_DIRS}")
