// `taskmill queue limit QUEUE ...`: a queue's limits and fairness (LIMIT).

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
    "       taskmill queue limit QUEUE --clear\n";

}  // namespace

int RunQueue(Context& ctx, const Args& args) {
  if (args.size() < 2 || args[1] == "--help" || args[1] == "-h") {
    bool help = args.size() >= 2;
    (help ? ctx.out : ctx.err) << kQueueUsage;
    return help ? kExitOk : UsageError(ctx, "queue: give limit");
  }
  if (args[1] != "limit") {
    return UsageError(ctx, "queue: unknown operation '" + args[1] + "' (give limit)");
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

}  // namespace taskmill::client::cli
