# SPDX-License-Identifier: Apache-2.0
# Run after linking the shim (cmake -DSHIM=<file> -DTORCH_DIRS=<dirs> -P CheckOneTorch.cmake):
# fails the build when the shim records a run path (RPATH/RUNPATH: the shim must never point into
# a build folder; the Java loader loads LibTorch first), or when, with the LibTorch it was
# compiled against on the search path (as the loader provides it), the dynamic loader would
# resolve libtorch*/libc10 from more than one folder or from another one.
cmake_minimum_required(VERSION 3.18)
execute_process(COMMAND readelf -d "${SHIM}" OUTPUT_VARIABLE _dyn RESULT_VARIABLE _rc ERROR_QUIET)
if(_rc EQUAL 0 AND _dyn MATCHES "\\((RPATH|RUNPATH)\\)[^\n]*")
  message(FATAL_ERROR "${SHIM} records a run path (${CMAKE_MATCH_0}): the shim must carry none")
endif()
string(REPLACE ";" ":" _path "${TORCH_DIRS}")
execute_process(COMMAND "${CMAKE_COMMAND}" -E env "LD_LIBRARY_PATH=${_path}" ldd "${SHIM}"
                OUTPUT_VARIABLE _ldd RESULT_VARIABLE _rc ERROR_QUIET)
if(NOT _rc EQUAL 0)
  return()  # no ldd here: nothing to check
endif()
string(REPLACE "\n" ";" _lines "${_ldd}")
set(_dirs "")
set(_missing "")
foreach(_line IN LISTS _lines)
  if(_line MATCHES "^[ \t]*(lib(torch|c10)[^ ]*\\.so[^ ]*) => (.*) \\(0x")
    get_filename_component(_dir "${CMAKE_MATCH_3}" DIRECTORY)
    get_filename_component(_dir "${_dir}" REALPATH)
    list(APPEND _dirs "${_dir}")
  elseif(_line MATCHES "^[ \t]*(lib(torch|c10)[^ ]*\\.so[^ ]*) => not found")
    list(APPEND _missing "${CMAKE_MATCH_1}")
  endif()
endforeach()
list(REMOVE_DUPLICATES _dirs)
set(_expected "")
foreach(_d IN LISTS TORCH_DIRS)
  get_filename_component(_d "${_d}" REALPATH)
  list(APPEND _expected "${_d}")
endforeach()
list(LENGTH _dirs _n)
set(_foreign "")
foreach(_d IN LISTS _dirs)
  if(NOT _d IN_LIST _expected)
    list(APPEND _foreign "${_d}")
  endif()
endforeach()
if(_missing OR _n GREATER 1 OR _foreign)
  message(FATAL_ERROR "${SHIM} would run with a LibTorch other than the one it was compiled against:\n"
    "  compiled against the libraries in: ${_expected}\n"
    "  the dynamic loader resolves libtorch/libc10 from: ${_dirs}\n"
    "  not found: ${_missing}\n"
    "${_ldd}")
endif()
