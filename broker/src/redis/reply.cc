#include "redis/reply.h"

#include <charconv>
#include <cstdlib>

namespace taskmill::broker::reply {
namespace {

std::unexpected<Error> Shape(std::string_view what, std::string_view expected,
                             const redisReply* r) {
  std::string got = r == nullptr ? "nothing" : "reply type " + std::to_string(r->type);
  return MakeError(ErrorCode::kInternal, "unexpected store reply: " + std::string(what) +
                                             " should be " + std::string(expected) + ", got " +
                                             got);
}

}  // namespace

Result<std::string_view> Str(const redisReply* r, std::string_view what) {
  if (r == nullptr || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)) {
    return Shape(what, "a string", r);
  }
  return std::string_view(r->str, r->len);
}

Result<int64_t> Int(const redisReply* r, std::string_view what) {
  if (r != nullptr && r->type == REDIS_REPLY_INTEGER) return static_cast<int64_t>(r->integer);
  if (r != nullptr && r->type == REDIS_REPLY_STRING) {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(r->str, r->str + r->len, v);
    if (ec == std::errc() && end == r->str + r->len && r->len > 0) return v;
  }
  return Shape(what, "an integer", r);
}

Result<uint64_t> Uint64(const redisReply* r, std::string_view what) {
  if (r != nullptr && r->type == REDIS_REPLY_INTEGER && r->integer >= 0) {
    return static_cast<uint64_t>(r->integer);
  }
  if (r != nullptr && r->type == REDIS_REPLY_STRING) {
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(r->str, r->str + r->len, v);
    if (ec == std::errc() && end == r->str + r->len && r->len > 0) return v;
  }
  return Shape(what, "an unsigned integer", r);
}

Result<double> Double(const redisReply* r, std::string_view what) {
  if (r != nullptr && r->type == REDIS_REPLY_INTEGER) return static_cast<double>(r->integer);
  if (r != nullptr && r->type == REDIS_REPLY_STRING && r->len > 0) {
    std::string s(r->str, r->len);
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (end == s.c_str() + s.size()) return v;
  }
  return Shape(what, "a number", r);
}

Result<std::span<redisReply* const>> Array(const redisReply* r, std::string_view what,
                                           size_t min_size) {
  if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements < min_size) {
    return Shape(what, "an array of at least " + std::to_string(min_size) + " elements", r);
  }
  return std::span<redisReply* const>(r->element, r->elements);
}

Result<std::map<std::string, std::string>> FlatMap(const redisReply* r, std::string_view what) {
  auto arr = Array(r, what);
  if (!arr) return std::unexpected(arr.error());
  if (arr->size() % 2 != 0) return Shape(what, "an even-length array", r);
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < arr->size(); i += 2) {
    auto k = Str((*arr)[i], what);
    auto v = Str((*arr)[i + 1], what);
    if (!k || !v) return Shape(what, "an array of strings", r);
    out.emplace(std::string(*k), std::string(*v));
  }
  return out;
}

}  // namespace taskmill::broker::reply
