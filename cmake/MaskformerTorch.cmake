# SPDX-License-Identifier: Apache-2.0
# Finds LibTorch for the shim, in this order:
#   1. -DLIBTORCH_HOME=<dir> or the LIBTORCH_HOME environment variable (an unpacked LibTorch
#      download, a Python torch's folder, or a folder holding TorchConfig.cmake),
#   2. CMAKE_PREFIX_PATH (for example `python3 -c 'import torch; print(torch.utils.cmake_prefix_path)'`),
#   3. the system: Debian's libtorch-dev (/usr/lib/<triplet>/cmake/Torch).
# Headers and libraries must come from one LibTorch: a LibTorch outside the system prefixes is
# searched with the system library folders switched off (TorchConfig.cmake's find_library would
# otherwise prefer a system libtorch.so, e.g. Debian's 1.13, to its own), and the result is checked.
# The error lists every place tried and what to install.

set(_mf_torch_hints "")
foreach(_home IN ITEMS "${LIBTORCH_HOME}" "$ENV{LIBTORCH_HOME}")
  if(NOT "${_home}" STREQUAL "")
    list(APPEND _mf_torch_hints "${_home}" "${_home}/share/cmake/Torch")
  endif()
endforeach()

# where TorchConfig.cmake lies, before TorchConfig.cmake itself runs: the hints, else
# CMAKE_PREFIX_PATH, else the system
set(_mf_prefix_candidates "")
foreach(_p IN LISTS CMAKE_PREFIX_PATH)
  list(APPEND _mf_prefix_candidates "${_p}" "${_p}/Torch" "${_p}/share/cmake/Torch" "${_p}/lib/cmake/Torch")
endforeach()
string(REPLACE ":" ";" _mf_env_prefix "$ENV{CMAKE_PREFIX_PATH}")
foreach(_p IN LISTS _mf_env_prefix)
  if(NOT "${_p}" STREQUAL "")
    list(APPEND _mf_prefix_candidates "${_p}" "${_p}/Torch" "${_p}/share/cmake/Torch" "${_p}/lib/cmake/Torch")
  endif()
endforeach()
set(_mf_system_candidates "")
foreach(_p IN LISTS CMAKE_SYSTEM_PREFIX_PATH)
  list(APPEND _mf_system_candidates "${_p}/lib/${CMAKE_LIBRARY_ARCHITECTURE}/cmake/Torch"
       "${_p}/lib/cmake/Torch" "${_p}/share/cmake/Torch")
endforeach()
set(_mf_torch_config_dir "")
# nothing named this time: the LibTorch of the last configure (as CMake keeps Torch_DIR)
if(NOT _mf_torch_hints AND NOT _mf_prefix_candidates AND MF_TORCH_CONFIG_DIR
   AND EXISTS "${MF_TORCH_CONFIG_DIR}/TorchConfig.cmake")
  set(_mf_torch_config_dir "${MF_TORCH_CONFIG_DIR}")
endif()
foreach(_candidates IN ITEMS _mf_torch_hints _mf_prefix_candidates _mf_system_candidates)
  if(NOT _mf_torch_config_dir AND ${_candidates})
    find_path(_mf_found TorchConfig.cmake PATHS ${${_candidates}} NO_DEFAULT_PATH NO_CACHE)
    if(_mf_found)
      set(_mf_torch_config_dir "${_mf_found}")
    elseif(_candidates STREQUAL "_mf_torch_hints")
      message(FATAL_ERROR "LIBTORCH_HOME is set, but no TorchConfig.cmake lies in: ${_mf_torch_hints}")
    endif()
    unset(_mf_found)
  endif()
endforeach()

