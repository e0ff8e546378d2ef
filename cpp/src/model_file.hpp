// SPDX-License-Identifier: Apache-2.0
// Opening a model file without races: what is checked is what is loaded.
#pragma once

#include <cstdint>
#include <string>

namespace maskformer {

// A model path must name a regular file: a FIFO would block the open forever, and /dev/zero or
// a socket never end. The file is opened non-blocking so that even a FIFO swapped in after a
// stat() cannot block, and its type is taken from the open descriptor. The descriptor stays
// open while the model loads, and every later read goes through it (/proc/self/fd/N names the
// inode that was checked), so a file swapped in under the same name after the check is never
// read: what is checked is what is loaded.
class ModelFile {
 public:
  explicit ModelFile(const std::string& path);
  ~ModelFile() { close_fd(); }
  ModelFile(const ModelFile&) = delete;
  ModelFile& operator=(const ModelFile&) = delete;

  // The name every reader opens: the checked file's descriptor.
  const std::string& source() const { return source_; }
  // Its size in bytes, from the descriptor.
  int64_t size() const { return size_; }

 private:
  void close_fd();
  int fd_ = -1;
  int64_t size_ = 0;
  std::string source_;
};

}  // namespace maskformer
