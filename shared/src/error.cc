#include "taskmill/shared/error.h"

#include <array>

namespace taskmill {
namespace {
constexpr std::array<std::string_view, 20> kNames = {
    "invalid_argument", "bad_frame",         "unknown_version", "unknown_command",
    "truncated",        "wrong_type",        "missing_field",   "over_limit",
    "not_found",        "store_unavailable", "timeout",         "broker_unavailable",
    "stale_token",      "queue_full",        "cycle",           "conflict",
    "unauthorized",     "store_full",        "forbidden",       "internal",
};
static_assert(kNames.size() == static_cast<size_t>(ErrorCode::kInternal) + 1);
}  // namespace

std::string_view ErrorCodeName(ErrorCode code) {
  auto i = static_cast<size_t>(code);
  return i < kNames.size() ? kNames[i] : "internal";
}

ErrorCode ErrorCodeFromName(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<ErrorCode>(i);
  }
  return ErrorCode::kInternal;
}

std::string Error::ToString() const {
  std::string s(ErrorCodeName(code));
  s += ": ";
  s += message;
  return s;
}

}  // namespace taskmill
