// `taskmill queue limit QUEUE ...`: a queue's limits and fairness (LIMIT);
// `taskmill queue pause|resume QUEUE` (QUEUE) and `taskmill worker quiet|unquiet ID` (WORKER).

#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/json_convert.h"
#include "taskmill/shared/duration.h"
#include "taskmill/shared/flags.h"
#include "taskmill/shared/limit_spec.h"

namespace taskmill::client::cli {

namespace {

constexpr const char* kQueueUsage =
    "usage: taskmill queue limit QUEUE [--rate N/s|N/m|N/h] [--concurrency N]\n"
    "                                  [--cost-rate NAME=AMOUNT/s|m|h] [--key-label LABEL]\n"
    "                                  [--aging DURATION] [--round-robin]\n"
    "       taskmill queue limit QUEUE --clear\n"
    "       taskmill queue pause QUEUE\n"
    "       taskmill queue resume QUEUE\n";

constexpr const char* kWorkerUsage =
    "usage: taskmill worker quiet ID\n"
    "       taskmill worker unquiet ID\n";

// `queue pause|resume QUEUE`: one queue, no flags besides the common ones.
int RunQueuePause(Context& ctx, const Args& args, bool pause) {
  Args sub(args.begin() + 1, args.end());
  sub.front() = pause ? "queue pause" : "queue resume";
  FlagSet flags(pause ? "taskmill queue pause QUEUE" : "taskmill queue resume QUEUE",
                pause ? "Pauses a queue on every broker: its tasks stay queued and submits still "
                        "work, but none is leased until it is resumed."
                      : "Resumes a paused queue: workers take its tasks again at once.");
  AddCommonFlags(flags, ctx.global);
  std::vector<std::string> positional;
  if (auto stop = ParseFlags(ctx, flags, sub, &positional)) return *stop;
  if (positional.size() != 1) return UsageError(ctx, sub.front() + ": give exactly one QUEUE");
  int code = kExitOk;
  auto client = ConnectClient(ctx, &code, /*admin=*/true);
  if (!client) return code;
  auto r = pause ? client->PauseQueue(positional.front())
                 : client->ResumeQueue(positional.front());
  if (!r) return ReportError(ctx, r.error());
  if (ctx.global.json) {
    ctx.out << Dump(nlohmann::json{{"queue", r->queue}, {"paused", r->paused}}) << '\n';
  } else {
    ctx.out << "queue " << r->queue << ": " << (r->paused ? "paused" : "resumed") << '\n';
  }
  return kExitOk;
}

}  // namespace

int RunQueue(Context& ctx, const Args& args) {
  if (args.size() < 2 || args[1] == "--help" || args[1] == "-h") {
    bool help = args.size() >= 2;
    (help ? ctx.out : ctx.err) << kQueueUsage;
    return help ? kExitOk : UsageError(ctx, "queue: give limit, pause or resume");
  }
  if (args[1] == "pause" || args[1] == "resume") {
    return RunQueuePause(ctx, args, args[1] == "pause");
  }
  if (args[1] != "limit") {
    return UsageError(ctx,
                      "queue: unknown operation '" + args[1] + "' (give limit, pause or resume)");
  }
  Args sub(args.begin() + 1, args.end());
  sub.front() = "queue limit";
  protocol::Limit limit;
  uint64_t aging_ms = 0;
  FlagSet flags("taskmill queue limit QUEUE",
                "Sets a queue's limits and fairness, enforced at claim time on every broker; "
                "replaces the queue's whole setting (--clear removes it).");
  flags.String("rate", &limit.rate, "at most N tasks started per second, minute or hour (N/s)");
  flags.Uint32("concurrency", &limit.concurrency, 0, 1'000'000,
               "at most N tasks leased at once (running or prefetched)");
  flags.String("cost-rate", &limit.cost_rate,
               "NAME=AMOUNT/s|m|h: stop claiming while the NAME cost spent over that sliding "
               "window reaches AMOUNT");
  flags.String("key-label", &limit.key_label,
               "apply every limit per value of this task label (e.g. tenant)");
  flags.String("aging", &limit.aging,
               "priority aging: a waiting task gains one priority step per period (250ms, 30s, "
               "5m, 2h)");
  flags.Uint("aging-ms", &aging_ms, 0, 86'400'000, "the same, in milliseconds");
  flags.Bool("round-robin", &limit.round_robin,
             "take turns between the values of --key-label within a priority");
  flags.Bool("clear", &limit.clear, "remove every limit and fairness setting of the queue");
  AddCommonFlags(flags, ctx.global);
  std::vector<std::string> positional;
  if (auto stop = ParseFlags(ctx, flags, sub, &positional)) return *stop;
  if (positional.size() != 1) return UsageError(ctx, "queue limit: give exactly one QUEUE");
  limit.queue = positional.front();
  if (aging_ms > 0) {
    if (!limit.aging.empty()) return UsageError(ctx, "queue limit: give --aging or --aging-ms");
    limit.aging = FormatDurationMs(aging_ms);  // the wire's aging takes a unit: 250ms
  }
  // Checked here too, so a typo fails before anything is sent.
  if (auto parsed = ParseQueueLimits(limit); !parsed) {
    return UsageError(ctx, "queue limit: " + parsed.error().message);
  }
  int code = kExitOk;
  auto client = ConnectClient(ctx, &code, /*admin=*/true);
  if (!client) return code;
  std::string text;
  if (limit.clear) {
    if (auto r = client->ClearQueueLimit(limit.queue); !r) return ReportError(ctx, r.error());
  } else {
    auto r = client->SetQueueLimit(limit);
    if (!r) return ReportError(ctx, r.error());
    text = std::move(*r);
  }
  if (ctx.global.json) {
    ctx.out << Dump(nlohmann::json{{"queue", limit.queue}, {"limit", text}}) << '\n';
  } else if (text.empty()) {
    ctx.out << "queue " << limit.queue << ": no limits\n";
  } else {
    ctx.out << "queue " << limit.queue << ": " << text << '\n';
  }
  return kExitOk;
}

int RunWorker(Context& ctx, const Args& args) {
  if (args.size() < 2 || args[1] == "--help" || args[1] == "-h") {
    bool help = args.size() >= 2;
    (help ? ctx.out : ctx.err) << kWorkerUsage;
    return help ? kExitOk : UsageError(ctx, "worker: give quiet or unquiet");
  }
  if (args[1] != "quiet" && args[1] != "unquiet") {
    return UsageError(ctx, "worker: unknown operation '" + args[1] + "' (give quiet or unquiet)");
  }
  bool quiet = args[1] == "quiet";
  Args sub(args.begin() + 1, args.end());
  sub.front() = quiet ? "worker quiet" : "worker unquiet";
  FlagSet flags(quiet ? "taskmill worker quiet ID" : "taskmill worker unquiet ID",
                quiet ? "Quiets a worker, whichever broker it is connected to: it finishes its "
                        "running tasks and is leased nothing new (ID as `taskmill stats` "
                        "lists it)."
                      : "Lets a quiet worker take tasks again.");
  AddCommonFlags(flags, ctx.global);
  std::vector<std::string> positional;
  if (auto stop = ParseFlags(ctx, flags, sub, &positional)) return *stop;
  if (positional.size() != 1) return UsageError(ctx, sub.front() + ": give exactly one ID");
  int code = kExitOk;
  auto client = ConnectClient(ctx, &code, /*admin=*/true);
  if (!client) return code;
  auto r = quiet ? client->QuietWorker(positional.front())
                 : client->UnquietWorker(positional.front());
  if (!r) return ReportError(ctx, r.error());
  if (ctx.global.json) {
    ctx.out << Dump(nlohmann::json{{"worker", r->id}, {"broker", r->broker}, {"quiet", r->quiet}})
            << '\n';
  } else {
    ctx.out << "worker " << r->id << ": " << (r->quiet ? "quiet" : "takes tasks again")
            << (r->broker.empty() ? "" : " (on broker " + r->broker + ")") << '\n';
  }
  return kExitOk;
}

}  // namespace taskmill::client::cli
