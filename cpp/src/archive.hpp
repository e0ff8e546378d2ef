// SPDX-License-Identifier: Apache-2.0
// Model archives (zip files of TorchScript or AOTInductor): their records, the maskformer.json
// metadata record, and the checks that run before LibTorch reads an archive's code or pickles.
#pragma once

#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

namespace maskformer {

using Archive = std::shared_ptr<caffe2::serialize::ReadAdapterInterface>;

// A model held in the caller's memory (mf_model_load_memory), read in place: bounded reads, no
// copy. A read past the end returns what is there; the zip reader then reports a short archive.
class BytesAdapter final : public caffe2::serialize::ReadAdapterInterface {
 public:
  BytesAdapter(const void* data, size_t size) : data_(static_cast<const unsigned char*>(data)), size_(size) {}
  size_t size() const override { return size_; }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= size_) return 0;
    const size_t count = static_cast<size_t>(std::min<uint64_t>(n, size_ - pos));
    std::memcpy(buf, data_ + pos, count);
    return count;
  }

 private:
  const unsigned char* data_;
  size_t size_;
};

// A record of a zip archive by name, "" when absent. Throws what the zip reader throws.
std::string read_record(caffe2::serialize::PyTorchStreamReader& reader, const std::string& name);

// The maskformer.json record (extra/maskformer.json), "" when absent. Throws as read_record.
std::string metadata_record(caffe2::serialize::PyTorchStreamReader& reader);
// The same, read without loading the code: when TorchScript cannot load a file, its metadata
// still tells which torch exported it. "" when there is none or the archive is no zip.
std::string metadata_record(const Archive& archive);

// Reads the zip's central directory itself, before any LibTorch reader is made, and returns why
// the archive must be refused, or "": a record whose uncompressed size is more than the whole
// file (LibTorch stores records uncompressed, and its reader allocates a record's claimed size
// when it opens the archive: a 331-byte file claiming a 587 MB version record took 4.8 GB and
// two minutes to refuse). A file that is no zip, or whose directory cannot be found, passes
// here: the reader reports it.
std::string oversized_record(const Archive& archive);

// Whether an archive starts like a file of torch.save's legacy (pre-1.6, not zip) format.
bool starts_like_legacy_save(const Archive& archive);

// What to say about a training checkpoint (torch.save of weights) given where an export belongs.
std::string checkpoint_message(const std::string& path, const char* kind);

// What an archive holds that must be refused before TorchScript reads any of it, found in one
// pass over its records. "" for each when there is none (or the file is no zip, which the load
// then reports).
struct ArchiveScan {
  // TorchScript runs a module's or class's __setstate__ while it unpickles the archive, before
  // any check of ours could look at it: the code record that defines one
  std::string setstate;
  // "record: reason" for the first record that claims more bytes than the file has, or pickle
  // record (.pkl, .debug_pkl) that pickle_problem refuses
  std::string bad_record;
  // a zip of torch.save (data.pkl and tensors) without TorchScript's code and constants: weights
  // from training, not an export
  bool checkpoint = false;
  // "record NAME (why)" for a code or pickle record that cannot be read, or "list of records
  // (why)": what could not be checked
  std::string unreadable;
};

// One pass over the records of an archive of `file_size` bytes (the file's, or the buffer's).
ArchiveScan scan_archive(const Archive& archive, int64_t file_size);

// What LibTorch's unpickler would allocate from a pickle's own numbers, checked before it runs.
// It grows its memo table to any index a PUT names (LONG_BINPUT takes 32 bits: 4 G entries of
// 16 bytes) and sizes a string or bytes object by its length field before reading it (up to
// 64 bits), so a few hostile bytes in data.pkl, constants.pkl or a code file's debug_pkl (which
// is unpickled only when an error message quotes the code) could make it allocate and fill tens
// of GB. Here every opcode of every pickle record is walked: a memo index must stay below the
// record's size (legitimate pickles number their memo entries 0, 1, 2, ..., each costing at least
// two bytes) and a length must fit in what is left of the record. "" when all is well, else the
// reason. Opcodes LibTorch does not know end the walk: its own unpickler then refuses the file.
std::string pickle_problem(const unsigned char* data, size_t size);

}  // namespace maskformer
