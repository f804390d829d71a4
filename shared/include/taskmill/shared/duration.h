#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "taskmill/shared/error.h"

namespace taskmill {

// The one parser of human durations for every new duration flag and field (issue 21):
// a whole number followed by one unit, `ms`, `s`, `m` or `h` ("250ms", "30s", "5m", "2h").
// No spaces, no sign, no fractions, no mixed units; at least 1 ms and at most 365 days.
// The Python (taskmill.duration.parse_duration) and Node (parseDuration) clients carry the
// same rules, and docs/protocol.md 7 names them.
// `what` names the flag or field in the error ("--every: ...").
Result<uint64_t> ParseDurationMs(std::string_view text, std::string_view what = "duration");

// The shortest exact form of `ms` in the same syntax ("90s", "1500ms", "2h").
std::string FormatDurationMs(uint64_t ms);

// The largest duration ParseDurationMs accepts: 365 days.
inline constexpr uint64_t kMaxDurationMs = 365ull * 24 * 3600 * 1000;

}  // namespace taskmill
