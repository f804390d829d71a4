// The top level of `taskmill`: global flags, command dispatch, and the helpers every
// command group shares (flag parsing, error reporting, exit codes).

#include <ostream>

#include "cli/cli.h"
#include "cli/json_convert.h"
#include "taskmill/shared/version.h"

namespace taskmill::client::cli {
namespace {

constexpr const char* kUsage =
    R"(usage: taskmill [--broker URL] [--json] [--timeout-ms N] COMMAND [ARGS]
       taskmill --version

Submit and inspect taskmill tasks and batches.

commands:
  submit --type T [--payload S | --payload-file F] [spec flags] [--wait]
                              submit one task; print its id (or, with --wait, its result)
  get ID...                   show tasks
  wait ID... [--wait-timeout-ms N]
                              wait until the tasks finish; exit 1 unless all succeeded
  cancel ID... | --batch ID [--reason R]
                              cancel tasks, or the unfinished rest of a batch
  batch run|submit FILE [--follow] [--id ID] [--on-failure POLICY]
                              submit a batch file (JSON); --follow shows progress until it
                              ends; --on-failure: cancel_dependents (default), continue or
                              fail_fast
  batch status ID             show a batch
  batch watch ID              follow a batch (submitted earlier, by anyone) until it ends
  batch list [--state S] [--limit N] [--cursor C]
                              batches by creation, a page at a time
  batch append ID FILE [--follow]
                              add a file's tasks to a running batch (names new to it;
                              depends_on may name its tasks)
  list --queue Q --state STATE [--type T] [--limit N] [--cursor C]
                              a queue's tasks in one state (queued, delayed, blocked,
                              running, awaiting, succeeded, failed, cancelled, expired),
                              a page at a time; prints the command for the next page
  task priority ID N | task promote ID
                              change a waiting task's priority (0-255); run a delayed
                              task now
  stats [--queue Q]... [--watch [--interval-ms N] [--count N]]
                              queue depths and counters, connected workers; --watch
                              refreshes until Ctrl-C
  dlq list [--queue Q] [--limit N]
  dlq retry|purge [--queue Q] (ID... | --all)
                              dead letters: list, send back to their queue, or delete
  queue limit QUEUE [--rate N/s] [--concurrency N] [--cost-rate NAME=AMOUNT/h]
        [--key-label LABEL] [--aging 30s] [--round-robin] | --clear
                              a queue's limits and fairness, enforced at claim time
  queue pause|resume QUEUE    stop (or start again) leasing a queue's tasks, on every
                              broker; its tasks stay queued and submits still work
  worker quiet|unquiet ID     a worker (on any broker) finishes its tasks and takes nothing
                              new, or takes tasks again
  schedule add NAME (--cron EXPR [--tz ZONE] | --every 30s) --type T [task flags]
           [--catch-up skip|once]
  schedule list | pause NAME | resume NAME | remove NAME
                              periodic tasks: one task per tick across all brokers
  artifacts ID [--out DIR] [--artifacts-root DIR]
                              list a task's artifacts; --out writes them to DIR (checked
                              names, verified sha256); --artifacts-root: where this host
                              mounts the workers' --artifacts-dir
  complete ID --token T [--output X | --output-file F] [--cost NAME=AMOUNT]...
           [--fail CODE --message M [--retryable]]
                              complete a task awaiting an outside system (its handler
                              returned awaiting and gave out the token T)
  keygen NAME [--dir DIR] [--force]
                              write a CURVE key pair DIR/NAME.key (secret) and DIR/NAME.pub