# another LibTorch than at the last configure: forget everything found for the previous one
if(DEFINED MF_TORCH_CONFIG_DIR AND NOT "${MF_TORCH_CONFIG_DIR}" STREQUAL "${_mf_torch_config_dir}")
  message(STATUS "maskformer: LibTorch changed (${MF_TORCH_CONFIG_DIR} -> ${_mf_torch_config_dir}): clearing cached library paths")
  get_cmake_property(_mf_cache CACHE_VARIABLES)
  foreach(_var IN LISTS _mf_cache)
    get_property(_type CACHE "${_var}" PROPERTY TYPE)
    if((_type STREQUAL "FILEPATH" OR _type STREQUAL "PATH") AND NOT _var MATCHES "^(CMAKE_|MF_)")
      unset("${_var}" CACHE)
    endif()
  endforeach()
endif()
set(MF_TORCH_CONFIG_DIR "${_mf_torch_config_dir}" CACHE INTERNAL "TorchConfig.cmake folder of the last configure")

set(_mf_system_torch OFF)
if(_mf_torch_config_dir)
  get_filename_component(_real "${_mf_torch_config_dir}" REALPATH)
  foreach(_sys IN LISTS CMAKE_SYSTEM_PREFIX_PATH)
    if(_sys STREQUAL "/usr" OR _sys STREQUAL "/usr/local" OR _sys STREQUAL "/")
      if(_real MATCHES "^${_sys}/lib(/${CMAKE_LIBRARY_ARCHITECTURE})?/cmake/Torch$")
        set(_mf_system_torch ON)
      endif()
    endif()
  endforeach()
  if(NOT _mf_system_torch)
    # the CUDA toolkit is a system component: name it before the system folders go out of sight
    if(NOT CUDA_TOOLKIT_ROOT_DIR AND NOT DEFINED ENV{CUDA_HOME})
      find_program(_mf_nvcc nvcc HINTS /usr/local/cuda/bin NO_CACHE)
      if(_mf_nvcc)
        get_filename_component(_mf_nvcc "${_mf_nvcc}" REALPATH)
        get_filename_component(_mf_cuda_root "${_mf_nvcc}" DIRECTORY)
        get_filename_component(_mf_cuda_root "${_mf_cuda_root}" DIRECTORY)
        set(CUDA_TOOLKIT_ROOT_DIR "${_mf_cuda_root}")
        set(CUDAToolkit_ROOT "${_mf_cuda_root}")
        if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
          set(CMAKE_CUDA_COMPILER "${_mf_nvcc}")
        endif()
      endif()
    endif()
    # a CUDA LibTorch enables CMake's CUDA language, whose compiler check needs an architecture;
    # the shim has no CUDA sources of its own, so any will do (90: H100/H200)
    if(NOT CMAKE_CUDA_ARCHITECTURES AND NOT DEFINED ENV{CUDAARCHS})
      set(CMAKE_CUDA_ARCHITECTURES 90)
    endif()
    set(CMAKE_FIND_USE_CMAKE_SYSTEM_PATH FALSE)
    set(CMAKE_FIND_USE_SYSTEM_ENVIRONMENT_PATH FALSE)
  endif()
  find_package(Torch CONFIG QUIET PATHS "${_mf_torch_config_dir}" NO_DEFAULT_PATH)
  unset(CMAKE_FIND_USE_CMAKE_SYSTEM_PATH)
  unset(CMAKE_FIND_USE_SYSTEM_ENVIRONMENT_PATH)
endif()

if(NOT Torch_FOUND)
  message(FATAL_ERROR
    "LibTorch was not found. Places tried:\n"
    "  LIBTORCH_HOME (cmake or environment): '${_mf_torch_hints}'\n"
    "  CMAKE_PREFIX_PATH: '${CMAKE_PREFIX_PATH}'\n"
    "  system prefixes: '${CMAKE_SYSTEM_PREFIX_PATH}' (Debian: /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/cmake/Torch)\n"
    "Install one of:\n"
    "  a Python torch 2.x:   pip install torch, then LIBTORCH_HOME=$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')\n"
    "  any LibTorch 2.x:     unpack the download and set LIBTORCH_HOME=<its folder>\n"
    "  Debian/Ubuntu, CPU:   apt-get install libtorch-dev (1.13)")
