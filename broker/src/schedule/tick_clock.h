#pragma once

#include <cstdint>
#include <string>

#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/types.h"

namespace taskmill::broker {

// When a schedule's ticks fall, in epoch milliseconds. `every` schedules tick at the
// multiples of their period since the epoch (every 5m: :00, :05, ...), the same on every
// broker; cron schedules at the minutes their expression matches on the wall clock of their
// zone (tz, default UTC), read from the system's tz database (/usr/share/zoneinfo) through
// Howard Hinnant's date library (g++ 12's <chrono> has no time zones). Across a DST change a
// wall-clock minute that does not exist runs at the change; one that happens twice runs once
// (the first time).
// Stateless; any thread (the tz database is loaded once, thread-safely, on first use).
class TickClock {
 public:
  // Ok when `tz` names a zone of the database ("" = UTC); else kInvalidArgument saying so.
  static Result<void> CheckZone(const std::string& tz);
  // The first tick strictly after `after_ms`. An error for a schedule that cannot tick (a
  // cron expression or zone that no longer parses).
  static Result<int64_t> NextTick(const protocol::ScheduleInfo& schedule, int64_t after_ms);
};

}  // namespace taskmill::broker
