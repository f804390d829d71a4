#include "handlers/payload.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <msgpack.hpp>

namespace taskmill::worker {
namespace {

std::unexpected<Error> Bad(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

Result<Value> FromObject(const msgpack::object& o, uint32_t depth, const PayloadLimits& limits) {
  if (depth > limits.max_depth) {
    return Bad("payload nests deeper than " + std::to_string(limits.max_depth));
  }
  switch (o.type) {
    case msgpack::type::NIL:
      return Value();
    case msgpack::type::BOOLEAN:
      return Value::Bool(o.via.boolean);
    case msgpack::type::POSITIVE_INTEGER:
      if (o.via.u64 > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Value::Double(static_cast<double>(o.via.u64));
      }
      return Value::Int(static_cast<int64_t>(o.via.u64));
    case msgpack::type::NEGATIVE_INTEGER:
      return Value::Int(o.via.i64);
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return Value::Double(o.via.f64);
    case msgpack::type::STR:
      return Value::String(std::string(o.via.str.ptr, o.via.str.size));
    case msgpack::type::BIN:
      return Value::String(std::string(o.via.bin.ptr, o.via.bin.size));
    case msgpack::type::ARRAY: {
      std::vector<Value> items;
      items.reserve(o.via.array.size);
      for (uint32_t i = 0; i < o.via.array.size; ++i) {
        auto v = FromObject(o.via.array.ptr[i], depth + 1, limits);
        if (!v) return v;
        items.push_back(std::move(*v));
      }
      return Value::Array(std::move(items));
    }
    case msgpack::type::MAP: {
      std::vector<std::pair<std::string, Value>> fields;
      fields.reserve(o.via.map.size);
      for (uint32_t i = 0; i < o.via.map.size; ++i) {
        const auto& kv = o.via.map.ptr[i];
        if (kv.key.type != msgpack::type::STR) return Bad("payload map has a non-string key");
        auto v = FromObject(kv.val, depth + 1, limits);
        if (!v) return v;
        fields.emplace_back(std::string(kv.key.via.str.ptr, kv.key.via.str.size), std::move(*v));
      }
      return Value::Map(std::move(fields));
    }
    case msgpack::type::EXT:
      return Bad("payload holds a msgpack ext value");
  }
  return Bad("payload holds an unknown msgpack type");
}

}  // namespace

Value Value::Bool(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.bool_ = b;
  return v;
}
Value Value::Int(int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.int_ = i;
  return v;
}
Value Value::Double(double d) {
  Value v;
  v.kind_ = Kind::kDouble;
  v.double_ = d;
  return v;
}
Value Value::String(std::string s) {
  Value v;
  v.kind_ = Kind::kString;
  v.string_ = std::move(s);
  return v;
}
Value Value::Array(std::vector<Value> items) {
  Value v;
  v.kind_ = Kind::kArray;
  v.items_ = std::move(items);
  return v;
}
Value Value::Map(std::vector<std::pair<std::string, Value>> fields) {
  Value v;
  v.kind_ = Kind::kMap;
  v.fields_ = std::move(fields);
  return v;
}

const Value* Value::Find(std::string_view key) const {
  const Value* found = nullptr;
  for (const auto& [k, v] : fields_) {
    if (k == key) found = &v;
  }
  return found;
}

const char* KindName(Value::Kind kind) {
  switch (kind) {
    case Value::Kind::kNull:
      return "null";
    case Value::Kind::kBool:
      return "bool";
    case Value::Kind::kInt:
      return "integer";
    case Value::Kind::kDouble:
      return "number";
    case Value::Kind::kString:
      return "string";
    case Value::Kind::kArray:
      return "array";
    case Value::Kind::kMap:
      return "map";
  }
  return "?";
}

Result<Value> ParseMsgpack(std::string_view bytes, const PayloadLimits& limits) {
  if (bytes.size() > limits.max_bytes) return Bad("payload is larger than the limit");
  if (bytes.empty()) return Bad("payload is empty");
  // Every element takes at least one byte, so no declared count may exceed the input.
  size_t items = std::min<size_t>(limits.max_items, bytes.size());
  msgpack::unpack_limit unpack_limit(items, items, limits.max_bytes, limits.max_bytes,
                                     limits.max_bytes, limits.max_depth);
  // The one place msgpack-cxx is called for payloads: its exceptions end here.
  try {
    size_t offset = 0;
    msgpack::object_handle handle =
        msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, unpack_limit);
    if (offset != bytes.size()) return Bad("payload has trailing bytes after its msgpack value");
    return FromObject(handle.get(), 0, limits);
  } catch (const std::exception& e) {
    return Bad(std::string("payload is not valid msgpack: ") + e.what());
  }
}

Result<Value> ParsePayload(std::string_view bytes, const PayloadLimits& limits) {
  size_t i = bytes.find_first_not_of(" \t\r\n");
  // A JSON object or array (the declared encoding of structured payloads); a handler that
  // wants a map then says "must be a map" instead of a msgpack complaint about text.
  if (i != std::string_view::npos && bytes[i] == '{') return ParseJson(bytes, limits);
  if (i != std::string_view::npos && bytes[i] == '[') {
    if (auto array = ParseJson(bytes, limits)) return array;
  }
  auto parsed = ParseMsgpack(bytes, limits);
  if (!parsed && !bytes.empty() && static_cast<unsigned char>(bytes[0]) >= 0x20 &&
      static_cast<unsigned char>(bytes[0]) < 0x7f) {
    // Text that is not JSON: msgpack's "trailing bytes" would only confuse.
    return MakeError(ErrorCode::kInvalidArgument,
                     "payload is neither JSON (an object or array) nor a msgpack value; it "
                     "starts with the text '" +
                         std::string(bytes.substr(0, std::min<size_t>(bytes.size(), 20))) + "'");
  }
  return parsed;
}

Result<std::optional<std::string>> GetString(const Value& map, std::string_view key) {
  const Value* v = map.Find(key);
  if (!v || v->is_null()) return std::optional<std::string>{};
  if (v->kind() != Value::Kind::kString) {
    return Bad(std::string(key) + " must be a string, not " + KindName(v->kind()));
  }
  return std::optional<std::string>(v->as_string());
}

Result<std::optional<uint64_t>> GetUint(const Value& map, std::string_view key) {
  const Value* v = map.Find(key);
  if (!v || v->is_null()) return std::optional<uint64_t>{};
  bool whole = v->kind() == Value::Kind::kInt ||
               (v->kind() == Value::Kind::kDouble && std::floor(v->as_double()) == v->as_double() &&
                v->as_double() < 1.8e19);
  if (!whole || v->as_double() < 0) {
    return Bad(std::string(key) + " must be a non-negative integer");
  }
  if (v->kind() == Value::Kind::kDouble) {
    return std::optional<uint64_t>(static_cast<uint64_t>(v->as_double()));
  }
  return std::optional<uint64_t>(static_cast<uint64_t>(v->as_int()));
}

Result<std::optional<bool>> GetBool(const Value& map, std::string_view key) {
  const Value* v = map.Find(key);
  if (!v || v->is_null()) return std::optional<bool>{};
  if (v->kind() != Value::Kind::kBool) {
    return Bad(std::string(key) + " must be true or false, not " + KindName(v->kind()));
  }
  return std::optional<bool>(v->as_bool());
}

}  // namespace taskmill::worker
