#pragma once

// A small document model for built-in handler payloads, read from msgpack or JSON with
// explicit limits. Payloads are untrusted: readers never throw and never allocate more
// than the input justifies.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "taskmill/shared/error.h"

namespace taskmill::worker {

struct PayloadLimits {
  size_t max_bytes = 16u << 20;  // whole input
  uint32_t max_items = 100'000;  // elements of one array or entries of one map
  uint32_t max_depth = 32;       // nesting of arrays/maps
};

// One value: null, bool, integer, double, string (msgpack str or bin, JSON string),
// array, or map with string keys (other keys are rejected).
class Value {
 public:
  enum class Kind : uint8_t { kNull, kBool, kInt, kDouble, kString, kArray, kMap };

  Value() = default;
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Double(double d);
  static Value String(std::string s);
  static Value Array(std::vector<Value> items);
  static Value Map(std::vector<std::pair<std::string, Value>> fields);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kDouble; }
  bool as_bool() const { return bool_; }
  int64_t as_int() const { return kind_ == Kind::kDouble ? static_cast<int64_t>(double_) : int_; }
  double as_double() const { return kind_ == Kind::kInt ? static_cast<double>(int_) : double_; }
  const std::string& as_string() const { return string_; }
  const std::vector<Value>& items() const { return items_; }
  const std::vector<std::pair<std::string, Value>>& fields() const { return fields_; }
  // The value of `key` in a map (the last one if repeated), or null.
  const Value* Find(std::string_view key) const;

 private:
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  int64_t int_ = 0;
  double double_ = 0;
  std::string string_;
  std::vector<Value> items_;
  std::vector<std::pair<std::string, Value>> fields_;
};

const char* KindName(Value::Kind kind);

Result<Value> ParseMsgpack(std::string_view bytes, const PayloadLimits& limits = {});
Result<Value> ParseJson(std::string_view text, const PayloadLimits& limits = {});
// JSON when the first non-blank byte is '{' (a msgpack map never starts so), else msgpack.
Result<Value> ParsePayload(std::string_view bytes, const PayloadLimits& limits = {});

// Typed field readers for payload maps: absent (or null) -> nullopt; wrong type -> error
// naming the field.
Result<std::optional<std::string>> GetString(const Value& map, std::string_view key);
Result<std::optional<uint64_t>> GetUint(const Value& map, std::string_view key);
Result<std::optional<bool>> GetBool(const Value& map, std::string_view key);

}  // namespace taskmill::worker
