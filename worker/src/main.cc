// taskmill-worker: parses its configuration, registers the built-in handlers and runs a
// Worker until SIGTERM/SIGINT (or a broker DRAIN) has drained it.

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "taskmill/shared/flags.h"
#include "taskmill/shared/log.h"
#include "taskmill/shared/version.h"
#include "taskmill/worker/builtins.h"
#include "taskmill/worker/worker.h"

namespace {

constexpr const char* kProgram = "taskmill-worker";

int Usage(const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", kProgram, message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using taskmill::worker::WorkerOptions;
  WorkerOptions options;
  options.broker = taskmill::worker::kDefaultWorkerEndpoint;
  options.concurrency = std::max(1u, std::thread::hardware_concurrency());
  std::string log_level = "info";
  std::vector<std::string> labels;
  taskmill::worker::ExecOptions exec_options;
  std::string isolation = "directory";

  taskmill::FlagSet flags(kProgram, "Runs taskmill tasks (exec, echo, sleep, fail) for a broker.");
  bool version = false;
  flags.Bool("version", &version, "print the version and exit");
  // Workers and clients talk to different ports, so they read different variables: an
  // exported TASKMILL_BROKER (the client port) must not send a worker to the wrong one.
  flags.String("broker", &options.broker,
               "broker backend (worker) endpoint, or a comma-separated list of them (brokers "
               "sharing one Redis): moves to the next one when its broker is lost");
  flags.SetEnvName("broker", "TASKMILL_WORKER_BROKER");
  flags.List("queues", &options.queues, "queues to take tasks from (comma-separated)");
  flags.Uint32("concurrency", &options.concurrency, 1, 4096,
               "tasks run at once (1 = one after another)");
  flags.String("id", &options.id, "worker id (default: <host>-<pid>-<random>)");
  flags.Uint32("heartbeat-ms", &options.heartbeat_ms, 10, 600'000,
               "interval between heartbeats to the broker");
  flags.Uint32("liveness", &options.liveness, 1, 100,
               "silent heartbeat intervals before the broker is presumed dead");
  flags.Uint32("drain-timeout-ms", &options.drain_timeout_ms, 0, 86'400'000,
               "on SIGTERM, how long running tasks may take to finish");
  flags.Uint32("cancel-grace-ms", &options.cancel_grace_ms, 0, 3'600'000,
               "how long a handler may run on after its timeout or cancel before its attempt "
               "is reported and its slot counted lost");
  flags.Uint("max-output-bytes", &options.max_output_bytes, 1024, 1ull << 30,
             "largest result reported per task (output + stdout + stderr), as the broker's "
             "--max-output-bytes; a bigger one fails the attempt with output_too_large");
  flags.Uint32("processes", &options.processes, 0, 1024,
               "run handlers in N supervised child processes, one task at a time each (sets "
               "--concurrency to N); 0: in this process");
  flags.Uint("max-tasks-per-process", &options.max_tasks_per_process, 0, 1ull << 40,
             "with --processes: replace a child after N tasks (0: never)");
  flags.Uint("max-memory-per-process-mb", &options.max_memory_per_process_mb, 0, 1u << 20,
             "with --processes: replace a child whose RSS is over N MiB after a task (0: no "
             "cap)");
  flags.String("curve-server-key", &options.curve_server_key,
               "the broker's CURVE public key: its .pub file or 40-char Z85 text (needs "
               "--curve-key-file)");
  flags.String("curve-key-file", &options.curve_key_file,
               "this worker's CURVE key file (taskmill keygen); its .pub goes in the broker's "
               "--curve-allow-dir");
  flags.String("http", &options.http,
               "HOST:PORT of an HTTP listener for /healthz, /readyz and /metrics (port 0: a "
               "free port, logged); off: none");
  flags.Choice("isolation", &isolation, {"none", "directory", "branch", "full"},
               "exec's isolation level for payloads that name none: none (the worker's "
               "directory), directory (a fresh temp dir), branch (a git worktree), full "
               "(namespaces; checked at startup)");
  flags.Uint("limit-cpu-seconds", &exec_options.limits.cpu_seconds, 0, 1ull << 32,
             "exec's default CPU-time limit per process, seconds (0: none)");
  flags.Uint("limit-memory-mb", &exec_options.limits.memory_mb, 0, 1ull << 32,
             "exec's default address-space limit per process, MiB (0: none)");
  flags.Uint("limit-open-files", &exec_options.limits.open_files, 0, 1ull << 32,
             "exec's default open-file limit per process (0: none)");
  flags.Uint("limit-processes", &exec_options.limits.processes, 0, 1ull << 32,
             "exec's default limit on the task user's processes (0: none)");
  flags.String("artifacts-dir", &exec_options.artifacts_dir,
               "where exec keeps artifacts too big to travel in the result, as "
               "<dir>/<task id>/<attempt>/<name> (a volume clients can read; empty: inline only)");
  flags.Uint("artifacts-inline-bytes", &exec_options.artifacts_inline_bytes, 0, 1u << 20,
             "artifacts of one attempt up to this many bytes in all travel in the result");
  flags.Uint("max-artifacts", &exec_options.max_artifacts, 0, 256,
             "files one exec attempt may keep (more fails it: artifacts_too_large)");
  flags.Uint("max-artifact-bytes", &exec_options.max_artifact_bytes, 0, 1ull << 40,
             "bytes one exec attempt may keep in all (more fails it: artifacts_too_large)");
  flags.Uint("artifacts-retention-hours", &exec_options.artifacts_retention_hours, 0,
             24ull * 365 * 10,
             "task dirs in --artifacts-dir older than this are removed (set it to the broker's "
             "--retention-hours; 0: never)");
  flags.List("labels", &labels, "labels sent to the broker, key=value (comma-separated)");
  flags.Choice("log-level", &log_level,
               {"trace", "debug", "info", "warn", "error", "critical", "off"}, "log level");

  auto parsed = flags.Parse(argc, argv);
  if (!parsed) return Usage(parsed.error().message);
  if (parsed->help) {
    std::fputs(flags.Usage().c_str(), stdout);
    return 0;
  }
  if (version) {
    std::printf("%s %s\n", kProgram, taskmill::kVersionString);
    return 0;
  }
  if (!parsed->positional.empty()) {
    return Usage("unexpected argument '" + parsed->positional.front() + "' (see " + kProgram +
                 " --help)");
  }
  for (const auto& label : labels) {
    auto eq = label.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Usage("--labels: '" + label + "' is not key=value");
    }
    options.labels[label.substr(0, eq)] = label.substr(eq + 1);
  }
  if (auto r = taskmill::SetLogLevel(log_level); !r) {
    return Usage("--log-level: " + r.error().message);
  }

