// SPDX-License-Identifier: Apache-2.0
#include "model.hpp"

#include <ATen/Parallel.h>
#include <c10/core/StreamGuard.h>
#include <caffe2/serialize/file_adapter.h>
#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string_view>

#include "aoti.hpp"
#include "cpu_optimize.hpp"
#include "error.hpp"
#include "host_memory.hpp"
#include "runtime.hpp"
#include "segments.hpp"
#include "semantic.hpp"
#include "yuv.hpp"

namespace maskformer {

namespace {

const char* precision_name(mf_precision p) {
  switch (p) {
    case MF_PRECISION_FP16: return "fp16";
    case MF_PRECISION_BF16: return "bf16";
    default: return "fp32";
  }
}

// Everything one call does on a CUDA device runs on a stream from the device's pool, so calls from
// different threads overlap; synchronize() makes the call look synchronous to its caller. On the
// CPU this is a no-op. Only device-generic c10 interfaces are used, so the same source builds
// against CPU-only LibTorch.
class DeviceScope {
 public:
  explicit DeviceScope(const at::Device& device) {
    if (device.is_cuda()) {
      const auto* impl = c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA);
      stream_.emplace(impl->getStreamFromGlobalPool(device, /*isHighPriority=*/false));
      guard_.emplace(*stream_);
    }
  }
  // On an error the scope is left without synchronize(): asynchronous copies from or into
  // caller memory may still run on the stream, so wait for them before the caller gets control
  // back (and may free that memory). Errors here are dropped: one is already in flight.
  ~DeviceScope() {
    if (stream_ && !synchronized_) {
      try {
        stream_->synchronize();
      } catch (...) {
        // the original failure is what the caller hears about
      }
    }
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

  void synchronize() {
    if (stream_) stream_->synchronize();
    synchronized_ = true;
  }

 private:
  std::optional<c10::Stream> stream_;
  std::optional<c10::StreamGuard> guard_;
  bool synchronized_ = false;
};

// A model path must name a regular file: a FIFO would block the open forever, and /dev/zero or
// a socket never end. The file is opened non-blocking so that even a FIFO swapped in after a
// stat() cannot block, and its type is taken from the open descriptor. The descriptor stays
// open while the model loads, and every later read goes through it (/proc/self/fd/N names the
// inode that was checked), so a file swapped in under the same name after the check is never
// read: what is checked is what is loaded.
class ModelFile {
 public:
  explicit ModelFile(const std::string& path) {
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
  ~ModelFile() { close_fd(); }
  ModelFile(const ModelFile&) = delete;
  ModelFile& operator=(const ModelFile&) = delete;

  // The name every reader opens: the checked file's descriptor.
  const std::string& source() const { return source_; }
  // Its size in bytes, from the descriptor.
  int64_t size() const { return size_; }

 private:
  void close_fd() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
  int64_t size_ = 0;
  std::string source_;
};

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

// The first bytes of a file in torch.save's legacy (pre-1.6, not zip) format: a pickled magic number.
constexpr unsigned char kLegacySaveMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

bool starts_like_legacy_save(const Archive& archive) {
  unsigned char head[sizeof kLegacySaveMagic] = {};
  try {
    return archive->size() >= sizeof head && archive->read(0, head, sizeof head, "magic") == sizeof head &&
           std::memcmp(head, kLegacySaveMagic, sizeof head) == 0;
  } catch (const std::exception&) {
    return false;
  }
}

// What to say about a training checkpoint (torch.save of weights) given where an export belongs.
std::string checkpoint_message(const std::string& path, const char* kind) {
  return "'" + path + "' is a PyTorch training checkpoint (" + kind +
         "), not a MaskFormer export: convert it once with models/export.py --checkpoint FILE "
         "--variant swin-tiny|swin-small|swin-base --out model.pt, and load the .pt it writes";
}

// A forward pass cannot be interrupted once it runs, so a model whose code can loop without end
// is refused before it runs. Every loop in forward (all calls inlined) must have a trip count
// with a known upper bound, and the bounds of nested loops multiplied must stay within
// kMaxTrips. Bounds come from constants, tensor ranks (dim(), len(x.size()): assumed at most
// kRankBound) and the length of lists that are never changed in place, through + - * // min max.
// `while` loops (their count is "unbounded"), counts read from tensor values (item(),
// int(tensor)) or from tensor sizes (x.size(0), which expand() can make as large as it likes),
// lists that are appended to, forked code and calls that cannot be inlined are refused. This
// bounds the number of loop iterations, not the time an operator takes.
constexpr int64_t kMaxTrips = int64_t(1) << 20;
constexpr int64_t kRankBound = 64;

struct Range {
  int64_t lo, hi;
};

// bound arithmetic in 128 bits, so that products of two 62-bit bounds cannot overflow
__extension__ typedef __int128 wide_t;

int64_t saturate(wide_t v) {
  const wide_t big = int64_t(1) << 62;
  return static_cast<int64_t>(v > big ? big : v < -big ? -big : v);
}

// Whether a list is only ever read: every use is a known reader, or an operator whose schema
// neither writes nor aliases that argument (a list kept by another value could grow unseen).
bool read_only_list(const torch::jit::Value* list) {
  for (const torch::jit::Use& use : list->uses()) {
    const std::string kind = use.user->kind().toQualString();
    if (kind == "aten::len" || kind == "aten::__getitem__" || kind == "prim::ListUnpack") continue;
    const c10::FunctionSchema* schema = use.user->maybeSchema();
    if (schema == nullptr) return false;
    if (use.offset >= schema->arguments().size()) {
      if (schema->is_vararg()) continue;  // aten::format(str, ...): varargs are only read
      return false;
    }
    if (schema->arguments()[use.offset].alias_info() != nullptr) return false;
  }
  return true;
}

std::optional<Range> bounds(const torch::jit::Value* v, int depth) {
  if (depth > 64) return std::nullopt;
  const torch::jit::Node* n = v->node();
  const std::string kind = n->kind().toQualString();
  if (kind == "prim::Constant") {
    const auto value = torch::jit::toIValue(v);
    if (!value || !value->isInt()) return std::nullopt;
    return Range{value->toInt(), value->toInt()};
  }
  if (kind == "aten::dim") return Range{0, kRankBound};
  if (kind == "aten::len") {
    const torch::jit::Value* list = n->input(0);
    const std::string made_by = list->node()->kind().toQualString();
    if (!list->type()->cast<c10::ListType>() || !read_only_list(list)) return std::nullopt;
    if (made_by == "aten::size" && list->node()->inputs().size() == 1) return Range{0, kRankBound};
    if (made_by == "prim::ListConstruct") {
      const auto count = static_cast<int64_t>(list->node()->inputs().size());
      return Range{count, count};
    }
    return std::nullopt;
  }
  const bool binary = n->inputs().size() == 2;
  if (binary && (kind == "aten::add" || kind == "aten::sub" || kind == "aten::mul" ||
                 kind == "aten::floordiv" || kind == "aten::min" || kind == "aten::max" ||
                 kind == "prim::min" || kind == "prim::max")) {
    const auto x = bounds(n->input(0), depth + 1), y = bounds(n->input(1), depth + 1);
    if (!x || !y) return std::nullopt;
    if (kind == "aten::add") return Range{saturate(wide_t(x->lo) + y->lo), saturate(wide_t(x->hi) + y->hi)};
    if (kind == "aten::sub") return Range{saturate(wide_t(x->lo) - y->hi), saturate(wide_t(x->hi) - y->lo)};
    if (kind == "aten::mul") {
      const wide_t c[] = {wide_t(x->lo) * y->lo, wide_t(x->lo) * y->hi, wide_t(x->hi) * y->lo,
                            wide_t(x->hi) * y->hi};
      return Range{saturate(*std::min_element(c, c + 4)), saturate(*std::max_element(c, c + 4))};
    }
    if (kind == "aten::floordiv") {
      if (y->lo < 1) return std::nullopt;  // a divisor that may be 0 or negative: no bound kept
      return Range{std::min<int64_t>(0, x->lo), std::max<int64_t>(0, x->hi)};
    }
    if (kind == "aten::min" || kind == "prim::min") return Range{std::min(x->lo, y->lo), std::min(x->hi, y->hi)};
    return Range{std::max(x->lo, y->lo), std::max(x->hi, y->hi)};
  }
  if (kind == "aten::neg" && n->inputs().size() == 1) {
    const auto x = bounds(n->input(0), depth + 1);
    if (!x) return std::nullopt;
    return Range{saturate(-wide_t(x->hi)), saturate(-wide_t(x->lo))};
  }
  return std::nullopt;
}

std::string source_line(const torch::jit::Node* n) {
  torch::jit::SourceRange range = n->sourceRange();
  if (auto original = range.findSourceRangeThatGenerated()) range = *original;
  if (!range.source()) return "";
  const std::string text = range.text().str();  // the first source line, when the file kept it
  return ": `" + text.substr(0, std::min(text.find('\n'), size_t(80))) + "`";
}

void check_loops(const torch::jit::Block* block, const std::string& path, int64_t enclosing) {
  for (const torch::jit::Node* n : block->nodes()) {
    const std::string kind = n->kind().toQualString();
    if (kind == "prim::CallMethod" || kind == "prim::CallFunction")
      fail(MF_ERR_MODEL_FORMAT, "'" + path + "': forward() makes a call that cannot be inlined (" + kind +
                                    "), so its code cannot be checked for endless loops");
    if (kind == "prim::fork" || kind == "prim::awaitable" || kind == "prim::forkClosure")
      fail(MF_ERR_MODEL_FORMAT, "'" + path + "': forward() forks work (" + kind +
                                    "), which this library does not check for endless loops" + source_line(n));
    int64_t trips = enclosing;
    if (kind == "prim::Loop") {
      const auto range = bounds(n->input(0), 0);
      if (!range || range->hi >= (int64_t(1) << 62))  // a while loop's count is INT64_MAX
        fail(MF_ERR_MODEL_FORMAT, "'" + path + "': forward() holds a loop without a known bound (a while "
                                      "loop, or a count read from tensor values or sizes)" + source_line(n) +
                                      "; it could run forever, and a forward pass cannot be interrupted");
      trips = saturate(wide_t(enclosing) * std::max<int64_t>(1, range->hi));
      if (trips > kMaxTrips)
        fail(MF_ERR_MODEL_FORMAT, "'" + path + "': forward() holds loops of up to " + std::to_string(trips) +
                                      " iterations (nested counts multiplied), more than " +
                                      std::to_string(kMaxTrips) + source_line(n));
    }
    for (const torch::jit::Block* b : n->blocks()) check_loops(b, path, trips);
  }
}

void check_terminates(const torch::jit::Module& module, const std::string& path) {
  std::shared_ptr<torch::jit::Graph> graph = module.get_method("forward").graph()->copy();
  torch::jit::Inline(*graph);
  check_loops(graph->block(), path, 1);
}

// The metadata record of an archive read without loading the code: when TorchScript cannot load
// the file, it still tells which torch exported it. "" when there is none or the file is no zip.
std::string read_metadata_record(const Archive& archive) {
  try {
    caffe2::serialize::PyTorchStreamReader reader(archive);
    const std::string name = std::string("extra/") + kMetadataFile;
    if (!reader.hasRecord(name)) return "";
    auto record = reader.getRecord(name);
    return std::string(static_cast<const char*>(std::get<0>(record).get()), std::get<1>(record));
  } catch (const std::exception&) {
    return "";
  }
}

// What LibTorch's unpickler would allocate from a pickle's own numbers, checked before it runs.
// It grows its memo table to any index a PUT names (LONG_BINPUT takes 32 bits: 4 G entries of
// 16 bytes) and sizes a string or bytes object by its length field before reading it (up to
// 64 bits), so a few hostile bytes in data.pkl, constants.pkl or a code file's debug_pkl (which
// is unpickled only when an error message quotes the code) could make it allocate and fill tens
// of GB. Here every opcode of every pickle record is walked: a memo index must stay below the
// record's size (legitimate pickles number their memo entries 0, 1, 2, ..., each costing at least
// two bytes) and a length must fit in what is left of the record. "" when all is well, else the
// reason. Opcodes LibTorch does not know end the walk: its own unpickler then refuses the file.
std::string pickle_problem(const unsigned char* data, size_t size) {
  size_t pos = 0;
  auto remaining = [&] { return size - pos; };
  auto read_le = [&](size_t bytes, uint64_t* out) {
    if (remaining() < bytes) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; ++i) v |= uint64_t(data[pos + i]) << (8 * i);
    pos += bytes;
    *out = v;
    return true;
  };
  auto skip_line = [&] {
    while (pos < size && data[pos] != '\n') ++pos;
    if (pos == size) return false;
    ++pos;
    return true;
  };
  const std::string truncated = "the pickle ends inside an opcode";
  while (pos < size) {
    const unsigned char op = data[pos++];
    uint64_t v = 0;
    switch (op) {
      // no argument
      case '(': case '0': case '1': case '2': case 'N': case 'Q': case 'R': case 'a': case 'b':
      case 'd': case '}': case 'e': case 'l': case ']': case 'o': case 's': case 't': case ')':
      case 'u': case 0x81: case 0x85: case 0x86: case 0x87: case 0x88: case 0x89: case 0x8f:
      case 0x90: case 0x91: case 0x92: case 0x93: case 0x94:
        break;
      case '.':  // STOP
        return "";
      // fixed-size arguments
      case 0x80: case 'K': case 'h': case 0x82:
        if (!read_le(1, &v)) return truncated;
        break;
      case 'M': case 0x83:
        if (!read_le(2, &v)) return truncated;
        break;
      case 'J': case 'j': case 0x84:
        if (!read_le(4, &v)) return truncated;
        break;
      case 'G':
        if (!read_le(8, &v)) return truncated;
        break;
      case 0x95:  // FRAME: the frame's length, then its opcodes inline
        if (!read_le(8, &v)) return truncated;
        if (v > remaining()) return "a frame of " + std::to_string(v) + " bytes, with " + std::to_string(remaining()) + " left";
        break;
      // memo writes
      case 'q': case 'r':
        if (!read_le(op == 'q' ? 1 : 4, &v)) return truncated;
        if (v >= size)
          return "memo index " + std::to_string(v) + " in a pickle of " + std::to_string(size) + " bytes";
        break;
      case 'p': {  // PUT: a decimal index on its own line
        const size_t start = pos;
        if (!skip_line()) return truncated;
        const std::string text(reinterpret_cast<const char*>(data + start), pos - start - 1);
        if (text.size() > 12 || std::stoull("0" + text) >= size)
          return "memo index " + text + " in a pickle of " + std::to_string(size) + " bytes";
        break;
      }
      // length-prefixed strings, bytes and longs
      case 'U': case 'C': case 0x8c: case 0x8a:
        if (!read_le(1, &v)) return truncated;
        goto length;
      case 'T': case 'X': case 'B': case 0x8b:
        if (!read_le(4, &v)) return truncated;
        goto length;
      case 0x8d: case 0x8e:
        if (!read_le(8, &v)) return truncated;
      length:
        if (v > remaining())
          return "a length of " + std::to_string(v) + " bytes, with " + std::to_string(remaining()) + " left";
        pos += size_t(v);
        break;
      // newline-terminated arguments
      case 'F': case 'I': case 'L': case 'S': case 'V': case 'g': case 'P':
        if (!skip_line()) return truncated;
        break;
      case 'c': case 'i':  // module and name, two lines
        if (!skip_line() || !skip_line()) return truncated;
        break;
      default:
        return "";
    }
  }
  return "";
}

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
};

ArchiveScan scan_archive(const Archive& archive, int64_t file_size) {
  ArchiveScan scan;
  try {
    caffe2::serialize::PyTorchStreamReader reader(archive);
    const std::vector<std::string> records = reader.getAllRecords();
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
#if TORCH_VERSION_MAJOR >= 2
      // records are stored uncompressed: one larger than the file is a lie about its size
      if (const size_t claimed = reader.getRecordSize(name); int64_t(claimed) > file_size) {
        scan.bad_record = name + ": a record of " + std::to_string(claimed) + " bytes in a file of " +
                      std::to_string(file_size);
        continue;
      }
#endif
      auto record = reader.getRecord(name);
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

// "X.Y" of the torch named in the metadata's "exported_with", or "" when absent.
std::string exporter_torch(const std::string& json) {
  const size_t with = json.find("\"exported_with\"");
  const size_t key = with == std::string::npos ? with : json.find("\"torch\"", with);
  const size_t colon = key == std::string::npos ? key : json.find(':', key);
  const size_t open = colon == std::string::npos ? colon : json.find('"', colon);
  if (open == std::string::npos) return "";
  const size_t end = json.find('"', open + 1);
  return major_minor(json.substr(open + 1, end == std::string::npos ? std::string::npos : end - open - 1));
}

// At most `n` non-empty lines of `text`, with "..." when some were left out.
std::string first_lines(const std::string& text, int n) {
  std::string out;
  size_t pos = 0;
  int kept = 0;
  while (pos < text.size() && kept < n) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (end > pos) {
      out += (kept > 0 ? " " : "") + text.substr(pos, end - pos);
      ++kept;
    }
    pos = end + 1;
  }
  if (pos < text.size() && text.find_first_not_of("\n ", pos) != std::string::npos) out += " ...";
  return out;
}

// Whether version "X.Y" is newer than "A.B" (numerically).
bool newer(const std::string& a, const std::string& b) {
  int a1 = 0, a2 = 0, b1 = 0, b2 = 0;
  if (std::sscanf(a.c_str(), "%d.%d", &a1, &a2) < 1 || std::sscanf(b.c_str(), "%d.%d", &b1, &b2) < 1)
    return false;
  return a1 != b1 ? a1 > b1 : a2 > b2;
}

at::ScalarType scalar_type(mf_precision p) {
  switch (p) {
    case MF_PRECISION_FP16: return at::kHalf;
    case MF_PRECISION_BF16: return at::kBFloat16;
    default: return at::kFloat;
  }
}

// Module::to(dtype) would also cast integer buffers (the attention index tables); cast only the
// floating-point parameters and buffers.
void cast_floating(torch::jit::Module& module, at::ScalarType dtype) {
  for (const auto& p : module.named_parameters(/*recurse=*/true))
    if (p.value.is_floating_point()) p.value.set_data(p.value.to(dtype));
  for (const auto& b : module.named_buffers(/*recurse=*/true))
    if (b.value.is_floating_point()) b.value.set_data(b.value.to(dtype));
}

class ScriptBackend : public Backend {
 public:
  ScriptBackend(torch::jit::Module module, std::string optimizations)
      : module_(std::move(module)), optimizations_(std::move(optimizations)) {}
  // forward only reads the module (pytorch#51452), so concurrent calls are safe
  c10::IValue run(const at::Tensor& batch) const override {
    return const_cast<torch::jit::Module&>(module_).forward({batch});
  }
  const std::vector<std::pair<int, int>>& sizes() const override { return any_size_; }
  const char* format() const override { return "torchscript"; }
  const std::string& optimizations() const override { return optimizations_; }

 private:
  torch::jit::Module module_;
  std::string optimizations_;
  std::vector<std::pair<int, int>> any_size_;
};

// A TorchScript export on `device` in `precision`, with its metadata in *meta.
// `path` names the file in messages; `source` is what is read (ModelFile::source()), `file_size`
// its size from the checked descriptor.
std::unique_ptr<Backend> load_torchscript(const std::string& path, const Archive& archive,
                                          int64_t file_size, const LoadOptions& options,
                                          const at::Device& device, Metadata* meta) {
  const ArchiveScan scan = scan_archive(archive, file_size);
  if (scan.checkpoint) fail(MF_ERR_MODEL_FORMAT, checkpoint_message(path, "a zip written by torch.save"));
  if (!scan.setstate.empty())
    fail(MF_ERR_MODEL_FORMAT, "'" + path + "' defines __setstate__ (" + scan.setstate +
                                  "), code that TorchScript would run while loading, before any check: "
                                  "MaskFormer exports have none");
  if (!scan.bad_record.empty())
    fail(MF_ERR_MODEL_FORMAT, "'" + path + "' is corrupt or hostile: " + scan.bad_record +
                                  " (LibTorch would allocate by that number before reading)");
  torch::jit::ExtraFilesMap extra{{kMetadataFile, ""}};
  torch::jit::Module module;
  try {
    module = torch::jit::load(archive, at::Device(at::kCPU), extra);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    // c10::Error for bad archives; the TorchScript frontend's ErrorReport (a std::exception, with
    // a long source excerpt) for code this LibTorch cannot compile, e.g. unknown operators
    const std::string text = summarise_error(text_of(e));
    if (starts_like_legacy_save(archive))
      fail(MF_ERR_MODEL_FORMAT, checkpoint_message(path, "torch.save's legacy format"));
    const std::string exporter = exporter_torch(read_metadata_record(archive));
    if (!exporter.empty() && newer(exporter, TORCH_VERSION))
      fail(MF_ERR_MODEL_FORMAT, "'" + path + "' was exported with torch " + exporter +
                                    ", newer than this LibTorch " + TORCH_VERSION +
                                    ", which cannot load its TorchScript: export it with torch <= " +
                                    TORCH_VERSION + " or run the shim on a newer LibTorch (" +
                                    first_lines(text, 1) + ")");
    const bool pt2_name = path.size() > 4 && path.compare(path.size() - 4, 4, ".pt2") == 0;
    fail(MF_ERR_MODEL_FORMAT, "'" + path + "' is not a readable TorchScript archive (truncated, "
                              "corrupt or not an export" +
                                  std::string(pt2_name ? "; nor a readable AOTInductor package" : "") +
                                  "): " + first_lines(text, 3));
  }
  if (extra[kMetadataFile].empty())
    fail(MF_ERR_MODEL_FORMAT, "'" + path + "' carries no " + kMetadataFile +
                                  ": export it with models/export.py");
  *meta = parse_metadata(extra[kMetadataFile]);
  if (!module.find_method("forward"))
    fail(MF_ERR_MODEL_FORMAT, "'" + path + "' has no forward method");
  check_terminates(module, path);

  module.eval();
  if (!device.is_cpu()) module.to(device);
  if (options.precision != MF_PRECISION_FP32) cast_floating(module, scalar_type(options.precision));
  std::string report = "none";
  if (device.is_cpu())
    module = optimize_for_cpu_checked(module, scalar_type(options.precision), cpu_passes_from_env(), &report);
  // MASKFORMER_VERBOSE=1: what the load did to the network, on stderr (docs/performance.md)
  if (const char* verbose = std::getenv("MASKFORMER_VERBOSE"); verbose != nullptr && verbose[0] == '1')
    std::fprintf(stderr, "maskformer: %s: CPU rewrites %s\n", path.c_str(), report.c_str());
  return std::make_unique<ScriptBackend>(std::move(module), std::move(report));
}

}  // namespace

Model::Model(std::unique_ptr<Backend> backend, Metadata meta, at::Device device,
             mf_precision precision, bool jit_optimize)
    : backend_(std::move(backend)),
      meta_(std::move(meta)),
      device_(device),
      precision_(precision),
      dtype_(scalar_type(precision)),
      jit_optimize_(jit_optimize) {}

at::Device Model::prepare(const LoadOptions& options) {
  require_compiled_libtorch();
  install_host_allocator();
  require(options.precision >= MF_PRECISION_FP32 && options.precision <= MF_PRECISION_BF16,
          "unknown precision " + std::to_string(options.precision));
  require(options.device >= MF_DEVICE_CPU, "device must be -1 (CPU) or a CUDA index, got " +
                                               std::to_string(options.device));
  require(options.intra_op_threads >= 0, "intra_op_threads must be >= 0");
  at::Device device(at::kCPU);
  if (options.device >= 0) {
    if (!torch::cuda::is_available())
      fail(MF_ERR_UNSUPPORTED, "cuda:" + std::to_string(options.device) +
                                   " requested, but CUDA is not available here (LibTorch " +
                                   TORCH_VERSION + " without CUDA, or no device visible)");
    if (options.device >= static_cast<int>(torch::cuda::device_count()))
      fail(MF_ERR_UNSUPPORTED, "cuda:" + std::to_string(options.device) + " requested, but only " +
                                   std::to_string(torch::cuda::device_count()) + " CUDA device(s) exist");
    device = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(options.device));
  }
  if (options.precision == MF_PRECISION_FP16 && device.is_cpu())
    fail(MF_ERR_UNSUPPORTED, "fp16 needs a CUDA device; on the CPU use fp32 or bf16");
  // emulated bf16 is slower than fp32 and less exact: refused rather than run quietly
  if (options.precision == MF_PRECISION_BF16 && device.is_cpu() && !cpu_has_native_bf16())
    fail(MF_ERR_UNSUPPORTED, "bf16 on the CPU needs native bf16 instructions (AVX512-BF16 or AMX), "
                             "which this CPU lacks: use fp32");
  if (options.intra_op_threads > 0)
    set_threads(options.intra_op_threads);
  else
    apply_default_threads();
  return device;
}

