#pragma once

// Reading the msgpack the store's scripts return and the record fields they store
// (task_record.h), with decoder limits, into typed values; every mismatch is kInternal naming
// the field. Private to the store (store_parse.cc, task_record.cc).

#include <msgpack.hpp>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "taskmill/shared/error.h"

namespace taskmill::broker::mp {

// A script reply or record field is bounded by Redis's own limits (proto-max-bulk-len);
// these only stop a corrupt value from allocating without bound.
inline msgpack::unpack_limit Limits() {
  return msgpack::unpack_limit(1u << 20, 1u << 20, 512u << 20, 512u << 20, 0, 16);
}

inline std::unexpected<Error> Bad(std::string_view what, std::string_view why) {
  return std::unexpected(
      Error{ErrorCode::kInternal, "unexpected store reply: " + std::string(what) + " " +
                                      std::string(why)});
}

// Strings and bins refer to the bytes being decoded instead of being copied: every reader
// here decodes bytes that outlive the decoded values (a Redis reply, a record field).
inline bool Referenced(msgpack::type::object_type, std::size_t, void*) { return true; }

// Reads one value after another from `data` (a msgpack stream, or one value), into one zone
// (containers only: strings refer to `data`, which must outlive the values).
class Stream {
 public:
  explicit Stream(std::string_view data) : data_(data) {}
  bool AtEnd() const { return off_ >= data_.size(); }
  Result<msgpack::object> Next(std::string_view what) {
    if (AtEnd()) return Bad(what, "missing");
    try {
      bool referenced = false;
      return msgpack::unpack(zone_, data_.data(), data_.size(), off_, referenced, &Referenced,
                             nullptr, Limits());
    } catch (const std::exception& e) {
      return Bad(what, std::string("is not msgpack: ") + e.what());
    }
  }

 private:
  std::string_view data_;
  size_t off_ = 0;
  msgpack::zone zone_{1024};  // the decoded containers
};

inline bool IsNil(const msgpack::object& o) { return o.type == msgpack::type::NIL; }

inline Result<std::string_view> Str(const msgpack::object& o, std::string_view what) {
  if (o.type == msgpack::type::STR) return std::string_view(o.via.str.ptr, o.via.str.size);
  if (o.type == msgpack::type::BIN) return std::string_view(o.via.bin.ptr, o.via.bin.size);
  if (IsNil(o)) return std::string_view();
  return Bad(what, "is not a string");
}

inline Result<int64_t> Int(const msgpack::object& o, std::string_view what) {
  switch (o.type) {
    case msgpack::type::POSITIVE_INTEGER:
      if (o.via.u64 > static_cast<uint64_t>(INT64_MAX)) return Bad(what, "is out of range");
      return static_cast<int64_t>(o.via.u64);
    case msgpack::type::NEGATIVE_INTEGER:
      return o.via.i64;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return static_cast<int64_t>(o.via.f64);
    case msgpack::type::NIL:
      return 0;
    case msgpack::type::STR: {
      int64_t v = 0;
      std::string s(o.via.str.ptr, o.via.str.size);
      char* end = nullptr;
      v = std::strtoll(s.c_str(), &end, 10);
      if (end == s.c_str()) return Bad(what, "is not a number");
      return v;
    }
    default:
      return Bad(what, "is not an integer");
  }
}

// A decimal string (fencing tokens travel as strings: Lua numbers are doubles) or integer.
inline Result<uint64_t> Uint64(const msgpack::object& o, std::string_view what) {
  if (o.type == msgpack::type::POSITIVE_INTEGER) return o.via.u64;
  if (o.type != msgpack::type::STR) return Bad(what, "is not an unsigned integer");
  std::string s(o.via.str.ptr, o.via.str.size);
  char* end = nullptr;
  errno = 0;
  uint64_t v = std::strtoull(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0) return Bad(what, "is not an unsigned integer");
  return v;
}

inline Result<double> Double(const msgpack::object& o, std::string_view what) {
  if (o.type == msgpack::type::FLOAT32 || o.type == msgpack::type::FLOAT64) return o.via.f64;
  if (o.type == msgpack::type::POSITIVE_INTEGER) return static_cast<double>(o.via.u64);
  if (o.type == msgpack::type::NEGATIVE_INTEGER) return static_cast<double>(o.via.i64);
  return Bad(what, "is not a number");
}

inline Result<bool> Bool(const msgpack::object& o, std::string_view what) {
  if (o.type == msgpack::type::BOOLEAN) return o.via.boolean;
  if (IsNil(o)) return false;
  return Bad(what, "is not a boolean");
}

// An array; Lua's cmsgpack writes an empty table as an empty array, so an empty map is
// accepted too.
inline Result<std::span<const msgpack::object>> Array(const msgpack::object& o,
                                                     std::string_view what) {
  if (o.type == msgpack::type::ARRAY) return std::span(o.via.array.ptr, o.via.array.size);
  if (o.type == msgpack::type::MAP && o.via.map.size == 0) return std::span<const msgpack::object>();
  return Bad(what, "is not an array");
}

// A map; an empty array (Lua's empty table) is an empty map.
inline Result<std::span<const msgpack::object_kv>> Map(const msgpack::object& o,
                                                      std::string_view what) {
  if (o.type == msgpack::type::MAP) return std::span(o.via.map.ptr, o.via.map.size);
  if (o.type == msgpack::type::ARRAY && o.via.array.size == 0) {
    return std::span<const msgpack::object_kv>();
  }
  return Bad(what, "is not a map");
}

// The value of `key` in a map, or nil when absent.
inline const msgpack::object& Get(std::span<const msgpack::object_kv> m, std::string_view key) {
  static const msgpack::object kNil;
  for (const auto& kv : m) {
    if (kv.key.type == msgpack::type::STR &&
        std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) == key) {
      return kv.val;
    }
  }
  return kNil;
}

inline Result<std::vector<std::string>> Strings(const msgpack::object& o, std::string_view what) {
  auto arr = Array(o, what);
  if (!arr) return std::unexpected(arr.error());
  std::vector<std::string> out;
  out.reserve(arr->size());
  for (const auto& e : *arr) {
    auto s = Str(e, what);
    if (!s) return std::unexpected(s.error());
    out.emplace_back(*s);
  }
  return out;
}

// {k, v, k, v, ...} (a flattened HGETALL) or {k = v}.
inline Result<std::map<std::string, std::string>> StrMap(const msgpack::object& o,
                                                        std::string_view what) {
  std::map<std::string, std::string> out;
  if (o.type == msgpack::type::MAP) {
    for (const auto& kv : std::span(o.via.map.ptr, o.via.map.size)) {
      auto k = Str(kv.key, what);
      if (!k) return std::unexpected(k.error());
      auto v = Str(kv.val, what);
      if (!v) return std::unexpected(v.error());
      out.emplace(*k, *v);
    }
    return out;
  }
  auto flat = Strings(o, what);
  if (!flat) return std::unexpected(flat.error());
  if (flat->size() % 2 != 0) return Bad(what, "has an odd number of elements");
  for (size_t i = 0; i < flat->size(); i += 2) out.emplace((*flat)[i], (*flat)[i + 1]);
  return out;
}

}  // namespace taskmill::broker::mp
