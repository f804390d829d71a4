#include "taskmill/shared/duration.h"

#include <charconv>

namespace taskmill {

namespace {

constexpr std::string_view kAllowed =
    "expected a whole number and a unit: ms, s, m or h (e.g. 250ms, 30s, 5m, 2h), "
    "from 1ms to 365 days";

std::unexpected<Error> Bad(std::string_view what, std::string_view text, std::string_view why) {
  std::string shown(text.substr(0, 32));
  if (text.size() > 32) shown += "...";
  return MakeError(ErrorCode::kInvalidArgument, std::string(what) + ": '" + shown + "' " +
                                                    std::string(why) + "; " +
                                                    std::string(kAllowed));
}

}  // namespace

Result<uint64_t> ParseDurationMs(std::string_view text, std::string_view what) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return Bad(what, text, "does not start with a number");
  std::string_view unit = text.substr(digits);
  uint64_t scale = 0;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  } else if (unit.empty()) {
    return Bad(what, text, "has no unit");
  } else {
    return Bad(what, text, "has an unknown unit");
  }
  if (digits > 12) return Bad(what, text, "is too long");
  uint64_t n = 0;
  std::from_chars(text.data(), text.data() + digits, n);
  uint64_t ms = n * scale;  // n < 10^12, scale <= 3.6e6: no overflow of 64 bits
  if (ms == 0) return Bad(what, text, "is zero");
  if (ms > kMaxDurationMs) return Bad(what, text, "is too long");
  return ms;
}

std::string FormatDurationMs(uint64_t ms) {
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace taskmill
