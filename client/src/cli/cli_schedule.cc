// Periodic schedules: taskmill schedule add | list | pause | resume | remove.

#include <chrono>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "cli/cli.h"
#include "cli/json_convert.h"
#include "taskmill/shared/duration.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::client::cli {
namespace {

constexpr const char* kUsage =
    "usage: taskmill schedule add NAME (--cron \"*/5 * * * *\" [--tz ZONE] | --every 30s)\n"
    "                             --type T [--payload S | --payload-file F] [task flags]\n"
    "                             [--catch-up skip|once]\n"
    "       taskmill schedule list\n"
    "       taskmill schedule pause|resume|remove NAME\n";

// "2026-12-06T00:05:00Z", or "-" for 0.
std::string Utc(int64_t ms) {
  if (ms <= 0) return "-";
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  std::ostringstream out;
  out << std::put_time(&tm, "%Y-%m-%dT%H:%M:%SZ");
  return out.str();
}

std::string When(const protocol::ScheduleInfo& s) {
  if (!s.cron.empty()) return s.tz.empty() ? s.cron : s.cron + " (" + s.tz + ")";
  return "every " + FormatDurationMs(s.every_ms);
}

nlohmann::json ScheduleJson(const protocol::ScheduleInfo& s) {
  nlohmann::json j = {{"name", s.name},
                      {"catch_up", s.catch_up},
                      {"queue", s.task.queue},
                      {"type", s.task.type},
                      {"paused", s.paused},
                      {"next_run_ms", s.next_run_ms},
                      {"last_run_ms", s.last_run_ms},
                      {"last_task_id", s.last_task_id},
                      {"fired", s.fired},
                      {"missed", s.missed}};
  if (!s.cron.empty()) {
    j["cron"] = s.cron;
    j["tz"] = s.tz.empty() ? "UTC" : s.tz;
  } else {
    j["every_ms"] = s.every_ms;
    j["every"] = FormatDurationMs(s.every_ms);
  }
  return j;
}

void PrintSchedules(Context& ctx, const std::vector<protocol::ScheduleInfo>& list) {
  if (ctx.global.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& s : list) arr.push_back(ScheduleJson(s));
    ctx.out << Dump(arr) << '\n';
    return;
  }
  if (list.empty()) {
    ctx.out << "no schedules\n";
    return;
  }
  ctx.out << std::left << std::setw(24) << "NAME" << std::setw(34) << "WHEN" << std::setw(22)
          << "NEXT RUN (UTC)" << std::setw(8) << "FIRED" << std::setw(8) << "MISSED"
          << "TASK\n";
  for (const auto& s : list) {
    ctx.out << std::left << std::setw(24) << s.name << std::setw(34) << When(s) << std::setw(22)
            << (s.paused ? "paused" : Utc(s.next_run_ms)) << std::setw(8) << s.fired
            << std::setw(8) << s.missed << s.task.queue << "/" << s.task.type << '\n';
  }
}

int PrintOne(Context& ctx, const protocol::ScheduleInfo& s, const std::string& verb) {
  if (ctx.global.json) {
    ctx.out << Dump(ScheduleJson(s)) << '\n';
  } else {
    ctx.out << "schedule " << s.name << " " << verb << "; next run "
            << (s.paused ? "none (paused)" : Utc(s.next_run_ms)) << '\n';
  }
  return kExitOk;
}

