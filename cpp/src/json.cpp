// SPDX-License-Identifier: Apache-2.0
#include "json.hpp"

#include <cmath>
#include <cstdlib>
#include <stdexcept>

namespace maskformer {
namespace json {

namespace {
constexpr int kMaxDepth = 64;
}

class Parser {
 public:
  explicit Parser(const std::string& text) : t_(text) {}

  Value document() {
    Value v = value(0);
    skip_space();
    if (i_ != t_.size()) error("unexpected text after the value");
    return v;
  }

 private:
  const std::string& t_;
  size_t i_ = 0;

  [[noreturn]] void error(const std::string& what) const {
    throw std::runtime_error("invalid JSON at byte " + std::to_string(i_) + ": " + what);
  }

  void skip_space() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\n' || t_[i_] == '\r' || t_[i_] == '\t'))
      ++i_;
  }

  bool consume(const char* word) {
    size_t n = 0;
    while (word[n] != '\0') ++n;
    if (t_.compare(i_, n, word) == 0) {
      i_ += n;
      return true;
    }
    return false;
  }

  Value value(int depth) {
    if (depth > kMaxDepth) error("nesting deeper than 64 levels");
    skip_space();
    if (i_ >= t_.size()) error("unexpected end of text");
    Value v;
    char c = t_[i_];
    if (c == '{') {
      v.kind_ = Value::Kind::Object;
      ++i_;
      skip_space();
      if (i_ < t_.size() && t_[i_] == '}') {
        ++i_;
        return v;
      }
      for (;;) {
        skip_space();
        if (i_ >= t_.size() || t_[i_] != '"') error("expected a string key");
        std::string key = string_literal();
        skip_space();
        if (i_ >= t_.size() || t_[i_] != ':') error("expected ':'");
        ++i_;
        v.o_.emplace_back(std::move(key), value(depth + 1));
        skip_space();
        if (i_ < t_.size() && t_[i_] == ',') {
          ++i_;
          continue;
        }
        if (i_ < t_.size() && t_[i_] == '}') {
          ++i_;
          return v;
        }
        error("expected ',' or '}'");
      }
    }
    if (c == '[') {
      v.kind_ = Value::Kind::Array;
      ++i_;
      skip_space();
      if (i_ < t_.size() && t_[i_] == ']') {
        ++i_;
        return v;
      }
      for (;;) {
        v.a_.push_back(value(depth + 1));
        skip_space();
        if (i_ < t_.size() && t_[i_] == ',') {
          ++i_;
          continue;
        }
        if (i_ < t_.size() && t_[i_] == ']') {
          ++i_;
          return v;
        }
        error("expected ',' or ']'");
      }
    }
    if (c == '"') {
      v.kind_ = Value::Kind::String;
      v.s_ = string_literal();
      return v;
    }
    if (consume("true")) {
      v.kind_ = Value::Kind::Bool;
      v.b_ = true;
      return v;
    }
    if (consume("false")) {
      v.kind_ = Value::Kind::Bool;
      return v;
    }
    if (consume("null")) return v;
    if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind_ = Value::Kind::Number;
      v.n_ = number();
      return v;
    }
    error(std::string("unexpected character '") + c + "'");
  }

  double number() {
    size_t start = i_;
    if (t_[i_] == '-') ++i_;
    if (i_ >= t_.size()) error("incomplete number");
    if (t_[i_] == '0') {
      ++i_;
    } else if (t_[i_] >= '1' && t_[i_] <= '9') {
      while (i_ < t_.size() && t_[i_] >= '0' && t_[i_] <= '9') ++i_;
    } else {
      error("bad number");
    }
    if (i_ < t_.size() && t_[i_] == '.') {
      ++i_;
      if (i_ >= t_.size() || t_[i_] < '0' || t_[i_] > '9') error("bad fraction");
      while (i_ < t_.size() && t_[i_] >= '0' && t_[i_] <= '9') ++i_;
    }
    if (i_ < t_.size() && (t_[i_] == 'e' || t_[i_] == 'E')) {
      ++i_;
      if (i_ < t_.size() && (t_[i_] == '+' || t_[i_] == '-')) ++i_;
      if (i_ >= t_.size() || t_[i_] < '0' || t_[i_] > '9') error("bad exponent");
      while (i_ < t_.size() && t_[i_] >= '0' && t_[i_] <= '9') ++i_;
    }
    std::string literal = t_.substr(start, i_ - start);
    double d = std::strtod(literal.c_str(), nullptr);
    if (!std::isfinite(d)) error("number out of range");
    return d;
  }

  unsigned hex4() {
    if (i_ + 4 > t_.size()) error("incomplete \\u escape");
    unsigned u = 0;
    for (int k = 0; k < 4; ++k) {
      char h = t_[i_++];
      u <<= 4;
      if (h >= '0' && h <= '9') u |= static_cast<unsigned>(h - '0');
      else if (h >= 'a' && h <= 'f') u |= static_cast<unsigned>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') u |= static_cast<unsigned>(h - 'A' + 10);
      else error("bad hex digit in \\u escape");
    }
    return u;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string string_literal() {
    ++i_;  // opening quote
    std::string out;
    for (;;) {
      if (i_ >= t_.size()) error("unterminated string");
      char c = t_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) error("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= t_.size()) error("unterminated escape");
      char e = t_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (i_ + 2 > t_.size() || t_[i_] != '\\' || t_[i_ + 1] != 'u')
              error("unpaired surrogate");
            i_ += 2;
            unsigned low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) error("bad low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            error("unpaired surrogate");
          }
          append_utf8(out, cp);
          break;
        }
        default: error(std::string("bad escape \\") + e);
      }
    }
  }
};

const Value* Value::find(const std::string& key) const {
  if (kind_ != Kind::Object) return nullptr;
  for (const auto& kv : o_)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

Value Value::parse(const std::string& text) { return Parser(text).document(); }

const char* kind_name(Value::Kind kind) {
  switch (kind) {
    case Value::Kind::Null: return "null";
    case Value::Kind::Bool: return "a boolean";
    case Value::Kind::Number: return "a number";
    case Value::Kind::String: return "a string";
    case Value::Kind::Array: return "an array";
    case Value::Kind::Object: return "an object";
  }
  return "?";
}

}  // namespace json
}  // namespace maskformer
