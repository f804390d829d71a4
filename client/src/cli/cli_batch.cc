// Batch commands: batch run FILE [--follow], batch status ID, batch watch ID, batch cancel ID,
// batch append ID FILE [--follow] (batch list: cli_list.cc).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ostream>

#include "cli/batch_progress.h"
#include "cli/cli.h"
#include "cli/json_convert.h"
#include "cli/render.h"
#include "taskmill/client/batch_file.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::client::cli {
namespace {

constexpr const char* kBatchUsage =
    R"(usage: taskmill batch run FILE [--follow] [--id ID] [--wait-timeout-ms N]
                          [--on-failure cancel_dependents|continue|fail_fast]
       taskmill batch status ID [--tasks]
       taskmill batch watch ID [--wait-timeout-ms N]
       taskmill batch cancel ID [--reason R]
       taskmill batch append ID FILE [--follow] [--wait-timeout-ms N]
       taskmill batch list [--state S] [--limit N] [--cursor C]

FILE is JSON (see client/README.md):
  {"id"?: str, "budget"?: {"usd": 1.5, ...}, "labels"?: {str: str},
   "on_failure"?: "cancel_dependents" | "continue" | "fail_fast",
   "finally"?: {"type": str, "name"?: str, "queue"?: str, ...}: runs once when the batch
               ends, whatever its outcome; its payload is the batch summary (JSON),
   "tasks": [{"name": str, "type": str, "queue"?: str, "payload"?: object|array|string,
              "priority"?: 0..255, "max_attempts"?: n, "timeout_ms"?: n,
              "backoff"?: {"base_ms", "max_ms", "multiplier", "jitter"},
              "depends_on"?: [names], "labels"?: {str: str}, "idempotency_key"?: str}]}
An object or array payload is sent as its compact JSON text, a string as its bytes.
batch append adds FILE's tasks (and labels) to the running batch ID: their names must be
new to it, their depends_on may name its tasks; id, budget, on_failure and finally are the
batch's own and refused in FILE.
)";

constexpr int64_t kPollMs = 1000;                // how often --follow reads the batch status
constexpr int64_t kGiveUpUnreachableMs = 30000;  // --follow: broker gone this long -> exit 3

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The batch's tasks in file order, looked up by the ids the broker gave their names.
Result<std::vector<protocol::TaskInfo>> FetchTasks(Client& client,
                                                   const std::vector<std::string>& names,
                                                   const protocol::BatchStatus& status) {
  std::vector<std::string> ids;
  for (const auto& name : names) {
    if (auto it = status.tasks.find(name); it != status.tasks.end()) ids.push_back(it->second);
  }
  auto tasks = client.GetMany(ids);
  if (!tasks) return tasks;
  // GET does not echo batch-local names; fill them in for the table.
  for (auto& t : *tasks) {
    for (const auto& [name, id] : status.tasks) {
      if (id == t.id && t.name.empty()) t.name = name;
    }
  }
  return tasks;
}

void PrintFinalTable(Context& ctx, const protocol::BatchStatus& status,
                     const std::vector<protocol::TaskInfo>& tasks) {
  Table table({"NAME", "STATE", "ATTEMPTS", "DURATION", "COST"}, {false, false, true, true, false});
  uint32_t attempts = 0;
  for (const auto& t : tasks) {
    table.AddRow({t.name, protocol::TaskStateName(t.state), std::to_string(t.attempts),
                  FormatDurationMs(TaskDurationMs(t)), FormatCost(t.cost)});
    attempts += t.attempts;
  }
  auto totals = SumCosts(tasks);
  int64_t wall = status.finished_ms > 0 ? status.finished_ms - status.created_ms : 0;
  table.AddRow({"TOTAL", std::to_string(tasks.size()) + " tasks", std::to_string(attempts),
                FormatDurationMs(wall), FormatCost(totals)});
  ctx.out << "batch " << status.id << " " << status.state;
  if (status.budget_exceeded) ctx.out << " (budget exceeded)";
  ctx.out << '\n';
  table.Print(ctx.out);
  // The totals come from the tasks; say so if the broker's own sum disagrees.
  for (const auto& [name, value] : status.cost) {
    double mine = totals.count(name) ? totals.at(name) : 0;
    if (std::fabs(mine - value) > 1e-9 * std::max(1.0, std::fabs(value))) {
      ctx.err << "taskmill: note: the broker's batch cost " << name << "=" << FormatCostValue(value)
              << " differs from the tasks' sum\n";
    }
  }
}

