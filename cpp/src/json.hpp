// SPDX-License-Identifier: Apache-2.0
// A small, strict JSON reader (RFC 8259) for the metadata stored in exports. It builds a tree of
// values; errors carry the byte offset. Nesting is limited so hostile input cannot overflow the
// stack.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace maskformer {
namespace json {

class Value {
 public:
  enum class Kind { Null, Bool, Number, String, Array, Object };

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::Null; }
  bool is_number() const { return kind_ == Kind::Number; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_array() const { return kind_ == Kind::Array; }
  bool is_object() const { return kind_ == Kind::Object; }

  bool boolean() const { return b_; }
  double number() const { return n_; }
  const std::string& string() const { return s_; }
  const std::vector<Value>& array() const { return a_; }
  // nullptr when absent or when this is not an object
  const Value* find(const std::string& key) const;

  static Value parse(const std::string& text);  // throws std::runtime_error with the offset

 private:
  friend class Parser;
  Kind kind_ = Kind::Null;
  bool b_ = false;
  double n_ = 0;
  std::string s_;
  std::vector<Value> a_;
  std::vector<std::pair<std::string, Value>> o_;
};

const char* kind_name(Value::Kind kind);

}  // namespace json
}  // namespace maskformer
