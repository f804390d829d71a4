#include "handlers/payload.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace taskmill::worker {
namespace {

std::unexpected<Error> Bad(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

// Builds the document as nlohmann's SAX parser reports it, refusing (returning false, which
// stops the parser at once) anything past the limits. nlohmann has no depth or count limits
// of its own and its binary readers recurse, so the depth check here also bounds the stack.
class BoundedBuilder {
 public:
  using number_integer_t = Json::number_integer_t;
  using number_unsigned_t = Json::number_unsigned_t;
  using number_float_t = Json::number_float_t;
  using string_t = Json::string_t;
  using binary_t = Json::binary_t;

  // `input_bytes` caps declared counts: every element takes at least one byte.
  BoundedBuilder(const PayloadLimits& limits, size_t input_bytes, const char* format)
      : limits_(limits),
        max_items_(std::min<size_t>(limits.max_items, input_bytes)),
        format_(format) {}

  bool null() { return Add(Json()); }
  bool boolean(bool b) { return Add(Json(b)); }
  bool number_integer(number_integer_t i) { return Add(Json(i)); }
  bool number_unsigned(number_unsigned_t u) { return Add(Json(u)); }
  bool number_float(number_float_t d, const string_t&) { return Add(Json(d)); }
  bool string(string_t& s) { return Add(Json(std::move(s))); }
  bool binary(binary_t& b) {
    if (b.has_subtype()) return Fail("payload holds a msgpack ext value");
    return Add(Json(std::string(b.begin(), b.end())));  // msgpack bin reads as a string
  }
  bool start_object(std::size_t n) { return Open(Json::object(), n, "map"); }
  bool start_array(std::size_t n) { return Open(Json::array(), n, "array"); }
  bool key(string_t& k) {
    key_ = std::move(k);
    return true;
  }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    if (error_.empty()) {
      // Drop nlohmann's "[json.exception.parse_error.101] " tag: the rest reads well.
      std::string what = e.what();
      if (auto tag = what.find("] "); what.starts_with("[json.exception") && tag != what.npos) {
        what.erase(0, tag + 2);
      }
      error_ = std::string("payload is not valid ") + format_ + ": " + what;
    }
    return false;
  }

  Result<Json> Finish(bool ok) {
    if (!ok || !error_.empty()) {
      return Bad(error_.empty() ? std::string("payload is not valid ") + format_ : error_);
    }
    return std::move(root_);
  }

 private:
  struct Open_ {
    Json* container;
    size_t items = 0;
  };

  bool Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }

  // Places `v` in the open container (or as the root); returns where it landed.
  Json* Place(Json&& v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    Json& parent = *stack_.back().container;
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    Json& slot = parent[key_];  // a repeated key keeps its last value
    slot = std::move(v);
    return &slot;
  }

  bool Count() {
    if (stack_.empty()) return true;
    if (++stack_.back().items > limits_.max_items) {
      return Fail(std::string("payload ") + (stack_.back().container->is_array()
                                                 ? "array has more than "
                                                 : "map has more than ") +
                  std::to_string(limits_.max_items) + " items");
    }
    return true;
  }

  bool Add(Json&& v) {
    if (!Count()) return false;
    Place(std::move(v));
    return true;
  }

  bool Open(Json&& v, std::size_t declared, const char* what) {
    if (stack_.size() + 1 > limits_.max_depth) {
      return Fail("payload nests deeper than " + std::to_string(limits_.max_depth));
    }
    if (declared != static_cast<std::size_t>(-1) && declared > max_items_) {
      return Fail(std::string("payload declares a ") + what + " of " + std::to_string(declared) +
                  " items, more than the limit or the input allows");
    }
    if (!Count()) return false;
    stack_.push_back({Place(std::move(v))});
    return true;
  }

  bool Close() {
    stack_.pop_back();
    return true;
  }

  const PayloadLimits& limits_;
  size_t max_items_;
  const char* format_;
  Json root_;
  std::vector<Open_> stack_;  // the containers being filled, innermost last
  std::string key_;           // the key of the next map value
  std::string error_;         // the first failure, if any
};

Result<Json> Parse(std::string_view bytes, const PayloadLimits& limits,
                   nlohmann::json::input_format_t format, const char* name) {
  if (bytes.size() > limits.max_bytes) {
    return Bad(std::string(name) + " payload is larger than the limit of " +
               std::to_string(limits.max_bytes) + " bytes");
  }
  if (bytes.empty()) return Bad("payload is empty");
  BoundedBuilder builder(limits, bytes.size(), name);
  // The one place nlohmann parses payloads: its exceptions end here.
  try {
    bool ok = Json::sax_parse(bytes.begin(), bytes.end(), &builder, format, /*strict=*/true);
    return builder.Finish(ok);
  } catch (const std::exception& e) {
    return Bad(std::string("payload is not valid ") + name + ": " + e.what());
  }
}

}  // namespace

Result<Json> ParseMsgpack(std::string_view bytes, const PayloadLimits& limits) {
  return Parse(bytes, limits, Json::input_format_t::msgpack, "msgpack");
}

Result<Json> ParseJson(std::string_view text, const PayloadLimits& limits) {
  return Parse(text, limits, Json::input_format_t::json, "JSON");
}

Result<Json> ParsePayload(std::string_view bytes, const PayloadLimits& limits) {
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

std::string DescribeType(const Json& value) {
  if (value.is_object()) return "a map";
  if (value.is_array()) return "an array";
  if (value.is_null()) return "null";
  if (value.is_boolean()) return "a bool";
  if (value.is_number_integer()) return "an integer";
  if (value.is_number()) return "a number";
  if (value.is_string()) return "a string";
  return "a binary value";
}

const Json* Find(const Json& map, std::string_view key) {
  if (!map.is_object()) return nullptr;
  auto it = map.find(key);
  return it == map.end() ? nullptr : &*it;
}

Result<std::optional<std::string>> GetString(const Json& map, std::string_view key) {
  const Json* v = Find(map, key);
  if (!v || v->is_null()) return std::optional<std::string>{};
  if (!v->is_string()) return Bad(std::string(key) + " must be a string, not " + DescribeType(*v));
  return std::optional<std::string>(v->get_ref<const std::string&>());
}

Result<std::optional<uint64_t>> GetUint(const Json& map, std::string_view key) {
  const Json* v = Find(map, key);
  if (!v || v->is_null()) return std::optional<uint64_t>{};
  if (v->is_number_unsigned()) return std::optional<uint64_t>(v->get<uint64_t>());
  if (v->is_number_integer() && v->get<int64_t>() >= 0) {
    return std::optional<uint64_t>(static_cast<uint64_t>(v->get<int64_t>()));
  }
  if (v->is_number_float()) {
    double d = v->get<double>();
    if (d >= 0 && std::floor(d) == d && d < 1.8e19) {
      return std::optional<uint64_t>(static_cast<uint64_t>(d));
    }
  }
  return Bad(std::string(key) + " must be a non-negative integer");
}

Result<std::optional<bool>> GetBool(const Json& map, std::string_view key) {
  const Json* v = Find(map, key);
  if (!v || v->is_null()) return std::optional<bool>{};
  if (!v->is_boolean()) {
    return Bad(std::string(key) + " must be true or false, not " + DescribeType(*v));
  }
  return std::optional<bool>(v->get<bool>());
}

}  // namespace taskmill::worker
