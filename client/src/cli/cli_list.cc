// `taskmill list`, `taskmill batch list` (LIST) and `taskmill task priority|promote` (UPDATE).

#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/json_convert.h"
#include "cli/render.h"
#include "taskmill/shared/flags.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::client::cli {
namespace {

constexpr const char* kTaskUsage =
    "usage: taskmill task priority ID N   set a queued, delayed or blocked task's priority "
    "(0-255)\n"
    "       taskmill task promote ID      make a delayed task ready now\n";

// The time that says most about a task in its state.
std::string WhenOf(const protocol::TaskInfo& t) {
  switch (t.state) {
    case protocol::TaskState::kDelayed:
      return "ready " + FormatTime(t.ready_at_ms);
    case protocol::TaskState::kRunning:
    case protocol::TaskState::kAwaiting:
      return "started " + FormatTime(t.started_ms);
    case protocol::TaskState::kQueued:
    case protocol::TaskState::kBlocked:
      return "created " + FormatTime(t.created_ms);
    default:
      return t.finished_ms != 0 ? "finished " + FormatTime(t.finished_ms)
                                : "created " + FormatTime(t.created_ms);
  }
}

void PrintSummaries(std::ostream& out, const std::vector<protocol::TaskInfo>& tasks) {
  Table table({"ID", "NAME", "TYPE", "STATE", "PRIO", "ATTEMPTS", "WHEN", "BATCH", "ERROR"},
              {false, false, false, false, true, true, false, false, false});
  for (const auto& t : tasks) {
    table.AddRow({t.id, t.name.empty() ? "-" : t.name, t.type, protocol::TaskStateName(t.state),
                  std::to_string(t.priority),
                  std::to_string(t.attempts) + "/" + std::to_string(t.max_attempts), WhenOf(t),
                  t.batch_id.empty() ? "-" : t.batch_id, t.error ? t.error->code : "-"});
  }
  table.Print(out);
}

void PrintBatches(std::ostream& out, const std::vector<protocol::BatchStatus>& batches) {
  Table table({"ID", "STATE", "TOTAL", "COUNTS", "COST", "CREATED"},
              {false, false, true, false, false, false});
  for (const auto& b : batches) {
    std::string counts;
    for (const auto& [state, n] : b.counts) {
      if (n == 0) continue;
      if (!counts.empty()) counts += ' ';
      counts += state + "=" + std::to_string(n);
    }
    table.AddRow({b.id, b.state, std::to_string(b.total), counts.empty() ? "-" : counts,
                  FormatCost(b.cost), FormatTime(b.created_ms)});
  }
  table.Print(out);
}

// The command that prints the next page: the same arguments with --cursor replaced.
std::string NextCommand(const Args& args, const std::string& cursor) {
  std::string cmd = "taskmill " + args.front();
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--cursor") {
      ++i;
      continue;
    }
    if (args[i].starts_with("--cursor=")) continue;
    cmd += " " + args[i];
  }
  return cmd + " --cursor " + cursor;
}

int ShowPage(Context& ctx, const Args& args, const ListPage& page, bool batches) {
  if (ctx.global.json) {
    nlohmann::json items = nlohmann::json::array();
    if (batches) {
      for (const auto& b : page.batches) items.push_back(ToJson(b));
    } else {
      for (const auto& t : page.tasks) items.push_back(ToJson(t));
    }
    ctx.out << Dump(nlohmann::json{{batches ? "batches" : "tasks", items},
                                   {"next_cursor", page.next_cursor}})
            << '\n';
    return kExitOk;
  }
  if (batches) {
    PrintBatches(ctx.out, page.batches);
  } else {
    PrintSummaries(ctx.out, page.tasks);
  }
  if (!page.next_cursor.empty()) {
    ctx.out << "next page: " << NextCommand(args, page.next_cursor) << '\n';
  }
  return kExitOk;
}

void AddPageFlags(FlagSet& flags, protocol::List& list) {
  flags.Uint32("limit", &list.limit, 1, protocol::kMaxListLimit,
               "entries per page (1 to 1000)");
  flags.String("cursor", &list.cursor,
               "the page after the one that printed this cursor (\"\" = the first page)");
}

