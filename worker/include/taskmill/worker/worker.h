#pragma once

// The worker runtime: connects to a broker, announces its handlers, runs tasks on a fixed
// number of executor slots and reports their outcomes (issue 4, docs/architecture.md).

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "taskmill/shared/backoff.h"
#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/types.h"
#include "taskmill/worker/handler.h"

namespace taskmill::worker {

// Everything a worker needs to run; one per Worker, validated by ValidateOptions.
// The broker's worker (backend) port, when neither WorkerOptions::broker nor
// TASKMILL_WORKER_BROKER names one.
inline constexpr const char* kDefaultWorkerEndpoint = "tcp://127.0.0.1:5556";

struct WorkerOptions {
  // Broker backend endpoint (ZeroMQ syntax: tcp://host:port, ipc://path), or a
  // comma-separated list of the worker ports of brokers sharing one Redis: the worker starts
  // at a random one and, when it is lost or says MOVE, moves to the next, keeping its
  // running tasks and their DONEs (READY lists them; docs/protocol-conversations.md 9.3). Empty: the
  // environment's TASKMILL_WORKER_BROKER, else kDefaultWorkerEndpoint (as the Python and
  // Node workers). TASKMILL_BROKER is the clients' port and is never read by a worker.
  std::string broker = {};
  // Queues to take tasks from; names match [A-Za-z0-9_.-]{1,128}.
  std::vector<std::string> queues = {protocol::kDefaultQueue};
  // Executor slots: 1 runs tasks one after another, N runs up to N at once. 0 = cores.
  uint32_t concurrency = 0;
  // Worker id, also the socket's routing id; empty: "<host>-<pid>-<random>".
  std::string id;
  // Interval between HEARTBEATs to the broker.
  uint32_t heartbeat_ms = 1000;
  // Heartbeat intervals without any traffic from the broker before it is presumed dead
  // and the worker reconnects.
  uint32_t liveness = 3;
  // On SIGTERM (or Drain()), how long running tasks may take before they are reported as
  // retryable failures.
  uint32_t drain_timeout_ms = 30000;
  // How long a handler may keep running after its cancel or timeout signal. Past it the
  // attempt is reported (timeout / cancelled) without waiting, its slot is counted lost
  // (not offered to the broker) until the handler returns, and a warning says so.
  uint32_t cancel_grace_ms = 5000;
  // Process pool (docs/architecture.md, "Process pool"): 0 runs handlers on the worker's
  // executor threads (in this process); N > 0 runs them in N long-lived child processes,
  // one attempt at a time each, which the worker starts, watches and replaces. A child
  // that dies fails its attempt as retryable (handler_crashed); one that ignores a timeout
  // or cancel for cancel_grace_ms is killed. N also sets `concurrency` to N.
  uint32_t processes = 0;
  // With processes: a child is replaced after this many attempts; 0 = never.
  uint64_t max_tasks_per_process = 0;
  // With processes: a child whose RSS is over this many MiB after an attempt is replaced;
  // 0 = no cap.
  uint64_t max_memory_per_process_mb = 0;
  // Free-form labels sent in READY (e.g. gpu=a100, zone=eu-1).
  protocol::Labels labels;
  // Delay between reconnect attempts after the broker is presumed dead.
  BackoffPolicy reconnect = {.base_ms = 250, .max_ms = 10000, .multiplier = 2.0, .jitter = true};
  // How long BYE and final DONEs may wait to be sent on exit.
  uint32_t linger_ms = 1000;
  // Largest result sent in one DONE (output + stdout + stderr), as the broker's
  // --max-output-bytes. A bigger one is reported as a failed attempt (output_too_large, not
  // retryable) instead: sent whole it would pass the broker's frame cap and be lost.
  uint64_t max_output_bytes = 8u << 20;
  // CURVE (docs/security.md), both or neither; empty: off. The broker's public key (a
  // .pub file or 40-character Z85 text), and this worker's own key file from
  // `taskmill keygen`, whose .pub must be in the broker's --curve-allow-dir.
  std::string curve_server_key = {};
  std::string curve_key_file = {};
  // HTTP listener for /healthz, /readyz and /metrics (docs/observability.md): HOST:PORT,
  // [IPv6]:PORT (port 0: a free port, logged), or "off".
  std::string http = "off";
};

// Checks every field; the error message names the option and what is allowed. An empty
// broker is valid (the Worker fills it in from TASKMILL_WORKER_BROKER or the default).
Result<void> ValidateOptions(const WorkerOptions& options);

// One worker process's runtime. Register handlers, then Run, which blocks: the calling
// thread becomes the I/O thread (it owns the DEALER socket, heartbeats and reconnects),
// and `concurrency` executor threads run handlers and report back over an inproc socket,
// so a slow handler never delays a heartbeat.
// Lifecycle: construct, Handle()..., Run() once; Run returns after a drain (SIGTERM on
// shutdown_fd, Drain(), or a broker DRAIN) has reported every task and said BYE.
// Owner: whoever wires the process (main, or a test); not copyable or movable.
class Worker {
 public:
  explicit Worker(WorkerOptions options);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Registers `handler` for tasks of `type`, replacing an earlier one. Call before Run.
  void Handle(std::string type, Handler handler, HandlerOptions options = {});
  // The registered task types, sorted (what READY announces).
  std::vector<std::string> types() const;

  // Connects and serves until drained. `shutdown_fd` (a signalfd or a self-pipe, or -1):
  // when it turns readable Run reads it and drains with drain_timeout_ms; a second time,
  // it drains with no grace. Errors: invalid options, or a socket that cannot be set up.
  Result<void> Run(int shutdown_fd = -1);

  // Asks Run to drain: take no new tasks, let running ones finish within `grace_ms`,
  // report the rest as retryable failures, say BYE and return. Thread-safe and
  // async-signal-safe; may be called before Run (Run then drains at once).
  void Drain(uint32_t grace_ms);

  const std::string& id() const { return options_.id; }
  const WorkerOptions& options() const { return options_; }
  // The bound --http address ("127.0.0.1:40123"), once Run has started it; empty before
  // or when off. Thread-safe.
  std::string http_address() const;

 private:
  WorkerOptions options_;                         // with id and concurrency filled in
  std::map<std::string, HandlerEntry> handlers_;  // by task type; frozen once Run starts
  int wake_fd_ = -1;                              // eventfd the I/O thread polls; Drain writes it
  std::atomic<uint32_t> drain_grace_ms_{0};       // grace of the latest Drain request
  std::atomic<bool> running_{false};              // true iff Run has been entered
  mutable std::mutex http_mu_;
  std::string http_address_;  // guarded by http_mu_
};

}  // namespace taskmill::worker
