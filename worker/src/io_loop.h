#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <zmq.hpp>

#include "executor_pool.h"
#include "taskmill/shared/clock.h"
#include "taskmill/shared/curve_keys.h"
#include "taskmill/shared/endpoints.h"
#include "taskmill/shared/error.h"
#include "taskmill/shared/log.h"
#include "taskmill/shared/protocol/messages.h"
#include "taskmill/worker/worker.h"
#include "worker_telemetry.h"
#include "zmq_socket.h"

namespace taskmill::worker {

// The worker's I/O thread: owns the DEALER to the broker (Paranoid Pirate: heartbeats,
// liveness, reconnect with backoff, READY on every link), the inproc PULL the executors
// report to, the table of running attempts, and the drain. Nothing in it blocks except
// zmq_poll, whose timeout is the time to the next timer.
// Lifecycle: built and run by Worker::Run on the calling thread; Run returns once BYE
// has been handed to the socket (or the link is down) and the executors have stopped.
class IoLoop {
 public:
  IoLoop(const WorkerOptions& options, const std::map<std::string, HandlerEntry>& handlers,
         int wake_fd, int shutdown_fd, const std::atomic<uint32_t>& drain_grace_ms,
         WorkerTelemetry* telemetry = nullptr, PoolZygote* zygote = nullptr);
  ~IoLoop();

  Result<void> Run();

 private:
  enum class LinkState {
    kLinked,   // the DEALER exists and READY has been queued on it
    kBackoff,  // the DEALER is closed; a new one opens at reconnect_at_ms_
  };
  // A message waiting for the link: READY, DONE or BYE (never dropped while linked).
  struct Outgoing {
    Parts frames;           // version, command, body
    bool is_ready = false;  // true iff this is a READY (replaced on every new link)
    std::string task_id;    // a DONE's task: still held until the DONE is sent
  };
  // One attempt an executor is running.
  struct Running {
    std::string task_id;
    uint64_t token = 0;
    std::shared_ptr<CancelSignal> cancel;  // co-owned with the executor's Job
    int64_t deadline_ms = 0;               // monotonic; 0 = no timeout
    int64_t stopped_ms = 0;                // monotonic ms its cancel signal fired; 0 = not yet
    std::string type;                      // the task type, for log lines
    int64_t started_ms = 0;                // monotonic; when handed to an executor
  };

  // link (io_link.cc)
  Result<void> OpenLink();
  void CloseLink(int linger_ms);
  // Reads the DEALER's monitor: a refused CURVE handshake is never retried by libzmq, so
  // it ends the link at once (with a log line saying why) instead of waiting for silence.
  void OnLinkMonitor(int64_t now);
  // Closes the link and schedules the next one, to the next endpoint of the list: at once,
  // or after the reconnect backoff once a whole cycle of endpoints failed (always, with a
  // single endpoint). The DONEs sent on the closed link lately go out again on the next one
  // (a DONE the broker already recorded is refused by its token: harmless); `why` is logged.
  void Backoff(int64_t now, const std::string& why);
  void QueueReliable(const protocol::Message& msg);
  void QueueReliableFrames(Parts frames, std::string task_id = {});
  void SendBestEffort(const protocol::Message& msg);
  void SendBestEffortFrames(std::span<const std::string> frames);
  void Flush();
  void FinalFlush();

  // events (io_loop.cc)
  void OnBrokerMessages(int64_t now);
  void OnBrokerMessage(protocol::Message msg, int64_t now);
  void OnTask(protocol::TaskMsg task, int64_t now);
  // Runs a quick handler's attempt here, on the I/O thread, and queues its DONE.
  void RunQuick(protocol::TaskMsg task, const Handler& handler);
  void OnCancel(const protocol::CancelTask& cancel);
  void OnResults();
  void OnTimers(int64_t now);
  // Reports the attempts whose handler outlived cancel_grace_ms after its signal, and moves
  // them from running_ to lost_.
  void ReportOverdue(int64_t now);
  // Fires `r`'s cancel signal for `reason` (once) and starts its grace period.
  void Stop(Running& r, CancelReason reason, int64_t now);
  void StartDrain(uint32_t grace_ms, int64_t now);
  void FailTask(const protocol::TaskMsg& task, std::string code, std::string message,
                bool retryable);
  long PollTimeout(int64_t now) const;
  uint32_t FreeSlots() const;
  // How long after its stop signal an attempt is reported without its handler: the grace,
  // plus, with pool processes (which kill the handler at the grace's end and report it
  // themselves), a margin so their report comes first.
  int64_t OverdueMs() const;
  int64_t SilenceLimitMs() const;

  const WorkerOptions& options_;
  const std::map<std::string, HandlerEntry>& handlers_;
  const int wake_fd_;                            // eventfd written by Worker::Drain
  const int shutdown_fd_;                        // signalfd/self-pipe, or -1
  const std::atomic<uint32_t>& drain_grace_ms_;  // grace of the latest Drain()
  WorkerTelemetry* telemetry_;                   // --http's figures; null when off
  PoolZygote* zygote_;                           // --processes' fork server; null when off
  const Clock& clock_ = SystemClock::Instance();
  std::shared_ptr<spdlog::logger> log_;          // co-owned with spdlog's registry
  std::mt19937_64 rng_{std::random_device{}()};  // reconnect jitter

  zmq::context_t context_;     // declared before the sockets and the pool: outlives them
  ZmqSocket dealer_;           // open iff link_ == kLinked
  ZmqSocket monitor_;          // PAIR with the dealer's handshake failures; open iff linked
  uint64_t links_opened_ = 0;  // names each link's monitor endpoint
  ZmqSocket results_;          // inproc PULL from the executors
  std::unique_ptr<ExecutorPool> pool_;

  std::optional<CurveClientKeys> curve_;  // loaded by Run; set on every new DEALER

  LinkState link_ = LinkState::kBackoff;
  std::deque<Outgoing> outbox_;    // reliable messages not yet accepted by the socket
  // DONEs accepted by the socket within the last silence limit, with the monotonic ms they
  // left: a broker lost meanwhile (kill -9, SIGTERM) may never have read them, so they are
  // sent again on the next link. Bounded like the outbox.
  std::deque<std::pair<int64_t, Outgoing>> recent_dones_;
  std::optional<EndpointRing> ring_;  // --broker's endpoints; built by Run
  int64_t last_broker_ms_ = 0;     // monotonic ms of the last traffic from the broker
  int64_t next_heartbeat_ms_ = 0;  // monotonic ms of the next HEARTBEAT
  int64_t reconnect_at_ms_ = 0;    // when kBackoff: monotonic ms to open a new link
  uint32_t dead_links_ = 0;        // consecutive links that went silent (backoff step)
  bool heard_on_link_ = false;     // true iff the broker spoke on the current link
  bool warned_wrong_port_ = false;  // true iff this link got a client REPLY (wrong port)

  std::map<std::string, Running> running_;  // by "task_id#token"
  // Attempts already reported because their handler ignored its cancel signal past
  // cancel_grace_ms; each holds an executor thread (a lost slot) until its handler returns.
  std::map<std::string, Running> lost_;  // by "task_id#token"
  bool draining_ = false;                   // true iff a drain has started
  int64_t drain_deadline_ms_ = 0;           // monotonic; when draining_
  int shutdown_signals_ = 0;                // times shutdown_fd_ fired
  bool finished_ = false;                   // true iff BYE is queued and Run should end
};

}  // namespace taskmill::worker
