#include "schedule/tick_clock.h"

#include <date/tz.h>

#include <chrono>

#include "taskmill/shared/cron.h"

namespace taskmill::broker {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;

// The zone, or null for UTC; date throws std::runtime_error for an unknown name, caught here.
Result<const date::time_zone*> Zone(const std::string& tz) {
  if (tz.empty() || tz == "UTC") return nullptr;
  try {
    return date::locate_zone(tz);
  } catch (const std::exception&) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "schedule.tz: '" + tz +
                         "' is not a time zone of the tz database (allowed: an IANA zone such "
                         "as Europe/Paris, America/New_York or UTC)");
  }
}

}  // namespace

Result<void> TickClock::CheckZone(const std::string& tz) {
  auto z = Zone(tz);
  if (!z) return std::unexpected(z.error());
  return {};
}

Result<int64_t> TickClock::NextTick(const protocol::ScheduleInfo& s, int64_t after_ms) {
  if (s.cron.empty()) {
    if (s.every_ms == 0) return MakeError(ErrorCode::kInvalidArgument, "schedule has no period");
    auto every = static_cast<int64_t>(s.every_ms);
    int64_t k = after_ms >= 0 ? after_ms / every : -1;
    return (k + 1) * every;
  }
  auto expr = CronExpr::Parse(s.cron);
  if (!expr) return std::unexpected(expr.error());
  auto zone = Zone(s.tz);
  if (!zone) return std::unexpected(zone.error());
  date::sys_time<milliseconds> after{milliseconds{after_ms}};
  int64_t minute = 0;  // the wall-clock minute `after` falls in
  try {
    if (*zone == nullptr) {
      minute = std::chrono::floor<minutes>(after).time_since_epoch().count();
    } else {
      minute = std::chrono::floor<minutes>((*zone)->to_local(after)).time_since_epoch().count();
    }
    // A few rounds at most: only DST gaps map several wall minutes to one instant.
    for (int round = 0; round < 1000; ++round) {
      auto next = expr->NextAfter(minute);
      if (!next) {
        return MakeError(ErrorCode::kInvalidArgument, "cron '" + s.cron + "' matches no time");
      }
      date::sys_seconds at;
      if (*zone == nullptr) {
        at = date::sys_seconds{minutes{*next}};
      } else {
        date::local_time<minutes> local{minutes{*next}};
        date::local_info info = (*zone)->get_info(local);
        if (info.result == date::local_info::nonexistent) {
          // In a DST gap: runs at the change.
          at = info.first.end;
        } else {
          at = date::sys_seconds{local.time_since_epoch() - info.first.offset};
        }
      }
      int64_t ms = std::chrono::duration_cast<milliseconds>(at.time_since_epoch()).count();
      if (ms > after_ms) return ms;
      minute = *next;
    }
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInternal, std::string("time zone conversion failed: ") + e.what());
  }
  return MakeError(ErrorCode::kInternal, "cron '" + s.cron + "': no tick found after a DST gap");
}

}  // namespace taskmill::broker