int ListAndShow(Context& ctx, const Args& args, protocol::List list) {
  if (auto valid = protocol::ValidateList(list); !valid) {
    return UsageError(ctx, args.front() + ": " + valid.error().message);
  }
  int code = kExitOk;
  auto client = ConnectClient(ctx, &code);
  if (!client) return code;
  auto page = client->List(list);
  if (!page) return ReportError(ctx, page.error());
  return ShowPage(ctx, args, *page, list.what == "batches");
}

}  // namespace

int RunList(Context& ctx, const Args& args) {
  protocol::List list;
  FlagSet flags("taskmill list",
                "Lists a queue's tasks in one state, a page at a time, in the order of the "
                "state's index (queued: the order they will be claimed in).");
  flags.String("queue", &list.queue, "the queue (required)");
  flags.String("state", &list.state,
               "the tasks' state: queued, delayed, blocked, running, awaiting, succeeded, "
               "failed, cancelled, expired (required)");
  flags.String("type", &list.type, "only tasks of this type");
  AddPageFlags(flags, list);
  AddCommonFlags(flags, ctx.global);
  if (auto stop = ParseFlags(ctx, flags, args, nullptr)) return *stop;
  if (list.queue.empty()) return UsageError(ctx, "list: give --queue");
  if (list.state.empty()) return UsageError(ctx, "list: give --state");
  return ListAndShow(ctx, args, std::move(list));
}

int RunBatchList(Context& ctx, const Args& args) {
  protocol::List list;
  list.what = "batches";
  FlagSet flags("taskmill batch list", "Lists batches by creation, a page at a time.");
  flags.String("state", &list.state,
               "only batches in this state: running, succeeded, partial, failed");
  AddPageFlags(flags, list);
  AddCommonFlags(flags, ctx.global);
  if (auto stop = ParseFlags(ctx, flags, args, nullptr)) return *stop;
  return ListAndShow(ctx, args, std::move(list));
}

int RunTask(Context& ctx, const Args& args) {
  if (args.size() < 2 || args[1] == "--help" || args[1] == "-h") {
    bool help = args.size() >= 2;
    (help ? ctx.out : ctx.err) << kTaskUsage;
    return help ? kExitOk : UsageError(ctx, "task: give priority or promote");
  }
  const std::string op = args[1];
  if (op != "priority" && op != "promote") {
    return UsageError(ctx, "task: unknown operation '" + op + "' (give priority or promote)");
  }
  Args sub(args.begin() + 1, args.end());
  sub.front() = "task " + op;
  FlagSet flags("taskmill task " + op + (op == "priority" ? " ID N" : " ID"),
                op == "priority" ? "Sets a queued, delayed or blocked task's priority (0-255, "
                                   "higher runs first)."
                                 : "Makes a delayed task ready now.");
  AddCommonFlags(flags, ctx.global);
  std::vector<std::string> positional;
  if (auto stop = ParseFlags(ctx, flags, sub, &positional)) return *stop;
  protocol::Update u;
  u.op = op;
  if (op == "priority") {
    if (positional.size() != 2) return UsageError(ctx, "task priority: give ID and N");
    const std::string& n = positional[1];
    if (n.empty() || n.size() > 3 || n.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(n) > 255) {
      return UsageError(ctx, "task priority: '" + n +
                                 "' is not a priority (allowed: 0 to 255, higher runs first)");
    }
    u.priority = static_cast<uint32_t>(std::stoi(n));
  } else if (positional.size() != 1) {
    return UsageError(ctx, "task promote: give exactly one ID");
  }
  u.id = positional.front();
  if (auto valid = protocol::ValidateUpdate(u); !valid) {
    return UsageError(ctx, sub.front() + ": " + valid.error().message);
  }
  int code = kExitOk;
  auto client = ConnectClient(ctx, &code);
  if (!client) return code;
  auto task = op == "priority" ? client->SetPriority(u.id, u.priority) : client->Promote(u.id);
  if (!task) return ReportError(ctx, task.error());
  if (ctx.global.json) {
    ctx.out << Dump(ToJson(*task)) << '\n';
  } else {
    ctx.out << "task " << task->id << ": " << protocol::TaskStateName(task->state)
            << ", priority " << static_cast<int>(task->priority) << '\n';
  }
  return kExitOk;
}

}  // namespace taskmill::client::cli