std::unique_ptr<Model> Model::load(const std::string& path, const LoadOptions& options) {
  const at::Device device = prepare(options);
  const ModelFile file(path);
  Metadata meta;
  // the format is read from the file's records, not its name; a package's code runs only after
  // every check that needs none of it, and only with allow_native_code
  std::unique_ptr<Backend> backend =
      is_aoti_package(file.source())
          ? load_aoti(path, file.source(), options, device, &meta)
          : load_torchscript(path, std::make_shared<caffe2::serialize::FileAdapter>(file.source()), file.size(),
                             options, device, &meta);
  return finish(std::move(backend), std::move(meta), device, options, path);
}

std::unique_ptr<Model> Model::load_memory(const void* data, size_t size, const std::string& name,
                                          const LoadOptions& options) {
  const at::Device device = prepare(options);
  if (size == 0) fail(MF_ERR_MODEL_FORMAT, "model '" + name + "' is empty (0 bytes)");
  const Archive archive = std::make_shared<BytesAdapter>(data, size);
  if (is_aoti_package(archive))
    fail(MF_ERR_MODEL_FORMAT, "'" + name + "' is an AOTInductor package (.pt2), which loads from a file only "
                             "(LibTorch unpacks its compiled library to disk): save it to a file and load that");
  Metadata meta;
  std::unique_ptr<Backend> backend =
      load_torchscript(name, archive, static_cast<int64_t>(size), options, device, &meta);
  return finish(std::move(backend), std::move(meta), device, options, name);
}

