# SPDX-License-Identifier: Apache-2.0
# Warning flags for our own sources (LibTorch's headers are included as system headers).
function(maskformer_warnings target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wno-unused-parameter -Wnon-virtual-dtor>
      $<$<COMPILE_LANGUAGE:C>:-Wall -Wextra -Wpedantic>)
    if(MASKFORMER_WERROR)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
endfunction()