int PrintBatchResult(Context& ctx, Client& client, const std::vector<std::string>& names,
                     const protocol::BatchStatus& status,
                     const std::vector<protocol::Event>& events) {
  auto tasks = FetchTasks(client, names, status);
  if (!tasks) return ReportError(ctx, tasks.error());
  if (ctx.global.json) {
    nlohmann::json doc = {{"batch", ToJson(status)}};
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& t : *tasks) arr.push_back(ToJson(t));
    doc["tasks"] = std::move(arr);
    doc["totals"] = ToJson(SumCosts(*tasks));
    nlohmann::json ev = nlohmann::json::array();
    for (const auto& e : events) ev.push_back(ToJson(e));
    doc["events"] = std::move(ev);
    ctx.out << Dump(doc) << '\n';
  } else {
    PrintFinalTable(ctx, status, *tasks);
  }
  return status.state == "succeeded" ? kExitOk : kExitFailed;
}

// Shows a subscribed batch's progress until it ends, then its table (or JSON); `inbox`
// gets the subscription's events. `verb` says what happened first ("submitted",
// "watched").
int FollowBatch(Context& ctx, Client& client, const std::vector<std::string>& names,
                const protocol::BatchStatus& initial, Subscription& subscription,
                EventInbox& inbox, uint32_t wait_ms, const char* verb) {
  const std::string batch_id = initial.id;
  BatchProgress progress;
  progress.Apply(initial);
  std::vector<protocol::Event> seen;
  int64_t start = SteadyMs();
  int64_t next_poll = start + kPollMs;
  int64_t unreachable_since = 0;
  bool live = ctx.tty && !ctx.global.json;
  if (!ctx.global.json && !live) ctx.out << "batch " << batch_id << " " << verb << "\n";
  while (!progress.finished()) {
    int64_t now = SteadyMs();
    if (wait_ms > 0 && now - start >= wait_ms) {
      if (live) ctx.out << '\n';
      ctx.err << "taskmill: batch " << batch_id << " still running after " << wait_ms
              << " ms (--wait-timeout-ms)\n";
      return kExitFailed;
    }
    for (auto& e : inbox.Take(std::min<int64_t>(live ? 250 : kPollMs, next_poll - now))) {
      uint32_t done_before = progress.done();
      progress.Apply(e);
      // batch_progress follows every change; a line only when the done count moved.
      bool quiet = e.type == "batch_progress" && progress.done() == done_before;
      if (!ctx.global.json && !live && !quiet) {
        ctx.out << EventLine(e, progress, SteadyMs() - start) << '\n' << std::flush;
      }
      seen.push_back(std::move(e));
    }
    now = SteadyMs();
    if (now >= next_poll) {
      next_poll = now + kPollMs;
      auto status = client.GetBatch(batch_id);
      if (status) {
        progress.Apply(*status);
        unreachable_since = 0;
      } else if (ExitCodeFor(status.error()) == kExitUnreachable) {
        if (unreachable_since == 0) unreachable_since = now;
        if (now - unreachable_since > kGiveUpUnreachableMs) {
          if (live) ctx.out << '\n';
          return ReportError(ctx, status.error());
        }
      } else {
        if (live) ctx.out << '\n';
        return ReportError(ctx, status.error());
      }
    }
    if (live) {
      ctx.out << '\r'
              << ProgressLine(progress.done(), progress.total(), progress.failed(), progress.cost(),
                              SteadyMs() - start)
              << "\x1b[K" << std::flush;
    }
  }
  if (live) ctx.out << '\n';
  subscription.Cancel();
  auto final_status = client.GetBatch(batch_id);
  if (!final_status) return ReportError(ctx, final_status.error());
  return PrintBatchResult(ctx, client, names, *final_status, seen);
}

int Follow(Context& ctx, Client& client, protocol::BatchSpec spec, uint32_t wait_ms) {
  std::vector<std::string> names;
  for (const auto& t : spec.tasks) names.push_back(t.name);
  bool appending = !spec.append_to.empty();
  EventInbox inbox;  // outlives the subscription below
  auto submitted =
      client.SubmitBatch(std::move(spec), [&inbox](const protocol::Event& e) { inbox.Push(e); });
  if (!submitted) return ReportError(ctx, submitted.error());
  if (appending) {
    // The table shows the whole batch: the tasks it had, then the file's.
    std::vector<std::string> all;
    for (const auto& [name, id] : submitted->status.tasks) {
      if (std::find(names.begin(), names.end(), name) == names.end()) all.push_back(name);
    }
    all.insert(all.end(), names.begin(), names.end());
    names = std::move(all);
  }
  for (const auto& w : submitted->warnings) ctx.err << "taskmill: warning: " << w << '\n';
  return FollowBatch(ctx, client, names, submitted->status, submitted->subscription, inbox,
                     wait_ms, appending ? "appended to" : "submitted");
}