endif()

# Torch's own compile flags (notably -D_GLIBCXX_USE_CXX11_ABI) must match the library's.
separate_arguments(MF_TORCH_CXX_FLAGS UNIX_COMMAND "${TORCH_CXX_FLAGS}")

# Where libtorch*.so and libc10.so live, so the shim finds them at run time without
# LD_LIBRARY_PATH, and so that a mix of two LibTorch builds is caught here.
set(MF_TORCH_LIBRARY_DIRS "")
set(_mf_torch_libs "")
set(_mf_todo ${TORCH_LIBRARIES} ${C10_LIBRARY} ${TORCH_CPU_LIBRARY})
set(_mf_seen "")
while(_mf_todo)  # the libraries and, through imported targets, what they link
  list(POP_FRONT _mf_todo _lib)
  if("${_lib}" IN_LIST _mf_seen)
    continue()
  endif()
  list(APPEND _mf_seen "${_lib}")
  set(_loc "")
  if(TARGET ${_lib})
    foreach(_prop IN ITEMS IMPORTED_LOCATION IMPORTED_LOCATION_RELEASE IMPORTED_LOCATION_RELWITHDEBINFO)
      get_target_property(_l ${_lib} ${_prop})
      if(_l AND NOT _loc)
        set(_loc "${_l}")
      endif()
    endforeach()
    get_target_property(_deps ${_lib} INTERFACE_LINK_LIBRARIES)
    if(_deps)
      list(APPEND _mf_todo ${_deps})
    endif()
  else()
    set(_loc "${_lib}")
  endif()
  if(_loc AND EXISTS "${_loc}" AND _loc MATCHES "/lib(torch|c10)[^/]*\\.so")
    get_filename_component(_dir "${_loc}" DIRECTORY)
    list(APPEND MF_TORCH_LIBRARY_DIRS "${_dir}")
    list(APPEND _mf_torch_libs "${_loc}")
  endif()
endwhile()
list(REMOVE_DUPLICATES MF_TORCH_LIBRARY_DIRS)
list(REMOVE_DUPLICATES _mf_torch_libs)

# One LibTorch: every torch/c10 library lies in one folder, inside this LibTorch's prefix unless
# it is the system's, and the headers are of the version its TorchConfigVersion.cmake names.
get_filename_component(_mf_prefix "${TORCH_INSTALL_PREFIX}" REALPATH)
set(_mf_foreign "")
foreach(_loc IN LISTS _mf_torch_libs)
  get_filename_component(_real "${_loc}" REALPATH)
  string(FIND "${_real}" "${_mf_prefix}/" _at)
  if(NOT _at EQUAL 0)
    list(APPEND _mf_foreign "${_loc}")
  endif()
endforeach()
list(LENGTH MF_TORCH_LIBRARY_DIRS _mf_ndirs)
set(MF_TORCH_HEADER_VERSION "")
foreach(_inc IN LISTS TORCH_INCLUDE_DIRS)
  foreach(_h IN ITEMS "${_inc}/torch/headeronly/version.h" "${_inc}/torch/csrc/api/include/torch/version.h" "${_inc}/torch/version.h")
    if(MF_TORCH_HEADER_VERSION STREQUAL "" AND EXISTS "${_h}")
      file(STRINGS "${_h}" _major REGEX "#define TORCH_VERSION_MAJOR [0-9]+")
      file(STRINGS "${_h}" _minor REGEX "#define TORCH_VERSION_MINOR [0-9]+")
      if(_major AND _minor)
        string(REGEX REPLACE ".* ([0-9]+)$" "\\1" _major "${_major}")
        string(REGEX REPLACE ".* ([0-9]+)$" "\\1" _minor "${_minor}")
        set(MF_TORCH_HEADER_VERSION "${_major}.${_minor}")
        set(_mf_header "${_h}")
      endif()
    endif()
  endforeach()
