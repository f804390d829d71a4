// ValidateSchedule (validate.h): what a SCHEDULE add may define.

#include "taskmill/shared/cron.h"
#include "taskmill/shared/duration.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::protocol {
namespace {

std::unexpected<Error> Invalid(std::string_view where, const std::string& what) {
  std::string msg(where);
  if (!msg.empty()) msg += ".";
  return MakeError(ErrorCode::kInvalidArgument, msg + what);
}

bool ZoneChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '+' || c == '/';
}

}  // namespace

Result<void> ValidateSchedule(const ScheduleInfo& s, std::string_view where,
                              const SpecLimits& limits) {
  std::string prefix(where);
  if (!prefix.empty()) prefix += ".";
  if (auto r = ValidateName(s.name, prefix + "name"); !r) return r;
  if (s.cron.empty() == (s.every_ms == 0)) {
    return Invalid(where, "set exactly one of cron (e.g. \"*/5 * * * *\") and every (e.g. 30s)");
  }
  if (!s.cron.empty()) {
    if (auto e = CronExpr::Parse(s.cron); !e) return Invalid(where, e.error().message);
  } else if (s.every_ms < kMinScheduleEveryMs || s.every_ms > kMaxDurationMs) {
    return Invalid(where, "every: " + FormatDurationMs(s.every_ms) +
                              " is out of range (allowed: 1s to 365 days, e.g. 30s, 5m, 2h)");
  }
  if (!s.tz.empty()) {
    if (s.cron.empty()) return Invalid(where, "tz: applies to cron schedules only, not to every");
    bool ok = s.tz.size() <= kMaxTimeZoneBytes && s.tz[0] != '/' &&
              s.tz.find("..") == std::string::npos;
    for (char c : s.tz) ok = ok && ZoneChar(c);
    if (!ok) {
      return Invalid(where, "tz: '" + s.tz.substr(0, kMaxTimeZoneBytes) +
                                "' is not a time zone name (allowed: an IANA zone such as "
                                "Europe/Paris, America/New_York or UTC)");
    }
  }
  if (s.catch_up != "skip" && s.catch_up != "once") {
    return Invalid(where, "catch_up: '" + s.catch_up.substr(0, 32) +
                              "' is not a policy (allowed: skip, once)");
  }
  const TaskSpec& t = s.task;
  if (auto r = ValidateTaskSpec(t, prefix + "task", limits); !r) return r;
  if (!t.id.empty()) return Invalid(where, "task.id: each tick's task gets its own id; leave it empty");
  if (!t.batch_id.empty() || !t.depends_on.empty()) {
    return Invalid(where, "task: a scheduled task cannot be part of a batch (batch_id, depends_on)");
  }
  if (t.not_before_ms != 0) return Invalid(where, "task.not_before_ms: a tick runs at its time; leave it 0");
  if (t.delay_ms != 0) return Invalid(where, "task.delay_ms: a tick runs at its time; leave it 0");
  if (!t.idempotency_key.empty()) {
    return Invalid(where,
                   "task.idempotency_key: each tick's key is the schedule's name and tick time; "
                   "leave it empty");
  }
  return {};
}

}  // namespace taskmill::protocol