std::unique_ptr<Model> Model::finish(std::unique_ptr<Backend> backend, Metadata meta, const at::Device& device,
                                     const LoadOptions& options, const std::string& path) {
  std::unique_ptr<Model> model(
      new Model(std::move(backend), std::move(meta), device, options.precision, options.jit_optimize));
  // a small forward pass proves the file keeps the contract on this device and precision; a
  // package of fixed sizes is probed at its smallest one
  const auto& fixed = model->fixed_sizes();
  const std::pair<int, int> probe_hw =
      fixed.empty() ? std::make_pair(64, 64)
                    : *std::min_element(fixed.begin(), fixed.end(), [](const auto& a, const auto& b) {
                        return int64_t(a.first) * a.second < int64_t(b.first) * b.second;
                      });
  const std::string probe_text = std::to_string(probe_hw.second) + "x" + std::to_string(probe_hw.first);
  try {
    c10::InferenceMode inference;
    torch::jit::GraphOptimizerEnabledGuard optimizer(model->jit_optimize_);
    DeviceScope scope(device);
    at::Tensor probe = at::zeros({1, 3, probe_hw.first, probe_hw.second}, at::TensorOptions().device(device).dtype(model->dtype_));
    model->forward(probe);
    scope.synchronize();
  } catch (const Error& e) {
    // NaN on zeros, or outputs off the contract: the file's weights or code are broken
    if (e.status() == MF_ERR_NOT_FINITE || e.status() == MF_ERR_MODEL_FORMAT)
      fail(MF_ERR_MODEL_FORMAT, "'" + path + "' failed a " + probe_text + " test forward pass on " + device.str() + " (" +
                                    precision_name(options.precision) + "): " + e.what());
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    // c10::Error from an operator, or the interpreter's std::runtime_error carrying its text
    const std::string text = summarise_error(text_of(e));
    if (is_out_of_memory(e))
      fail(MF_ERR_OUT_OF_MEMORY, "'" + path + "': the " + probe_text + " test forward pass ran out of memory on " +
                                     device.str() + ": " + first_lines(text, 1));
    if (options.precision != MF_PRECISION_FP32 && text.find("not implemented for") != std::string::npos)
      fail(MF_ERR_UNSUPPORTED, std::string(precision_name(options.precision)) + " is not supported on " +
                                   device.str() + " by this LibTorch: " + first_lines(text, 3));
    fail(MF_ERR_MODEL_FORMAT, "'" + path + "' failed a " + probe_text + " test forward pass on " + device.str() +
                                  " (" + precision_name(options.precision) + "): " + first_lines(text, 3));
  }
  return model;
}

