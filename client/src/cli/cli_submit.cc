// Task commands: submit, get, wait, cancel.

#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "cli/cli.h"
#include "cli/json_convert.h"
#include "cli/render.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::client::cli {
namespace {

constexpr uint32_t kDefaultWaitMs = 300'000;

Result<std::string> ReadPayloadFile(const std::string& path) {
  std::ostringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
    return text.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(ErrorCode::kInvalidArgument, "cannot read '" + path + "'");
  text << in.rdbuf();
  return text.str();
}

// nlohmann's "[json.exception.parse_error.101] parse error at line 1, column 22: syntax
// error while parsing value - unexpected '}'; expected ..." in words: "line 1, column 22:
// unexpected '}'; expected ...".
std::string JsonErrorInWords(std::string what) {
  if (auto pos = what.find("] "); what.starts_with("[json.exception.") && pos != what.npos) {
    what = what.substr(pos + 2);
  }
  for (const char* noise : {"parse error at ", "parse error: "}) {
    if (what.starts_with(noise)) what = what.substr(std::string_view(noise).size());
  }
  for (std::string_view noise : {"syntax error while parsing value - ",
                                 "syntax error while parsing object - ",
                                 "syntax error while parsing array - ",
                                 "syntax error while parsing object key - ",
                                 "syntax error while parsing object separator - "}) {
    if (auto pos = what.find(noise); pos != what.npos) what.erase(pos, noise.size());
  }
  return what;
}

// The built-in handlers read a payload whose first non-blank byte is '{' as a JSON object
// (worker/src/handlers/payload.cc); one that does not parse would only fail at the worker.
// ('[' is not checked: text such as "[INFO] ..." is a fine payload for echo.)
Result<void> CheckJsonPayload(const std::string& payload) {
  size_t i = payload.find_first_not_of(" \t\r\n");
  if (i == std::string::npos || payload[i] != '{') return {};
  try {
    [[maybe_unused]] auto doc = nlohmann::json::parse(payload);
    return {};
  } catch (const nlohmann::json::exception& e) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "starts with '{' but is not valid JSON (handlers read it as a JSON "
                     "object): " +
                         JsonErrorInWords(e.what()));
  }
}

bool AllSucceeded(const std::vector<protocol::TaskInfo>& tasks) {
  for (const auto& t : tasks) {
    if (t.state != protocol::TaskState::kSucceeded) return false;
  }
  return true;
}

void NoteUnfinished(Context& ctx, const std::vector<protocol::TaskInfo>& tasks) {
  for (const auto& t : tasks) {
    if (!protocol::IsTerminal(t.state)) {
      ctx.err << "taskmill: task " << t.id << " is still " << protocol::TaskStateName(t.state)
              << " (raise --wait-timeout-ms to wait longer)\n";
    }
  }
}

// Prints waited-for tasks and returns 0 iff every one succeeded.
int PrintWaited(Context& ctx, const std::vector<protocol::TaskInfo>& tasks, bool single) {
  if (ctx.global.json) {
    if (single && tasks.size() == 1) {
      ctx.out << Dump(ToJson(tasks[0])) << '\n';
    } else {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& t : tasks) arr.push_back(ToJson(t));
      ctx.out << Dump(arr) << '\n';
    }
  } else if (single && tasks.size() == 1) {
    PrintTaskCard(ctx.out, tasks[0]);
  } else {
    PrintTaskTable(ctx.out, tasks);
  }
  NoteUnfinished(ctx, tasks);
  return AllSucceeded(tasks) ? kExitOk : kExitFailed;
}

}  // namespace

