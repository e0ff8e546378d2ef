# SPDX-License-Identifier: Apache-2.0
# Run after linking (cmake -DSHIM=<file> -DPROPERTIES=<file> -DSTAGE=<classes dir>
# -DCLASSIFIER=<c> -P StageShim.cmake): places the shim and its properties where the jar and the
# loader expect them, <STAGE>/dev/maskformer/native/<CLASSIFIER>/, plus the index entry
# META-INF/maskformer-native.properties. Each file is copied under a temporary name and renamed
# over the old one: a JVM that has the old shim mapped keeps its inode (copying in place would
# truncate the mapped file and kill that JVM with SIGBUS).
cmake_minimum_required(VERSION 3.21)
set(_dir "${STAGE}/dev/maskformer/native/${CLASSIFIER}")
file(MAKE_DIRECTORY "${_dir}" "${STAGE}/META-INF")
foreach(_pair IN ITEMS "${SHIM}|${_dir}/libmaskformer.so" "${PROPERTIES}|${_dir}/libmaskformer.properties"
                       "${PROPERTIES}|${STAGE}/META-INF/maskformer-native.properties")
  string(REPLACE "|" ";" _pair "${_pair}")
  list(GET _pair 0 _from)
  list(GET _pair 1 _to)
  get_filename_component(_to_dir "${_to}" DIRECTORY)
  get_filename_component(_name "${_to}" NAME)
  file(COPY_FILE "${_from}" "${_to_dir}/.${_name}.new")
  file(RENAME "${_to_dir}/.${_name}.new" "${_to}")
endforeach()