int RunAdd(Context& ctx, const Args& sub) {
  protocol::ScheduleInfo s;
  std::string every, payload, payload_file;
  std::vector<std::string> labels;
  uint32_t priority = 0;
  FlagSet flags("taskmill schedule add NAME",
                "Adds (or replaces) a periodic schedule: a task submitted at every tick, once "
                "across all brokers.");
  flags.String("cron", &s.cron,
               "5-field cron expression: minute hour day-of-month month day-of-week, e.g. "
               "\"*/5 * * * *\" (ranges, steps, lists, JAN-DEC, SUN-SAT, @daily...)");
  flags.String("tz", &s.tz, "with --cron: IANA time zone of the expression (default UTC)");
  flags.String("every", &every, "fixed period instead of --cron: 250ms, 30s, 5m, 2h (>= 1s)");
  flags.Choice("catch-up", &s.catch_up, {"skip", "once"},
               "ticks missed while no broker ran: skip them, or run once");
  flags.String("type", &s.task.type, "handler name of the task (required)");
  flags.String("payload", &payload, "handler input, as given (e.g. a JSON object)");
  flags.String("payload-file", &payload_file, "read the payload from this file now");
  flags.String("queue", &s.task.queue, "queue the tasks run on");
  flags.Uint32("priority", &priority, 0, 255, "0-255, higher runs first");
  flags.Uint32("max-attempts", &s.task.max_attempts, 1, 1000, "attempts before dead-lettering");
  flags.Uint32("backoff-base-ms", &s.task.backoff.base_ms, 0, UINT32_MAX,
               "delay after the first failed attempt");
  flags.Uint32("backoff-max-ms", &s.task.backoff.max_ms, 0, UINT32_MAX, "cap on any one delay");
  flags.Double("backoff-multiplier", &s.task.backoff.multiplier, 1, 100, "growth per attempt");
  flags.Bool("jitter", &s.task.backoff.jitter, "full jitter: each delay uniform in [0, delay]");
  flags.Uint32("timeout-ms", &s.task.timeout_ms, 0, UINT32_MAX,
               "per-attempt time limit of each task (0: none)");
  flags.List("label", &labels, "key=value metadata of each task; repeatable");
  AddCommonFlags(flags, ctx.global);
  std::vector<std::string> names;
  if (auto stop = ParseFlags(ctx, flags, sub, &names)) return *stop;
  if (names.size() != 1) return UsageError(ctx, "schedule add: give exactly one NAME");
  s.name = names[0];
  if (s.task.type.empty()) return UsageError(ctx, "--type: required (see taskmill schedule add --help)");
  if (every.empty() == s.cron.empty()) {
    return UsageError(ctx, "schedule add: give --cron or --every (one of them)");
  }
  if (!every.empty()) {
    auto ms = ParseDurationMs(every, "--every");
    if (!ms) return UsageError(ctx, ms.error().message);
    s.every_ms = *ms;
  }
  if (!payload.empty() && !payload_file.empty()) {
    return UsageError(ctx, "--payload and --payload-file: give one, not both");
  }
  s.task.payload = payload;
  if (!payload_file.empty()) {
    std::ifstream in(payload_file, std::ios::binary);
    if (!in) return UsageError(ctx, "--payload-file: cannot read '" + payload_file + "'");
    std::ostringstream text;
    text << in.rdbuf();
    s.task.payload = text.str();
  }
  s.task.priority = static_cast<uint8_t>(priority);
  for (const auto& label : labels) {
    auto eq = label.find('=');
    if (eq == std::string::npos || eq == 0) {
      return UsageError(ctx, "--label: '" + label + "' is not key=value");
    }
    s.task.labels[label.substr(0, eq)] = label.substr(eq + 1);
  }
  if (auto valid = protocol::ValidateSchedule(s, ""); !valid) {
    return UsageError(ctx, "invalid schedule: " + valid.error().message);
  }
  int code = kExitOk;
  auto client = ConnectClient(ctx, &code, /*admin=*/true);
  if (!client) return code;
  auto added = client->AddSchedule(s);
  if (!added) return ReportError(ctx, added.error());
  return PrintOne(ctx, *added, "added");
}

}  // namespace

int RunSchedule(Context& ctx, const Args& args) {
  if (args.size() < 2 || args[1] == "--help" || args[1] == "-h") {
    bool help = args.size() >= 2;
    (help ? ctx.out : ctx.err) << kUsage;
    return help ? kExitOk : UsageError(ctx, "schedule: give add, list, pause, resume or remove");
  }
  const std::string& op = args[1];
  Args sub(args.begin() + 1, args.end());
  sub.front() = "schedule " + op;
  if (op == "add") return RunAdd(ctx, sub);
  int code = kExitOk;
  if (op == "list") {
    FlagSet flags("taskmill schedule list", "Every schedule with its next run and counters.");
    AddCommonFlags(flags, ctx.global);
    if (auto stop = ParseFlags(ctx, flags, sub, nullptr)) return *stop;
    auto client = ConnectClient(ctx, &code, /*admin=*/true);
    if (!client) return code;
    auto list = client->ListSchedules();
    if (!list) return ReportError(ctx, list.error());
    PrintSchedules(ctx, *list);
    return kExitOk;
  }
  if (op != "pause" && op != "resume" && op != "remove") {
    return UsageError(ctx, "schedule: unknown operation '" + op +
                               "' (give add, list, pause, resume or remove)");
  }
  FlagSet flags("taskmill schedule " + op + " NAME",
                op == "pause"    ? "Stops a schedule's ticks until it is resumed."
                : op == "resume" ? "Resumes a paused schedule from its next tick after now."
                                 : "Deletes a schedule (its tasks already submitted stay).");
  AddCommonFlags(flags, ctx.global);
  std::vector<std::string> names;
  if (auto stop = ParseFlags(ctx, flags, sub, &names)) return *stop;
  if (names.size() != 1) return UsageError(ctx, "schedule " + op + ": give exactly one NAME");
  if (auto valid = protocol::ValidateName(names[0], "NAME"); !valid) {
    return UsageError(ctx, valid.error().message);
  }
  auto client = ConnectClient(ctx, &code, /*admin=*/true);
  if (!client) return code;
  if (op == "remove") {
    auto removed = client->RemoveSchedule(names[0]);
    if (!removed) return ReportError(ctx, removed.error());
    if (ctx.global.json) {
      ctx.out << Dump(nlohmann::json{{"removed", names[0]}}) << '\n';
    } else {
      ctx.out << "schedule " << names[0] << " removed\n";
    }
    return kExitOk;
  }
  auto changed = op == "pause" ? client->PauseSchedule(names[0]) : client->ResumeSchedule(names[0]);
  if (!changed) return ReportError(ctx, changed.error());
  return PrintOne(ctx, *changed, op == "pause" ? "paused" : "resumed");
}

}  // namespace taskmill::client::cli