// `batch watch ID`: follows a batch submitted earlier (by anyone), as run --follow does.
int BatchWatch(Context& ctx, const Args& args) {
  uint32_t wait_ms = 0;
  FlagSet flags("taskmill batch watch",
                "Follows a batch until it ends, then shows its table: taskmill batch watch ID.");
  flags.Uint32("wait-timeout-ms", &wait_ms, 0, UINT32_MAX,
               "give up (exit 1) after this long; 0: never");
  AddCommonFlags(flags, ctx.global);
  std::vector<std::string> ids;
  if (auto stop = ParseFlags(ctx, flags, args, &ids)) return *stop;
  if (ids.size() != 1) return UsageError(ctx, "batch watch: give exactly one batch id");
  int code = kExitOk;
  auto client = ConnectClient(ctx, &code);
  if (!client) return code;
  EventInbox inbox;  // outlives the subscription below
  // Subscribed before the status is read, so no event falls between the two.
  auto subscription =
      client->Subscribe(ids[0], [&inbox](const protocol::Event& e) { inbox.Push(e); });
  if (!subscription) return ReportError(ctx, subscription.error());
  auto status = client->GetBatch(ids[0]);
  if (!status) return ReportError(ctx, status.error());
  std::vector<std::string> names;
  for (const auto& [name, id] : status->tasks) names.push_back(name);
  return FollowBatch(ctx, *client, names, *status, *subscription, inbox, wait_ms, "watched");
}

int BatchRun(Context& ctx, const Args& args) {
  bool follow = false;
  std::string id;
  std::string on_failure;
  uint32_t wait_ms = 0;
  FlagSet flags("taskmill batch run", "Submits a batch file: taskmill batch run FILE.");
  flags.String("on-failure", &on_failure,
               "when a task dies: cancel_dependents (default: its descendants are cancelled), "
               "continue (its children still run, given its error) or fail_fast (the rest of "
               "the batch is cancelled); overrides the file's on_failure");
  flags.Bool("follow", &follow,
             "show progress until the batch ends, then a table; exit 1 unless it succeeded");
  flags.String("id", &id, "batch id (overrides the file's; default: generated)");
  flags.Uint32("wait-timeout-ms", &wait_ms, 0, UINT32_MAX,
               "with --follow: give up (exit 1) after this long; 0: never");
  AddCommonFlags(flags, ctx.global);
  std::vector<std::string> files;
  if (auto stop = ParseFlags(ctx, flags, args, &files)) return *stop;
  if (files.size() != 1) return UsageError(ctx, "batch run: give exactly one FILE");
  auto spec = LoadBatchFile(files[0]);
  if (!spec) return UsageError(ctx, spec.error().message);
  if (!id.empty()) {
    spec->id = id;
    if (auto valid = ValidateBatchSpec(*spec); !valid) {
      return UsageError(ctx, "--id: " + valid.error().message);
    }
  }
  if (!on_failure.empty()) {
    if (auto valid = protocol::ValidateOnFailure(on_failure, "--on-failure"); !valid) {
      return UsageError(ctx, valid.error().message);
    }
    spec->on_failure = on_failure;
  }
  int code = kExitOk;
  auto client = ConnectClient(ctx, &code);
  if (!client) return code;
  if (follow) return Follow(ctx, *client, std::move(*spec), wait_ms);
  auto status = client->SubmitBatch(std::move(*spec));
  if (!status) return ReportError(ctx, status.error());
  if (ctx.global.json) {
    ctx.out << Dump(ToJson(*status)) << '\n';
  } else {
    PrintBatchCard(ctx.out, *status);
  }
  return kExitOk;
}

