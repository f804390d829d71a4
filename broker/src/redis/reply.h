#pragma once

#include <hiredis/hiredis.h>

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "taskmill/shared/error.h"

// Checked readers over a hiredis reply: a reply of the wrong shape is a kInternal error that
// names what was expected, never a crash. Replies are only valid inside the callback that
// received them, so these return views; copy what must outlive it.
namespace taskmill::broker::reply {

// A string or status reply.
Result<std::string_view> Str(const redisReply* r, std::string_view what);
// An integer reply, or a string holding a decimal integer.
Result<int64_t> Int(const redisReply* r, std::string_view what);
// A non-negative integer reply, or a string holding a decimal uint64 (fencing tokens: Lua
// keeps them as strings, its numbers being doubles).
Result<uint64_t> Uint64(const redisReply* r, std::string_view what);
// A string holding a number, or an integer reply.
Result<double> Double(const redisReply* r, std::string_view what);
// An array reply with at least min_size elements.
Result<std::span<redisReply* const>> Array(const redisReply* r, std::string_view what,
                                           size_t min_size = 0);
// An array of alternating keys and values (HGETALL) as a map.
Result<std::map<std::string, std::string>> FlatMap(const redisReply* r, std::string_view what);

}  // namespace taskmill::broker::reply
