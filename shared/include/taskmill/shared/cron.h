#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "taskmill/shared/error.h"

namespace taskmill {

// A five-field cron expression (minute hour day-of-month month day-of-week), as crontab(5):
// each field `*`, a number, a range `a-b`, a step `*/n`, `a-b/n` or `a/n`, or a comma list of
// those; months JAN-DEC and days SUN-SAT by name (any case); day-of-week 0 and 7 are Sunday;
// when both day fields are restricted a day matching either runs (Vixie cron). Also @hourly,
// @daily (@midnight), @weekly, @monthly, @yearly (@annually).
// It knows no time zone: it works on civil (wall-clock) minutes, and the broker maps them to
// instants in the schedule's zone (broker/src/schedule/tick_clock.h).
// Plain value; immutable once parsed; any thread.
class CronExpr {
 public:
  // Refused with kInvalidArgument naming the field and what it allows; also refused: an
  // expression that matches no minute in 9 years (e.g. "0 0 30 2 *").
  static Result<CronExpr> Parse(std::string_view text);

  // The first civil minute strictly after `minute` (minutes since 1970-01-01T00:00 of the
  // wall clock) that matches, or nullopt when none does within 9 years.
  std::optional<int64_t> NextAfter(int64_t minute) const;
  // True iff the civil minute matches.
  bool Matches(int64_t minute) const;

 private:
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;    // 1..31
  std::bitset<13> months_;  // 1..12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool day_star_ = false;      // the day-of-month field starts with '*'
  bool weekday_star_ = false;  // the day-of-week field starts with '*'

  bool DayMatches(int64_t day) const;  // days since 1970-01-01
};

}  // namespace taskmill
