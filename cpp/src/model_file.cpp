// SPDX-License-Identifier: Apache-2.0
#include "model_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "error.hpp"

namespace maskformer {

ModelFile::ModelFile(const std::string& path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd_ < 0) {
    const int err = errno;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
      fail(MF_ERR_IO, "model path '" + path + "' is a directory");
    fail(MF_ERR_IO, "cannot open model file '" + path + "': " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    close_fd();
    fail(MF_ERR_IO, "cannot read model file '" + path + "': " + std::strerror(err));
  }
  const char* kind = S_ISREG(st.st_mode)   ? nullptr
                     : S_ISDIR(st.st_mode) ? "directory"
                     : S_ISFIFO(st.st_mode) ? "a FIFO"
                     : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                     : S_ISSOCK(st.st_mode) ? "a socket"
                                            : "a special file";
  if (kind != nullptr) {
    close_fd();
    if (S_ISDIR(st.st_mode)) fail(MF_ERR_IO, "model path '" + path + "' is a directory");
    fail(MF_ERR_IO, "model path '" + path + "' is not a regular file (" + kind + ")");
  }
  if (st.st_size == 0) {
    close_fd();
    fail(MF_ERR_MODEL_FORMAT, "model file '" + path + "' is empty");
  }
  size_ = int64_t(st.st_size);
  // where /proc is not mounted, the name itself is read (and the window stays open)
  const std::string via_fd = "/proc/self/fd/" + std::to_string(fd_);
  struct stat again {};
  source_ = ::stat(via_fd.c_str(), &again) == 0 && again.st_dev == st.st_dev && again.st_ino == st.st_ino
                ? via_fd
                : path;
}

void ModelFile::close_fd() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace maskformer