  taskmill::worker::Worker worker(options);
  if (auto v = taskmill::worker::ValidateOptions(worker.options()); !v) {
    return Usage("--" + v.error().message);
  }
  exec_options.isolation = *taskmill::worker::ParseIsolationLevel(isolation);
  if (!exec_options.artifacts_dir.empty()) {
    // Artifact URIs are absolute file:// paths; the dir must exist before the first task.
    std::error_code ec;
    auto dir = std::filesystem::absolute(exec_options.artifacts_dir, ec);
    if (!ec) std::filesystem::create_directories(dir, ec);
    if (ec) return Usage("--artifacts-dir " + exec_options.artifacts_dir + ": " + ec.message());
    exec_options.artifacts_dir = dir.lexically_normal().string();
  }
  // A default the host cannot give is a startup error, not a surprise per task.
  if (auto ok = taskmill::worker::CheckIsolationAvailable(exec_options.isolation); !ok) {
    return Usage("--isolation " + isolation + ": " + ok.error().message);
  }
  taskmill::worker::RegisterBuiltins(worker, exec_options);

  // SIGTERM/SIGINT arrive on a signalfd that the I/O thread polls. They are blocked before
  // any thread starts, so every thread inherits the mask and none takes them directly.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    std::perror("taskmill-worker: signalfd");
    return 1;
  }

  auto log = taskmill::Logger("worker");
  log->info("taskmill-worker {} starting: broker {}", taskmill::kVersionString, options.broker);
  const char* client_broker = std::getenv("TASKMILL_BROKER");
  const char* worker_broker = std::getenv("TASKMILL_WORKER_BROKER");
  if (client_broker != nullptr && *client_broker != '\0' &&
      (worker_broker == nullptr || *worker_broker == '\0')) {
    log->warn("TASKMILL_BROKER ({}) is the clients' endpoint and is not read by workers; set "
              "TASKMILL_WORKER_BROKER or --broker to the broker's worker port (default 5556)",
              client_broker);
  }
  auto ran = worker.Run(sfd);
  close(sfd);
  if (!ran) {
    std::fprintf(stderr, "%s: %s\n", kProgram, ran.error().ToString().c_str());
    return 1;
  }
  return 0;
}