void Model::require_size(int net_h, int net_w, int image_h, int image_w) const {
  const auto& fixed = backend_->sizes();
  if (fixed.empty() || std::find(fixed.begin(), fixed.end(), std::make_pair(net_h, net_w)) != fixed.end())
    return;
  std::string have;
  for (const auto& hw : fixed)
    have += (have.empty() ? "" : ", ") + std::to_string(hw.second) + "x" + std::to_string(hw.first);
  fail(MF_ERR_INVALID_ARGUMENT,
       "the network input size " + std::to_string(net_w) + "x" + std::to_string(net_h) + " (for a " +
           std::to_string(image_w) + "x" + std::to_string(image_h) +
           " frame) is not among the sizes this AOTInductor package was compiled for (" + have +
           "): export one with --sizes " + std::to_string(net_w) + "x" + std::to_string(net_h) +
           ", or give frames whose network size is listed");
}

std::pair<int, int> Model::input_size(int height, int width, bool resize) const {
  if (!resize || !meta_.resize_keep_ratio) return {height, width};
  return keep_ratio_size(height, width, meta_.resize_long, meta_.resize_short);
}

std::pair<at::Tensor, at::Tensor> Model::forward(const at::Tensor& batch) const {
  c10::IValue result = backend_->run(batch);
  auto fail_contract = [&](const std::string& what) {
    fail(MF_ERR_MODEL_FORMAT, "forward() does not keep the MaskFormer contract: " + what);
  };
  if (!result.isTuple()) fail_contract("it returned " + result.tagKind() + ", expected a tuple");
  const auto& items = result.toTupleRef().elements();
  if (items.size() != 2 || !items[0].isTensor() || !items[1].isTensor())
    fail_contract("expected (pred_logits, pred_masks)");
  at::Tensor logits = items[0].toTensor(), masks = items[1].toTensor();
  for (const auto* t : {&logits, &masks}) {
    const char* name = t == &logits ? "pred_logits" : "pred_masks";
    if (t->layout() != at::kStrided)
      fail_contract(std::string(name) + " is a " + c10::str(t->layout()) + " tensor, expected a dense one");
    if (t->device() != device_)
      fail_contract(std::string(name) + " is on " + t->device().str() + ", expected " + device_.str());
    if (!t->is_floating_point())
      fail_contract(std::string(name) + " has dtype " + c10::str(t->scalar_type()) + ", expected a floating type");
  }
  const int64_t b = batch.size(0), k = meta_.num_classes, q = meta_.num_queries;
  const int64_t mh = (batch.size(2) + meta_.mask_stride - 1) / meta_.mask_stride;
  const int64_t mw = (batch.size(3) + meta_.mask_stride - 1) / meta_.mask_stride;
  if (logits.dim() != 3 || logits.size(0) != b || logits.size(1) != q || logits.size(2) != k + 1)
    fail_contract("pred_logits has shape " + c10::str(logits.sizes()) + ", expected [" +
                  std::to_string(b) + ", " + std::to_string(q) + ", " + std::to_string(k + 1) + "]");
  if (masks.dim() != 4 || masks.size(0) != b || masks.size(1) != q || masks.size(2) != mh ||
      masks.size(3) != mw)
    fail_contract("pred_masks has shape " + c10::str(masks.sizes()) + ", expected [" +
                  std::to_string(b) + ", " + std::to_string(q) + ", " + std::to_string(mh) + ", " +
                  std::to_string(mw) + "]");
  // NaN would give label 0 everywhere (argmax of NaN), a silent wrong result; infinity alike
  // one reduction each and one host read for both (one device sync on CUDA, not two)
  const at::Tensor finite = at::stack({at::isfinite(logits).all(), at::isfinite(masks).all()}).cpu();
  const bool* ok = finite.data_ptr<bool>();
  if (!ok[0] || !ok[1])
    fail(MF_ERR_NOT_FINITE, std::string("the network's outputs hold NaN or infinity (") +
                                (ok[0] ? "pred_masks" : "pred_logits") + ", " + precision_name(precision_) +
                                "): no labels are written");
  return {logits.to(at::kFloat), masks.to(at::kFloat)};
}