global flags (before the command; --json and --broker may also follow it):
  --broker URL      broker frontend endpoint (default tcp://127.0.0.1:5555), or a comma-separated
                    list of brokers sharing one Redis (moves on when one is lost) [env TASKMILL_BROKER]
  --json            print one JSON document on stdout instead of tables [env TASKMILL_JSON]
  --timeout-ms N    deadline of each request to the broker (default 10000) [env TASKMILL_TIMEOUT_MS]
  --curve-server-key FILE_OR_Z85
                    the broker's CURVE public key (its .pub file or 40-char Z85 text);
                    needs --curve-key-file [env TASKMILL_CURVE_SERVER_KEY]
  --curve-key-file FILE
                    this client's CURVE key file from `taskmill keygen`
                    [env TASKMILL_CURVE_KEY_FILE]
  --curve-admin-key-file FILE
                    the key file the dlq, queue, worker and schedule commands use
                    instead: with CURVE roles they need an admin key
                    [env TASKMILL_CURVE_ADMIN_KEY_FILE]

flags of batch run, queue limit, schedule, complete, list and submit (`taskmill COMMAND --help` explains each):
  --on-failure POLICY        when a batch task dies: cancel_dependents, continue or fail_fast
  --rate N/s|N/m|N/h         tasks started per second, minute or hour
  --concurrency N            tasks running at once
  --cost-rate NAME=AMOUNT/h  spend over the sliding window
  --key-label LABEL          limits per value of this task label
  --aging 30s                a waiting task gains one priority step per period
  --round-robin              with --key-label: its values take turns
  --clear                    remove the queue's limits
  --cron EXPR                a 5-field cron schedule
  --tz ZONE                  the cron's time zone (default UTC)
  --every 30s                a fixed-interval schedule
  --token T                  the completion token the task's handler gave out
  --output X                 the task's output
  --cost NAME=AMOUNT         a cost of the task (repeatable)
  --fail CODE                record the attempt as failed
  --message M                with --fail: the error message
  --retryable                with --fail: retry by the task's policy
  --queue Q                  list: the queue
  --state STATE              list: the tasks' state; batch list: the batches' state
  --type T                   list: only tasks of this type
  --limit N                  list, batch list: entries per page (1-1000, default 50)
  --cursor C                 list, batch list: the page after the one that printed C
  --delay 10s                submit: run no sooner than this after the broker stores it
  --expires-in 30s           submit: not started by then, it ends expired and never runs
  --idempotency-ttl 1h       submit: how long --idempotency-key dedupes (default: broker's)

`taskmill COMMAND --help` lists a command's flags. The batch file format and the JSON
output are described in client/README.md.

exit codes: 0 success, 1 a task or batch failed (or the operation did, or the broker
refused this client's CURVE key or its role), 2 usage error (bad flag, argument or batch file),
3 broker unreachable (or no reply in time).
)";

}  // namespace

void AddCommonFlags(FlagSet& flags, GlobalOptions& global) {
  flags.Bool("json", &global.json, "print one JSON document on stdout");
  flags.String("broker", &global.broker, "broker frontend endpoint");
}

std::optional<int> ParseFlags(Context& ctx, const FlagSet& flags, const Args& args,
                              std::vector<std::string>* positional) {
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  // A command's flags never come from the environment (nor does its --help say so):
  // TASKMILL_TIMEOUT_MS is the global request timeout, not `submit --timeout-ms`.
  FlagSet local = flags;
  local.ReadEnvironment(false);
  auto parsed = local.Parse(static_cast<int>(argv.size()), argv.data());
  if (!parsed) return UsageError(ctx, parsed.error().message);
  if (parsed->help) {
    ctx.out << local.Usage();
    return kExitOk;
  }
  if (positional != nullptr) {
    *positional = std::move(parsed->positional);
  } else if (!parsed->positional.empty()) {
    return UsageError(ctx, "unexpected argument '" + parsed->positional.front() +
                               "' (see taskmill " + args.front() + " --help)");
  }
  return std::nullopt;
}

int UsageError(Context& ctx, const std::string& message) {
  ctx.err << "taskmill: " << message << '\n';
  return kExitUsage;
}

int ExitCodeFor(const Error& error) {
  switch (error.code) {
    case ErrorCode::kBrokerUnavailable:
    case ErrorCode::kTimeout:
      return kExitUnreachable;
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kCycle:
      return kExitUsage;
    default:
      return kExitFailed;
  }
}

int ReportError(Context& ctx, const Error& error) {
  ctx.err << "taskmill: " << error.ToString() << '\n';
  if (error.code == ErrorCode::kQueueFull) {
    ctx.err << "taskmill: nothing was submitted; the broker caps waiting tasks per queue "
               "(--max-queue-depth): submit again once workers have drained the queue\n";
  }
  if (error.code == ErrorCode::kStoreFull) {
    ctx.err << "taskmill: nothing was stored; the broker's Redis is at its maxmemory: try "
               "again once memory is freed\n";
  }
  if (ctx.global.json) ctx.out << Dump(nlohmann::json{{"error", ToJson(error)}}) << '\n';
  return ExitCodeFor(error);
}

std::unique_ptr<Client> ConnectClient(Context& ctx, int* exit_code, bool admin) {
  ClientOptions options;
  options.endpoint = ctx.global.broker;
  options.request_timeout_ms = ctx.global.timeout_ms;
  options.curve_server_key = ctx.global.curve_server_key;
  options.curve_key_file = admin && !ctx.global.curve_admin_key_file.empty()
                               ? ctx.global.curve_admin_key_file
                               : ctx.global.curve_key_file;
  auto client = Client::Connect(options);
  if (!client) {
    const std::string& message = client.error().message;
    if (client.error().code != ErrorCode::kInvalidArgument) {
      *exit_code = ReportError(ctx, client.error());
    } else if (message.starts_with("curve-")) {  // names its flag already
      *exit_code = UsageError(ctx, "--" + message);
    } else {
      *exit_code = UsageError(ctx, "--broker: " + message);
    }
    return nullptr;
  }
  return std::move(*client);
}

int RunCli(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err, bool tty,
           const std::function<std::string(const std::string&)>& env) {
  Context ctx{GlobalOptions{}, out, err, tty};
  FlagSet flags("taskmill", "Submit and inspect taskmill tasks and batches.");
  AddCommonFlags(flags, ctx.global);
  flags.Uint32("timeout-ms", &ctx.global.timeout_ms, 1, 3'600'000,
               "deadline of each request to the broker");
  flags.String("curve-server-key", &ctx.global.curve_server_key,
               "the broker's CURVE public key: its .pub file or 40-char Z85 text");
  flags.String("curve-key-file", &ctx.global.curve_key_file,
               "this client's CURVE key file (taskmill keygen)");
  flags.String("curve-admin-key-file", &ctx.global.curve_admin_key_file,
               "the CURVE key file the dlq, queue, worker and schedule commands use (an admin "
               "key; default: --curve-key-file)");
  bool version = false;
  flags.Bool("version", &version, "print the version and exit");
  flags.StopAtPositional(true);
  std::vector<const char*> raw;
  for (const auto& a : argv) raw.push_back(a.c_str());
  auto parsed = flags.Parse(static_cast<int>(raw.size()), raw.data(), env);
  if (!parsed) return UsageError(ctx, parsed.error().message);
  if (version) {
    out << "taskmill " << kVersionString << '\n';
    return kExitOk;
  }
  if (parsed->help && parsed->positional.empty()) {
    out << kUsage;
    return kExitOk;
  }
  if (parsed->positional.empty()) {
    err << kUsage;
    return UsageError(ctx, "no command given");
  }
  Args args = parsed->positional;
  if (parsed->help) args.push_back("--help");  // `taskmill --help submit`
  const std::string& command = args.front();
  if (command == "submit") return RunSubmit(ctx, args);
  if (command == "get") return RunGet(ctx, args);
  if (command == "wait") return RunWait(ctx, args);
  if (command == "cancel") return RunCancel(ctx, args);
  if (command == "batch") return RunBatch(ctx, args);
  if (command == "stats") return RunStats(ctx, args);
  if (command == "dlq") return RunDlq(ctx, args);
  if (command == "queue") return RunQueue(ctx, args);
  if (command == "worker") return RunWorker(ctx, args);
  if (command == "keygen") return RunKeygen(ctx, args);
  if (command == "artifacts") return RunArtifacts(ctx, args);
  if (command == "complete") return RunComplete(ctx, args);
  if (command == "schedule") return RunSchedule(ctx, args);
  if (command == "list") return RunList(ctx, args);
  if (command == "task") return RunTask(ctx, args);
  if (command == "help") {
    out << kUsage;
    return kExitOk;
  }
  return UsageError(ctx, "unknown command '" + command + "' (see taskmill --help)");
}

}  // namespace taskmill::client::cli