// `batch append ID FILE`: FILE's tasks join the running batch ID.
int BatchAppend(Context& ctx, const Args& args) {
  bool follow = false;
  uint32_t wait_ms = 0;
  FlagSet flags("taskmill batch append",
                "Adds a file's tasks to a running batch: taskmill batch append ID FILE.");
  flags.Bool("follow", &follow,
             "show progress until the batch ends, then a table; exit 1 unless it succeeded");
  flags.Uint32("wait-timeout-ms", &wait_ms, 0, UINT32_MAX,
               "with --follow: give up (exit 1) after this long; 0: never");
  AddCommonFlags(flags, ctx.global);
  std::vector<std::string> rest;
  if (auto stop = ParseFlags(ctx, flags, args, &rest)) return *stop;
  if (rest.size() != 2) return UsageError(ctx, "batch append: give a batch id and one FILE");
  if (auto valid = protocol::ValidateName(rest[0], "batch id"); !valid) {
    return UsageError(ctx, valid.error().message);
  }
  auto spec = LoadBatchFile(rest[1], rest[0]);
  if (!spec) return UsageError(ctx, spec.error().message);
  int code = kExitOk;
  auto client = ConnectClient(ctx, &code);
  if (!client) return code;
  if (follow) return Follow(ctx, *client, std::move(*spec), wait_ms);
  auto status = client->SubmitBatch(std::move(*spec));
  if (!status) return ReportError(ctx, status.error());
  if (ctx.global.json) {
    ctx.out << Dump(ToJson(*status)) << '\n';
  } else {
    PrintBatchCard(ctx.out, *status);
  }
  return kExitOk;
}

int BatchStatusCommand(Context& ctx, const Args& args) {
  bool with_tasks = false;
  FlagSet flags("taskmill batch status", "Shows a batch: taskmill batch status ID.");
  flags.Bool("tasks", &with_tasks, "also list the batch's tasks");
  AddCommonFlags(flags, ctx.global);
  std::vector<std::string> ids;
  if (auto stop = ParseFlags(ctx, flags, args, &ids)) return *stop;
  if (ids.size() != 1) return UsageError(ctx, "batch status: give exactly one batch id");
  int code = kExitOk;
  auto client = ConnectClient(ctx, &code);
  if (!client) return code;
  auto status = client->GetBatch(ids[0]);
  if (!status) return ReportError(ctx, status.error());
  if (!with_tasks) {
    if (ctx.global.json) {
      ctx.out << Dump(ToJson(*status)) << '\n';
    } else {
      PrintBatchCard(ctx.out, *status);
    }
    return kExitOk;
  }
  std::vector<std::string> names;
  for (const auto& [name, id] : status->tasks) names.push_back(name);
  PrintBatchResult(ctx, *client, names, *status, {});
  return kExitOk;
}

int BatchCancel(Context& ctx, const Args& args) {
  std::string reason;
  FlagSet flags("taskmill batch cancel", "Cancels a batch's unfinished tasks.");
  flags.String("reason", &reason, "recorded with the cancellation (default: cancelled)");
  AddCommonFlags(flags, ctx.global);
  std::vector<std::string> ids;
  if (auto stop = ParseFlags(ctx, flags, args, &ids)) return *stop;
  if (ids.size() != 1) return UsageError(ctx, "batch cancel: give exactly one batch id");
  return RunCancel(ctx, {"cancel", "--batch", ids[0], "--reason", reason});
}

}  // namespace

int RunBatch(Context& ctx, const Args& args) {
  if (args.size() < 2 || args[1] == "--help" || args[1] == "-h" || args[1] == "help") {
    bool help = args.size() >= 2;
    (help ? ctx.out : ctx.err) << kBatchUsage;
    return help ? kExitOk
                : UsageError(ctx, "batch: give run, status, watch, cancel, list or append");
  }
  Args sub(args.begin() + 1, args.end());
  sub.front() = "batch " + args[1];
  // `submit` is `run` under the name the other clients use (submit_batch, submitBatch).
  if (args[1] == "run" || args[1] == "submit") return BatchRun(ctx, sub);
  if (args[1] == "status") return BatchStatusCommand(ctx, sub);
  if (args[1] == "cancel") return BatchCancel(ctx, sub);
  if (args[1] == "watch") return BatchWatch(ctx, sub);
  if (args[1] == "list") return RunBatchList(ctx, sub);
  if (args[1] == "append") return BatchAppend(ctx, sub);
  return UsageError(ctx, "batch: unknown operation '" + args[1] +
                             "' (give run, status, watch, cancel, list or append)");
}

}  // namespace taskmill::client::cli
