// SPDX-License-Identifier: Apache-2.0
// AOTInductor packages (.pt2): networks compiled ahead of time by models/export.py --format aoti,
// run through LibTorch's AOTIModelPackageLoader (LibTorch 2.6 and later).
#pragma once

#include <caffe2/serialize/read_adapter_interface.h>

#include <memory>
#include <string>

#include "backend.hpp"
#include "metadata.hpp"
#include "model.hpp"

namespace maskformer {

// Whether `path` is a PT2 archive. Reads the zip's records only, never its code; false for
// TorchScript archives and for anything that is no zip.
bool is_aoti_package(const std::string& path);
bool is_aoti_package(const std::shared_ptr<caffe2::serialize::ReadAdapterInterface>& archive);

// Loads the package at `path` for `device` and `options.precision`, after checking, without
// running any of its code, that it was made for this device, precision, CPU and LibTorch.
// Requires options.allow_native_code: loading runs the package's compiled shared library.
// Fills *meta with its maskformer.json. Throws Error (MODEL_FORMAT, UNSUPPORTED, IO).
// `path` names the file in messages; `source` is what is read (the checked file's descriptor).
std::unique_ptr<Backend> load_aoti(const std::string& path, const std::string& source,
                                   const LoadOptions& options, const at::Device& device, Metadata* meta);

}  // namespace maskformer