void Model::segment(const std::vector<ImageView>& images, const std::vector<OutputView>& outputs,
                    const SegmentOptions& options) const {
  HostCallScope host_call;  // this call's working set sizes the host cache
  c10::InferenceMode inference;
  torch::jit::GraphOptimizerEnabledGuard optimizer(jit_optimize_);
  DeviceScope scope(device_);

  std::map<std::pair<int, int>, std::vector<size_t>> groups;  // network size -> images
  for (size_t i = 0; i < images.size(); ++i)
    groups[input_size(images[i].height, images[i].width, options.resize)].push_back(i);
  for (const auto& group : groups)  // before any work: a missing size fails the whole call
    require_size(group.first.first, group.first.second, images[group.second[0]].height,
                 images[group.second[0]].width);

  auto float_opts = at::TensorOptions().device(device_).dtype(at::kFloat);
  // class scores are made in bands of rows, which bounds the memory that large frames need:
  // 32 MiB on the CPU, 512 MiB on a GPU (where fewer, larger kernels are what counts)
  const int64_t band_bytes = device_.is_cpu() ? (int64_t(32) << 20) : (int64_t(512) << 20);
  for (const auto& group : groups) {
    const int net_h = group.first.first, net_w = group.first.second;
    const auto& members = group.second;
    at::Tensor batch = at::empty({static_cast<int64_t>(members.size()), 3, net_h, net_w}, float_opts);
    for (size_t j = 0; j < members.size(); ++j) {
      const ImageView& image = images[members[j]];
      const bool same_size = net_h == image.height && net_w == image.width;
      at::Tensor sized;
      if (image.yuv) {
        sized = yuv_to_network_size(image, net_h, net_w);
      } else {
        at::Tensor hwc = image_to_device(image, device_, host_buffer_is_pinned(image.data, image.span()));
        sized = same_size ? hwc : resize_linear_u8(hwc, net_h, net_w);
      }
      normalise_into(sized, image.bgr, meta_.input_bgr, meta_.mean, meta_.std, batch[j]);
    }
    auto result = forward(dtype_ == at::kFloat ? batch : batch.to(dtype_));
    for (size_t j = 0; j < members.size(); ++j) {
      const ImageView& image = images[members[j]];
      write_outputs(result.first[j], result.second[j], net_h, net_w, image.height, image.width,
                    meta_.num_classes, outputs[members[j]], options, band_bytes);
    }
  }
  scope.synchronize();
}

