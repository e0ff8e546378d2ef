// SPDX-License-Identifier: Apache-2.0
#include "metadata.hpp"

#include <cmath>
#include <stdexcept>

#include "error.hpp"
#include "json.hpp"
#include "runtime.hpp"

namespace maskformer {

namespace {

[[noreturn]] void bad(const std::string& what) {
  fail(MF_ERR_MODEL_FORMAT, std::string(kMetadataFile) + ": " + what);
}

const json::Value& field(const json::Value& obj, const std::string& key, json::Value::Kind kind,
                         const std::string& path) {
  const json::Value* v = obj.find(key);
  if (v == nullptr) bad("missing field \"" + path + key + "\"");
  if (v->kind() != kind)
    bad("field \"" + path + key + "\" is " + json::kind_name(v->kind()) + ", expected " +
        json::kind_name(kind));
  return *v;
}

int integer(const json::Value& obj, const std::string& key, int lo, int hi,
            const std::string& path = "") {
  double d = field(obj, key, json::Value::Kind::Number, path).number();
  if (d != std::floor(d) || d < lo || d > hi)
    bad("field \"" + path + key + "\" must be an integer in [" + std::to_string(lo) + ", " +
        std::to_string(hi) + "], got " + std::to_string(d));
  return static_cast<int>(d);
}

const std::string& text(const json::Value& obj, const std::string& key,
                        const std::string& path = "") {
  return field(obj, key, json::Value::Kind::String, path).string();
}

std::array<double, 3> triple(const json::Value& obj, const std::string& key,
                            const std::string& path) {
  const auto& a = field(obj, key, json::Value::Kind::Array, path).array();
  if (a.size() != 3) bad("field \"" + path + key + "\" must hold 3 numbers");
  std::array<double, 3> out{};
  for (size_t i = 0; i < 3; ++i) {
    if (!a[i].is_number()) bad("field \"" + path + key + "\" must hold 3 numbers");
    out[i] = a[i].number();
  }
  return out;
}

// "X.Y" when `v` is one (digits, a dot, digits), else "": what a message may quote of a file
std::string version_or_empty(const std::string& v) {
  const size_t dot = v.find('.');
  const auto digits = [&](size_t from, size_t to) {
    if (from >= to || to - from > 6) return false;
    for (size_t i = from; i < to; ++i)
      if (v[i] < '0' || v[i] > '9') return false;
    return true;
  };
  return dot != std::string::npos && digits(0, dot) && digits(dot + 1, v.size()) ? v : std::string();
}

// "X.Y" of exported_with.torch in a document, "" when absent or not a version.
std::string exporter_of(const json::Value& root) {
  const json::Value* with = root.is_object() ? root.find("exported_with") : nullptr;
  const json::Value* torch = with != nullptr && with->is_object() ? with->find("torch") : nullptr;
  return torch != nullptr && torch->is_string() ? version_or_empty(major_minor(torch->string())) : std::string();
}

}  // namespace

std::string exported_with(const std::string& json_text) {
  try {
    return exporter_of(json::Value::parse(json_text));
  } catch (const std::exception&) {
  }
  // a record this reader refuses may still say which torch wrote it: the advice to export with an
  // older torch is worth giving for a file LibTorch cannot load either
  const size_t with = json_text.find("\"exported_with\"");
  const size_t torch = with == std::string::npos ? with : json_text.find("\"torch\"", with);
  const size_t colon = torch == std::string::npos ? torch : json_text.find(':', torch);
  const size_t open = colon == std::string::npos ? colon : json_text.find('"', colon);
  const size_t close = open == std::string::npos ? open : json_text.find('"', open + 1);
  if (close == std::string::npos || close - open > 32) return "";
  return version_or_empty(major_minor(json_text.substr(open + 1, close - open - 1)));
}

const char* precision_name(mf_precision p) {
  switch (p) {
    case MF_PRECISION_FP16: return "fp16";
    case MF_PRECISION_BF16: return "bf16";
    default: return "fp32";
  }
}

Metadata parse_metadata(const std::string& json_text) {
  json::Value root;
  try {
    root = json::Value::parse(json_text);
  } catch (const std::runtime_error& e) {
    bad(e.what());
  }
  if (!root.is_object()) bad("the document is not a JSON object");
  Metadata m;
  m.json = json_text;
  const std::string& format = text(root, "format");
  if (format != "maskformer-java") bad("format is \"" + format + "\", expected \"maskformer-java\"");
  m.format_version = integer(root, "format_version", 1, 1 << 20);
  if (m.format_version > kMetadataFormatVersion)
    bad("format_version " + std::to_string(m.format_version) + " is newer than this library (" +
        std::to_string(kMetadataFormatVersion) + "); update maskformer-java");
  if (const json::Value* v = root.find("variant"); v != nullptr && v->is_string())
    m.variant = v->string();
  m.num_classes = integer(root, "num_classes", 1, 65535);

  const auto& classes = field(root, "classes", json::Value::Kind::Array, "").array();
  if (static_cast<int>(classes.size()) != m.num_classes)
    bad("\"classes\" has " + std::to_string(classes.size()) + " names for num_classes " +
        std::to_string(m.num_classes));
  for (const auto& c : classes) {
    if (!c.is_string()) bad("\"classes\" must hold strings");
    m.classes.push_back(c.string());
  }
  const auto& palette = field(root, "palette", json::Value::Kind::Array, "").array();
  if (static_cast<int>(palette.size()) != m.num_classes)
    bad("\"palette\" has " + std::to_string(palette.size()) + " colours for num_classes " +
        std::to_string(m.num_classes));
  for (const auto& c : palette) {
    if (!c.is_array() || c.array().size() != 3) bad("\"palette\" entries must be [r, g, b]");
    std::array<uint8_t, 3> rgb{};
    for (size_t i = 0; i < 3; ++i) {
      const auto& v = c.array()[i];
      if (!v.is_number() || v.number() < 0 || v.number() > 255 || v.number() != std::floor(v.number()))
        bad("\"palette\" values must be integers in [0, 255]");
      rgb[i] = static_cast<uint8_t>(v.number());
    }
    m.palette.push_back(rgb);
  }

  const auto& input = field(root, "input", json::Value::Kind::Object, "");
  const std::string& order = text(input, "channel_order", "input.");
  if (order != "RGB" && order != "BGR") bad("input.channel_order must be \"RGB\" or \"BGR\"");
  m.input_bgr = order == "BGR";
  m.mean = triple(input, "mean", "input.");
  m.std = triple(input, "std", "input.");
  for (double s : m.std)
    if (!(s > 0.0)) bad("input.std values must be positive");

  const auto& resize = field(root, "resize", json::Value::Kind::Object, "");
  const std::string& mode = text(resize, "mode", "resize.");
  if (mode != "keep_ratio" && mode != "none")
    bad("resize.mode must be \"keep_ratio\" or \"none\", got \"" + mode + "\"");
  m.resize_keep_ratio = mode == "keep_ratio";
  if (m.resize_keep_ratio) {
    // the network input is at most long_side x short_side pixels, whatever the frame
    m.resize_long = integer(resize, "long_side", 1, MF_MAX_NETWORK_SIDE, "resize.");
    m.resize_short = integer(resize, "short_side", 1, MF_MAX_NETWORK_SIDE, "resize.");
  }
  m.num_queries = integer(root, "num_queries", 1, 1 << 16);
  int no_object = integer(root, "no_object_index", 0, 1 << 20);
  if (no_object != m.num_classes)
    bad("no_object_index must equal num_classes (the last class logit is \"no object\")");
  m.mask_stride = integer(root, "mask_stride", 1, 64);
  if (const json::Value* sd = root.find("size_divisibility"); sd != nullptr && sd->is_number() &&
                                                              sd->number() > 1)
    bad("size_divisibility > 1 (padded inference) is not supported by this library version");
  m.exported_with = exporter_of(root);
  return m;
}

}  // namespace maskformer
