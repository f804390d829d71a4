// Operator commands: stats, dlq list|retry|purge.

#include <ostream>

#include "cli/cli.h"
#include "cli/json_convert.h"
#include "cli/render.h"
#include "cli/stats_watch.h"

namespace taskmill::client::cli {

int RunStats(Context& ctx, const Args& args) {
  std::vector<std::string> queues;
  FlagSet flags("taskmill stats", "Queue depths, counters and costs; connected workers.");
  flags.List("queue", &queues, "only these queues (repeatable; default: every queue)");
  bool watch = false;
  uint32_t interval_ms = 1000;
  uint32_t count = 0;
  flags.Bool("watch", &watch,
             "refresh until Ctrl-C: redrawn in place on a terminal, successive frames "
             "otherwise (with --json, one JSON document per line)");
  flags.Uint32("interval-ms", &interval_ms, 100, 3600000, "with --watch: time between frames");
  flags.Uint32("count", &count, 0, 1000000, "with --watch: stop after this many frames; 0: never");
  AddCommonFlags(flags, ctx.global);
  if (auto stop = ParseFlags(ctx, flags, args, nullptr)) return *stop;
  if (!watch && count != 0) return UsageError(ctx, "stats: --count needs --watch");
  int code = kExitOk;
  auto client = ConnectClient(ctx, &code);
  if (!client) return code;
  if (watch) {
    WatchOptions options;
    options.interval_ms = interval_ms;
    options.count = count;
    return RunStatsWatch(ctx, options, [&] { return client->Stats(queues); });
  }
  auto stats = client->Stats(queues);
  if (!stats) return ReportError(ctx, stats.error());
  if (ctx.global.json) {
    ctx.out << Dump(ToJson(*stats)) << '\n';
  } else {
    PrintStats(ctx.out, *stats);
  }
  return kExitOk;
}

int RunDlq(Context& ctx, const Args& args) {
  if (args.size() < 2 || args[1] == "--help" || args[1] == "-h") {
    bool help = args.size() >= 2;
    (help ? ctx.out : ctx.err) << "usage: taskmill dlq list [--queue Q] [--limit N]\n"
                                  "       taskmill dlq retry|purge [--queue Q] (ID... | --all)\n";
    return help ? kExitOk : UsageError(ctx, "dlq: give list, retry or purge");
  }
  const std::string& op = args[1];
  Args sub(args.begin() + 1, args.end());
  sub.front() = "dlq " + op;
  std::string queue;
  int code = kExitOk;

  if (op == "list") {
    uint32_t limit = 100;
    FlagSet flags("taskmill dlq list", "Dead letters, newest first, with their errors.");
    flags.String("queue", &queue, "only this queue (default: every queue)");
    flags.Uint32("limit", &limit, 1, 10000, "at most this many");
    AddCommonFlags(flags, ctx.global);
    if (auto stop = ParseFlags(ctx, flags, sub, nullptr)) return *stop;
    auto client = ConnectClient(ctx, &code, /*admin=*/true);
    if (!client) return code;
    auto tasks = client->ListDeadLetters(queue, limit);
    if (!tasks) return ReportError(ctx, tasks.error());
    if (ctx.global.json) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& t : *tasks) arr.push_back(ToJson(t));
      ctx.out << Dump(arr) << '\n';
    } else {
      PrintDeadLetters(ctx.out, *tasks);
    }
    return kExitOk;
  }

  if (op != "retry" && op != "purge") {
    return UsageError(ctx, "dlq: unknown operation '" + op + "' (give list, retry or purge)");
  }
  bool all = false;
  FlagSet flags("taskmill dlq " + op,
                op == "retry" ? "Sends dead letters back to their queue: ID... or --all."
                              : "Deletes dead letters: ID... or --all.");
  flags.String("queue", &queue, "only this queue (with --all)");
  flags.Bool("all", &all, "every dead letter (of --queue, if given)");
  AddCommonFlags(flags, ctx.global);
  std::vector<std::string> ids;
  if (auto stop = ParseFlags(ctx, flags, sub, &ids)) return *stop;
  // Empty ids mean "all" on the wire, so asking for everything must be explicit.
  if (ids.empty() == !all) {
    return UsageError(ctx, "dlq " + op + ": give task ids or --all (one of them)");
  }
  auto client = ConnectClient(ctx, &code, /*admin=*/true);
  if (!client) return code;
  auto affected =
      op == "retry" ? client->RetryDeadLetters(queue, ids) : client->PurgeDeadLetters(queue, ids);
  if (!affected) return ReportError(ctx, affected.error());
  if (ctx.global.json) {
    ctx.out << Dump(nlohmann::json{{"count", affected->count}, {"ids", affected->ids}}) << '\n';
  } else {
    ctx.out << (op == "retry" ? "retried " : "purged ") << affected->count << " task(s)\n";
    for (const auto& id : affected->ids) ctx.out << id << '\n';
  }
  return kExitOk;
}

}  // namespace taskmill::client::cli