at::Tensor Model::yuv_to_network_size(const ImageView& image, int net_h, int net_w) const {
  const bool same_size = net_h == image.height && net_w == image.width;
  if (!device_.is_cpu()) {  // the planes go up (1.5 bytes a pixel); RGB is made on the device
    const std::vector<at::Tensor> planes = yuv_planes_to_device(image, device_);
    at::Tensor rgb = yuv_to_rgb_tensor(planes[0], planes[1], planes[2], image.matrix, image.full_range);
    return same_size ? rgb : resize_linear_u8(rgb, net_h, net_w);
  }
  // on the CPU only the rows that the resize reads are converted
  const auto bytes = at::TensorOptions().dtype(at::kByte);
  if (same_size) {
    at::Tensor rgb = at::empty({image.height, image.width, 3}, bytes);
    yuv_to_rgb_rows(image, nullptr, image.height, rgb.data_ptr<uint8_t>());
    return rgb;
  }
  const std::vector<int64_t> rows = resize_source_rows(image.height, net_h);
  at::Tensor rgb = at::empty({static_cast<int64_t>(rows.size()), image.width, 3}, bytes);
  yuv_to_rgb_rows(image, rows.data(), static_cast<int64_t>(rows.size()), rgb.data_ptr<uint8_t>());
  return resize_linear_u8(rgb, net_h, net_w, image.height);
}

