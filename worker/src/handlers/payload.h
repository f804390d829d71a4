#pragma once

// Built-in handler payloads, read from msgpack or JSON into an nlohmann::json document with
// explicit limits. Payloads are untrusted: readers never throw and never allocate more than
// the input justifies (a SAX reader checks size, depth and item counts as it goes, before
// anything is built).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "taskmill/shared/error.h"

namespace taskmill::worker {

using Json = nlohmann::json;

struct PayloadLimits {
  size_t max_bytes = 16u << 20;  // whole input
  uint32_t max_items = 100'000;  // elements of one array or entries of one map
  uint32_t max_depth = 32;       // nesting of arrays/maps
};

// A document holds null, bool, integers (signed or unsigned 64-bit), doubles, strings
// (msgpack str or bin, JSON string), arrays and maps with string keys (a repeated key keeps
// its last value). msgpack ext values and non-string keys are rejected.
Result<Json> ParseMsgpack(std::string_view bytes, const PayloadLimits& limits = {});
Result<Json> ParseJson(std::string_view text, const PayloadLimits& limits = {});
// JSON when the first non-blank byte is '{' (a msgpack map never starts so), else msgpack.
Result<Json> ParsePayload(std::string_view bytes, const PayloadLimits& limits = {});

// "a map", "an array", "a string"...: for "must be a map, not ..." messages.
std::string DescribeType(const Json& value);
// The value of `key` in a map, or nullptr (also when `map` is not a map).
const Json* Find(const Json& map, std::string_view key);

// Typed field readers for payload maps: absent (or null) -> nullopt; wrong type -> error
// naming the field.
Result<std::optional<std::string>> GetString(const Json& map, std::string_view key);
Result<std::optional<uint64_t>> GetUint(const Json& map, std::string_view key);
Result<std::optional<bool>> GetBool(const Json& map, std::string_view key);

}  // namespace taskmill::worker