int RunSubmit(Context& ctx, const Args& args) {
  protocol::TaskSpec spec;
  std::string payload, payload_file;
  std::vector<std::string> labels;
  uint32_t priority = 0;
  uint64_t not_before_ms = 0;
  bool wait = false;
  uint32_t wait_ms = kDefaultWaitMs;

  FlagSet flags("taskmill submit", "Submits one task and prints its id.");
  flags.String("type", &spec.type, "handler name (required), e.g. exec, echo, sleep, fail");
  flags.String("payload", &payload, "handler input, as given (e.g. a JSON object)");
  flags.String("payload-file", &payload_file, "read the payload from this file ('-': stdin)");
  flags.String("queue", &spec.queue, "queue to run on");
  flags.Uint32("priority", &priority, 0, 255, "0-255, higher runs first");
  flags.Uint32("max-attempts", &spec.max_attempts, 1, 1000, "attempts before dead-lettering");
  flags.Uint32("backoff-base-ms", &spec.backoff.base_ms, 0, UINT32_MAX,
               "delay after the first failed attempt");
  flags.Uint32("backoff-max-ms", &spec.backoff.max_ms, 0, UINT32_MAX, "cap on any one delay");
  flags.Double("backoff-multiplier", &spec.backoff.multiplier, 1, 100, "growth per attempt");
  flags.Bool("jitter", &spec.backoff.jitter, "full jitter: each delay uniform in [0, delay]");
  flags.Uint32("timeout-ms", &spec.timeout_ms, 0, UINT32_MAX,
               "per-attempt time limit of the task (0: none); not the request timeout");
  flags.String("idempotency-key", &spec.idempotency_key,
               "a resubmit with the same key returns the first task's id");
  flags.Uint("not-before-ms", &not_before_ms, 0, INT64_MAX,
             "epoch ms before which the task must not run (0: now)");
  flags.Duration("delay", &spec.delay_ms, 0, protocol::kMaxDelayMs,
                 "run no sooner than this after the broker stores it (its clock), e.g. 10s, "
                 "5m (0 to 8760h; not with --not-before-ms)");
  flags.Duration("expires-in", &spec.expires_in_ms, 0, protocol::kMaxExpiresInMs,
                 "not started within this of its submit, it ends expired and never runs, "
                 "e.g. 30s (0 to 8760h; 0: never)");
  flags.Duration("idempotency-ttl", &spec.idempotency_ttl_ms, 0, protocol::kMaxIdempotencyTtlMs,
                 "how long --idempotency-key dedupes (0 to 720h; 0: the broker's "
                 "--idempotency-ttl, 24h by default)");
  flags.String("id", &spec.id, "task id (default: the broker assigns one)");
  flags.List("label", &labels, "key=value metadata; repeatable");
  flags.Bool("wait", &wait, "wait for the task to finish and print its result");
  flags.Uint32("wait-timeout-ms", &wait_ms, 1, UINT32_MAX, "with --wait: how long to wait");
  AddCommonFlags(flags, ctx.global);
  if (auto stop = ParseFlags(ctx, flags, args, nullptr)) return *stop;

  if (spec.type.empty()) return UsageError(ctx, "--type: required (see taskmill submit --help)");
  if (!payload.empty() && !payload_file.empty()) {
    return UsageError(ctx, "--payload and --payload-file: give one, not both");
  }
  spec.payload = payload;
  if (!payload_file.empty()) {
    auto bytes = ReadPayloadFile(payload_file);
    if (!bytes) return UsageError(ctx, "--payload-file: " + bytes.error().message);
    spec.payload = std::move(*bytes);
  }
  if (auto json = CheckJsonPayload(spec.payload); !json) {
    return UsageError(
        ctx, (payload_file.empty() ? "--payload: " : "--payload-file: ") + json.error().message);
  }
  spec.priority = static_cast<uint8_t>(priority);
  spec.not_before_ms = static_cast<int64_t>(not_before_ms);
  for (const auto& label : labels) {
    auto eq = label.find('=');
    if (eq == std::string::npos || eq == 0) {
      return UsageError(ctx, "--label: '" + label + "' is not key=value");
    }
    spec.labels[label.substr(0, eq)] = label.substr(eq + 1);
  }
  if (auto valid = protocol::ValidateTaskSpec(spec, ""); !valid) {
    // The spec's field names map to flags: "backoff: base_ms ..." -> --backoff-base-ms etc.
    return UsageError(ctx, "invalid task: " + valid.error().message);
  }

  int code = kExitOk;
  auto client = ConnectClient(ctx, &code);
  if (!client) return code;
  // With --wait, the broker pushes the result when the task ends (notify): one request.
  auto submitted = client->SubmitTasks({spec}, SubmitOptions{.notify = wait});
  if (!submitted) return ReportError(ctx, submitted.error());
  for (const auto& w : submitted->warnings) ctx.err << "taskmill: warning: " << w << '\n';
  const std::string* id = &submitted->ids.at(0);
  if (!wait) {
    if (ctx.global.json) {
      ctx.out << Dump(nlohmann::json{{"id", *id}}) << '\n';
    } else {
      ctx.out << *id << '\n';
    }
    return kExitOk;
  }
  auto task = client->WaitResult(*id, wait_ms);
  if (!task) {
    ctx.err << "taskmill: task " << *id << " was submitted, but waiting for it failed\n";
    return ReportError(ctx, task.error());
  }
  return PrintWaited(ctx, {std::move(*task)}, true);
}