std::vector<double> Model::benchmark_forward(int height, int width, int batch, int iters) const {
  c10::InferenceMode inference;
  torch::jit::GraphOptimizerEnabledGuard optimizer(jit_optimize_);
  DeviceScope scope(device_);
  require_size(height, width, height, width);
  at::Tensor x = at::zeros({batch, 3, height, width}, at::TensorOptions().device(device_).dtype(dtype_));
  forward(x);
  scope.synchronize();
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(iters));
  for (int i = 0; i < iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    forward(x);
    scope.synchronize();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return ms;
}

void Model::warmup(const std::vector<std::pair<int, int>>& sizes_hw) const {
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  for (const auto& hw : sizes_hw) {
    ImageView image;
    image.height = hw.first;
    image.width = hw.second;
    image.stride = int64_t(hw.second) * 3;
    const size_t pixel_bytes = static_cast<size_t>(image.stride) * hw.first;
    // calloc maps large blocks as untouched zero pages: the forward pass only reads them, so a
    // warm-up frame costs no resident memory, where a filled vector cost 3 bytes a pixel
    std::unique_ptr<void, Free> pixels(std::calloc(pixel_bytes, 1));
    // the narrowest label type the model allows: 1 byte a pixel instead of 4 for K <= 256
    const bool u8 = meta_.num_classes <= 256;
    const size_t label_bytes = static_cast<size_t>(hw.first) * hw.second * (u8 ? 1 : 4);
    std::unique_ptr<void, Free> labels(std::malloc(label_bytes));
    if (!pixels || !labels)
      fail(MF_ERR_OUT_OF_MEMORY, "cannot allocate the " + std::to_string(hw.second) + "x" +
                                     std::to_string(hw.first) + " warm-up frame");
    image.data = static_cast<const uint8_t*>(pixels.get());
    image.data_size = static_cast<int64_t>(pixel_bytes);
    OutputView out;
    out.labels = labels.get();
    out.labels_size = static_cast<int64_t>(label_bytes);
    out.label_type = u8 ? MF_LABEL_U8 : MF_LABEL_I32;
    segment({image}, {out}, SegmentOptions());
  }
}

}  // namespace maskformer
