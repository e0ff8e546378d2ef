// SPDX-License-Identifier: Apache-2.0
// The TorchScript backend: an export's archive checked, loaded, cast and optimised for its device.
#pragma once

#include <memory>
#include <string>

#include "archive.hpp"
#include "backend.hpp"
#include "metadata.hpp"
#include "model.hpp"

namespace maskformer {

// A TorchScript export on `device` in `precision`, with its metadata in *meta.
// `path` names the file in messages; `archive` is what is read (the checked file's descriptor, or the
// caller's bytes), `file_size` its size.
std::unique_ptr<Backend> load_torchscript(const std::string& path, const Archive& archive, int64_t file_size,
                                          const LoadOptions& options, const at::Device& device, Metadata* meta);

}  // namespace maskformer
