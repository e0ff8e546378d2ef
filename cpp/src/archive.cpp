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