endforeach()
string(REGEX MATCH "^[0-9]+\\.[0-9]+" _mf_config_version "${Torch_VERSION}")
if(_mf_foreign OR _mf_ndirs GREATER 1 OR _mf_ndirs EQUAL 0
   OR NOT MF_TORCH_HEADER_VERSION STREQUAL _mf_config_version)
  message(FATAL_ERROR
    "LibTorch ${Torch_VERSION} from ${Torch_DIR} is mixed with another LibTorch:\n"
    "  headers: ${TORCH_INCLUDE_DIRS} (version ${MF_TORCH_HEADER_VERSION} in ${_mf_header})\n"
    "  libraries: ${_mf_torch_libs}\n"
    "  not inside ${_mf_prefix}: ${_mf_foreign}\n"
    "Point LIBTORCH_HOME at one complete LibTorch, and remove the build folder "
    "(${CMAKE_BINARY_DIR}) if it was configured for another one.")
endif()

if(TORCH_CUDA_LIBRARIES OR CAFFE2_USE_CUDA)
  set(MF_TORCH_HAS_CUDA ON)
else()
  set(MF_TORCH_HAS_CUDA OFF)
endif()
# at::parallel_for is a header template: with a LibTorch built for OpenMP (AT_PARALLEL_OPENMP in
# ATen/Config.h) it splits the range with `#pragma omp parallel` in the caller's code, so code that
# is not compiled with -fopenmp runs every range on one thread. MF_TORCH_OPENMP says the shim must
# be (cpp/CMakeLists.txt); MF_TORCH_OPENMP_RUNTIME is the OpenMP library LibTorch itself loads
# (its libgomp, beside libtorch_cpu, else the system's), for the executables that link the shim's
# objects. The shim library links none: its GOMP_*/omp_* calls bind at run time to the runtime
# LibTorch brought into the process, so that there is only ever one OpenMP thread pool.
set(MF_TORCH_OPENMP OFF)
foreach(_inc IN LISTS TORCH_INCLUDE_DIRS)
  if(NOT MF_TORCH_OPENMP AND EXISTS "${_inc}/ATen/Config.h")
    file(STRINGS "${_inc}/ATen/Config.h" _mf_omp REGEX "^#define AT_PARALLEL_OPENMP 1")
    if(_mf_omp)
      set(MF_TORCH_OPENMP ON)
    endif()
  endif()
endforeach()
set(MF_TORCH_OPENMP_RUNTIME "")
if(MF_TORCH_OPENMP)
  # the wheels' and Debian's libgomp.so.1, a download's renamed libgomp-<hash>.so.1 (not GCC's
  # offload plugins, libgomp-plugin-*); beside libtorch_cpu, else the system's libgomp.so.1
  foreach(_dir IN LISTS MF_TORCH_LIBRARY_DIRS)
    file(GLOB _mf_gomp "${_dir}/libgomp.so.1" "${_dir}/libgomp-[0-9a-f]*.so.1")
    if(_mf_gomp AND NOT MF_TORCH_OPENMP_RUNTIME)
      list(GET _mf_gomp 0 MF_TORCH_OPENMP_RUNTIME)
    endif()
  endforeach()
  if(NOT MF_TORCH_OPENMP_RUNTIME)
    find_library(_mf_system_gomp NAMES libgomp.so.1 NO_CACHE)
    if(_mf_system_gomp)
      set(MF_TORCH_OPENMP_RUNTIME "${_mf_system_gomp}")
    endif()
  endif()
endif()
message(STATUS "maskformer: LibTorch ${Torch_VERSION} from ${Torch_DIR} (CUDA: ${MF_TORCH_HAS_CUDA}); libraries in ${MF_TORCH_LIBRARY_DIRS}; OpenMP: ${MF_TORCH_OPENMP} ${MF_TORCH_OPENMP_RUNTIME}")