int RunGet(Context& ctx, const Args& args) {
  FlagSet flags("taskmill get", "Shows tasks: taskmill get ID...");
  AddCommonFlags(flags, ctx.global);
  std::vector<std::string> ids;
  if (auto stop = ParseFlags(ctx, flags, args, &ids)) return *stop;
  if (ids.empty()) return UsageError(ctx, "get: give at least one task id");
  int code = kExitOk;
  auto client = ConnectClient(ctx, &code);
  if (!client) return code;
  auto tasks = client->GetMany(ids);
  if (!tasks) return ReportError(ctx, tasks.error());
  std::vector<protocol::TaskInfo> found;
  for (auto& t : *tasks) {
    if (t.state == protocol::TaskState::kUnknown) {
      code = kExitFailed;
      ctx.err << "taskmill: not_found: no task " << t.id << '\n';
    } else {
      found.push_back(std::move(t));
    }
  }
  if (ctx.global.json) {
    if (ids.size() == 1) {
      ctx.out << Dump(found.empty() ? nlohmann::json{{"error", ToJson(Error{ErrorCode::kNotFound,
                                                                            "no task " + ids[0]})}}
                                    : ToJson(found[0]))
              << '\n';
    } else {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& t : found) arr.push_back(ToJson(t));
      ctx.out << Dump(arr) << '\n';
    }
  } else {
    for (size_t i = 0; i < found.size(); ++i) {
      if (i > 0) ctx.out << '\n';
      PrintTaskCard(ctx.out, found[i]);
    }
  }
  return code;
}

int RunWait(Context& ctx, const Args& args) {
  uint32_t wait_ms = kDefaultWaitMs;
  FlagSet flags("taskmill wait", "Waits for tasks to finish: taskmill wait ID...");
  flags.Uint32("wait-timeout-ms", &wait_ms, 1, UINT32_MAX, "how long to wait");
  AddCommonFlags(flags, ctx.global);
  std::vector<std::string> ids;
  if (auto stop = ParseFlags(ctx, flags, args, &ids)) return *stop;
  if (ids.empty()) return UsageError(ctx, "wait: give at least one task id");
  int code = kExitOk;
  auto client = ConnectClient(ctx, &code);
  if (!client) return code;
  auto tasks = client->Wait(ids, wait_ms);
  if (!tasks) return ReportError(ctx, tasks.error());
  return PrintWaited(ctx, *tasks, ids.size() == 1);
}

int RunCancel(Context& ctx, const Args& args) {
  std::string batch_id, reason;
  FlagSet flags("taskmill cancel", "Cancels tasks (taskmill cancel ID...) or a batch's rest.");
  flags.String("batch", &batch_id, "cancel the unfinished tasks of this batch");
  flags.String("reason", &reason, "recorded with the cancellation (default: cancelled)");
  AddCommonFlags(flags, ctx.global);
  std::vector<std::string> ids;
  if (auto stop = ParseFlags(ctx, flags, args, &ids)) return *stop;
  if (ids.empty() == batch_id.empty()) {
    return UsageError(ctx, "cancel: give task ids or --batch ID (one of them)");
  }
  int code = kExitOk;
  auto client = ConnectClient(ctx, &code);
  if (!client) return code;
  auto affected =
      batch_id.empty() ? client->CancelMany(ids, reason) : client->CancelBatch(batch_id, reason);
  if (!affected) return ReportError(ctx, affected.error());
  // A running task stops only once its worker confirms: the REPLY says which ("requested").
  const std::vector<std::string>& requested = affected->requested;
  std::vector<std::string> done;
  for (const auto& id : affected->ids) {
    if (std::find(requested.begin(), requested.end(), id) == requested.end()) done.push_back(id);
  }
  if (ctx.global.json) {
    ctx.out << Dump(nlohmann::json{{"count", affected->count},
                                   {"ids", affected->ids},
                                   {"requested", requested}})
            << '\n';
  } else {
    if (!done.empty() || requested.empty()) {
      ctx.out << "cancelled " << (affected->count - requested.size()) << " task(s)\n";
      for (const auto& id : done) ctx.out << id << '\n';
    }
    if (!requested.empty()) {
      ctx.out << "cancel requested for " << requested.size()
              << " running task(s); each stops when its worker confirms (taskmill wait ID):\n";
      for (const auto& id : requested) ctx.out << id << '\n';
    }
  }
  return kExitOk;
}

}  // namespace taskmill::client::cli
