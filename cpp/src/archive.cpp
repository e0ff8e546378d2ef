// SPDX-License-Identifier: Apache-2.0
#include "archive.hpp"

#include <torch/version.h>

#include <string_view>
#include <vector>

#include "error.hpp"
#include "metadata.hpp"

namespace maskformer {

namespace {

// The first bytes of a file in torch.save's legacy (pre-1.6, not zip) format: a pickled magic number.
constexpr unsigned char kLegacySaveMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

}  // namespace

std::string read_record(caffe2::serialize::PyTorchStreamReader& reader, const std::string& name) {
  if (!reader.hasRecord(name)) return "";
  auto data = reader.getRecord(name);
  return std::string(static_cast<const char*>(std::get<0>(data).get()), std::get<1>(data));
}

std::string metadata_record(caffe2::serialize::PyTorchStreamReader& reader) {
  return read_record(reader, std::string("extra/") + kMetadataFile);
}

std::string metadata_record(const Archive& archive) {
  try {
    caffe2::serialize::PyTorchStreamReader reader(archive);
    return metadata_record(reader);
  } catch (const std::exception&) {
    return "";
  }
}

bool starts_like_legacy_save(const Archive& archive) {
  unsigned char head[sizeof kLegacySaveMagic] = {};
  try {
    return archive->size() >= sizeof head && archive->read(0, head, sizeof head, "magic") == sizeof head &&
           std::memcmp(head, kLegacySaveMagic, sizeof head) == 0;
  } catch (const std::exception&) {
    return false;
  }
}

std::string checkpoint_message(const std::string& path, const char* kind) {
  return "'" + path + "' is a PyTorch training checkpoint (" + kind +
         "), not a MaskFormer export: convert it once with models/export.py --checkpoint FILE "
         "--variant swin-tiny|swin-small|swin-base --out model.pt, and load the .pt it writes";
}

std::string oversized_record(const Archive& archive) {
  const uint64_t size = archive->size();
  const auto u16 = [](const unsigned char* b) { return uint32_t(b[0]) | uint32_t(b[1]) << 8; };
  const auto u32 = [](const unsigned char* b) { return uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24; };
  const auto u64 = [&](const unsigned char* b) { return uint64_t(u32(b)) | uint64_t(u32(b + 4)) << 32; };
  // the end-of-central-directory record: 22 bytes and a comment of at most 65535
  const uint64_t tail = std::min<uint64_t>(size, 22 + 65535);
  std::string end(tail, '\0');
  if (tail < 22 || archive->read(size - tail, end.data(), tail, "zip directory") != tail) return "";
  int64_t at = -1;
  for (int64_t i = int64_t(tail) - 22; i >= 0 && at < 0; --i)
    if (std::memcmp(end.data() + i, "PK\x05\x06", 4) == 0) at = i;
  if (at < 0) return "";
  const auto* e = reinterpret_cast<const unsigned char*>(end.data() + at);
  uint64_t entries = u16(e + 10), dir_size = u32(e + 12), dir_offset = u32(e + 16);
  // zip64: the real counts are in the zip64 end record, which a locator just before points to
  if ((entries == 0xFFFF || dir_size == 0xFFFFFFFF || dir_offset == 0xFFFFFFFF) && at >= 20) {
    const auto* loc = e - 20;
    if (std::memcmp(loc, "PK\x06\x07", 4) != 0) return "";
    unsigned char z[56];
    if (archive->read(u64(loc + 8), z, sizeof z, "zip64 directory") != sizeof z || std::memcmp(z, "PK\x06\x06", 4) != 0)
      return "";
    entries = u64(z + 32);
    dir_size = u64(z + 40);
    dir_offset = u64(z + 48);
  }
  if (dir_offset > size || dir_size > size - dir_offset) return "";  // the reader reports it
  std::string dir(static_cast<size_t>(dir_size), '\0');
  if (archive->read(dir_offset, dir.data(), dir.size(), "zip directory") != dir.size()) return "";
  const auto* d = reinterpret_cast<const unsigned char*>(dir.data());
  uint64_t pos = 0;
  for (uint64_t n = 0; n < entries && pos + 46 <= dir_size; ++n) {
    const unsigned char* c = d + pos;
    if (std::memcmp(c, "PK\x01\x02", 4) != 0) return "";
    uint64_t compressed = u32(c + 20), uncompressed = u32(c + 24);
    const uint64_t name_len = u16(c + 28), extra_len = u16(c + 30), comment_len = u16(c + 32);
    if (pos + 46 + name_len + extra_len > dir_size) return "";
    const std::string name(reinterpret_cast<const char*>(c + 46), static_cast<size_t>(std::min<uint64_t>(name_len, 200)));
    // zip64 sizes: in the extra field 0x0001, uncompressed first, each only where the 32-bit one is all ones
    for (uint64_t x = 0; x + 4 <= extra_len;) {
      const unsigned char* f = c + 46 + name_len + x;
      const uint64_t id = u16(f), len = u16(f + 2);
      if (x + 4 + len > extra_len) break;
      if (id == 1) {
        uint64_t k = 4;
        if (uncompressed == 0xFFFFFFFF && k + 8 <= 4 + len) uncompressed = u64(f + k), k += 8;
        if (compressed == 0xFFFFFFFF && k + 8 <= 4 + len) compressed = u64(f + k);
      }
      x += 4 + len;
    }
    if (uncompressed > size)
      return "record " + name + " claims " + std::to_string(uncompressed) + " bytes in a file of " +
             std::to_string(size);
    pos += 46 + name_len + extra_len + comment_len;
  }
  return "";
}

ArchiveScan scan_archive(const Archive& archive, int64_t file_size) {
  ArchiveScan scan;
  try {
    caffe2::serialize::PyTorchStreamReader reader(archive);  // fails for LibTorch's load too
    std::vector<std::string> records;
    try {
      records = reader.getAllRecords();
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {
      // LibTorch's load never lists the records, so it may read on where the checks cannot
      // (fuzz_archive: a record outside the archive's folder, then an unchecked debug_pkl)
      scan.unreadable = "list of records (" + first_lines(summarise_error(text_of(e)), 1) + ")";
      return scan;
    }
    bool code = false, constants = false, data = false;
    for (const std::string& name : records) {
      code = code || name.rfind("code/", 0) == 0;
      constants = constants || name == "constants.pkl";
      data = data || name == "data.pkl";
    }
    scan.checkpoint = data && !code && !constants;
    for (const std::string& name : records) {
      const auto ends_with = [&](const char* tail) {
        const size_t n = std::strlen(tail);
        return name.size() >= n && name.compare(name.size() - n, n, tail) == 0;
      };
      const bool code = name.rfind("code/", 0) == 0 && ends_with(".py");
      const bool pickle = ends_with("pkl");
      if ((!code || !scan.setstate.empty()) && (!pickle || !scan.bad_record.empty())) continue;
      std::tuple<at::DataPtr, size_t> record;
      try {
#if TORCH_VERSION_MAJOR >= 2
        // records are stored uncompressed: one larger than the file is a lie about its size
        if (const size_t claimed = reader.getRecordSize(name); int64_t(claimed) > file_size) {
          scan.bad_record = name + ": a record of " + std::to_string(claimed) + " bytes in a file of " +
                            std::to_string(file_size);
          continue;
        }
#endif
        record = reader.getRecord(name);
      } catch (const std::bad_alloc&) {
        throw;
      } catch (const std::exception& e) {
        // a record that cannot be checked is refused: LibTorch reads records only when it needs
        // them, so it may never read this one and get to an unchecked pickle after it
        scan.unreadable = "record " + name + " (" + first_lines(summarise_error(text_of(e)), 1) + ")";
        break;
      }
      const auto* data = static_cast<const unsigned char*>(std::get<0>(record).get());
      const size_t size = std::get<1>(record);
      if (code) {
        if (std::string_view(reinterpret_cast<const char*>(data), size).find("def __setstate__(") !=
            std::string_view::npos)
          scan.setstate = name;
      } else if (const std::string why = pickle_problem(data, size); !why.empty()) {
        scan.bad_record = name + ": " + why;
      }
    }
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception&) {
  }
  return scan;
}

}  // namespace maskformer
