#include "io_loop.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <limits>

#include "pool_slot.h"
#include "taskmill/shared/protocol/codec.h"

namespace taskmill::worker {
namespace {

constexpr const char* kResultsEndpoint = "inproc://taskmill-worker-results";
// Messages read from one socket per loop turn, so timers run even under a flood.
constexpr int kMaxReadsPerTurn = 256;

std::string RunningKey(const std::string& task_id, uint64_t token) {
  return task_id + "#" + std::to_string(token);
}

// Empties an eventfd, signalfd or pipe whose readiness is the whole message.
void Consume(int fd) {
  char buf[256];  // >= sizeof(signalfd_siginfo)
  [[maybe_unused]] ssize_t n = read(fd, buf, sizeof buf);
}

}  // namespace

IoLoop::IoLoop(const WorkerOptions& options, const std::map<std::string, HandlerEntry>& handlers,
               int wake_fd, int shutdown_fd, const std::atomic<uint32_t>& drain_grace_ms,
               WorkerTelemetry* telemetry, PoolZygote* zygote)
    : options_(options),
      handlers_(handlers),
      wake_fd_(wake_fd),
      shutdown_fd_(shutdown_fd),
      drain_grace_ms_(drain_grace_ms),
      telemetry_(telemetry),
      zygote_(zygote),
      log_(Logger("worker.io")) {}

IoLoop::~IoLoop() {
  // Sockets go before the context (whose destructor waits for them).
  if (pool_) pool_->Stop();
  dealer_.Close(0);
  monitor_.Close(0);
  results_.Close(0);
}

Result<void> IoLoop::Run() {
  auto curve = LoadCurveClientKeys(options_.curve_server_key, options_.curve_key_file);
  if (!curve) return std::unexpected(curve.error());
  curve_ = std::move(*curve);
  auto results = ZmqSocket::Open(context_, zmq::socket_type::pull, "results");
  if (!results) return std::unexpected(results.error());
  results_ = std::move(*results);
  if (auto r = results_.Bind(kResultsEndpoint); !r) return r;
  auto ring = EndpointRing::Parse(options_.broker);
  if (!ring) return std::unexpected(ring.error());
  ring_.emplace(std::move(*ring));
  PoolLimits limits;
  limits.max_tasks = options_.max_tasks_per_process;
  limits.max_rss_bytes = options_.max_memory_per_process_mb << 20;
  limits.kill_grace_ms = options_.cancel_grace_ms;
  limits.max_output_bytes = options_.max_output_bytes;
  pool_ = std::make_unique<ExecutorPool>(context_, kResultsEndpoint, options_.concurrency,
                                         options_.max_output_bytes, zygote_, limits);
  if (auto r = OpenLink(); !r) return r;
  std::string types;
  for (const auto& [type, handler] : handlers_) types += (types.empty() ? "" : ",") + type;
  std::string queues;
  for (const auto& q : options_.queues) queues += (queues.empty() ? "" : ",") + q;
  log_->info("worker {} up: queues [{}], {} slots{}, types [{}]", options_.id, queues,
             options_.concurrency, zygote_ != nullptr ? " (pool processes)" : "", types);

  while (!finished_) {
    int64_t now = clock_.MonotonicMs();
    std::array<zmq_pollitem_t, 5> items{};
    size_t n = 0;
    items[n++] = {results_.handle(), 0, ZMQ_POLLIN, 0};
    items[n++] = {nullptr, wake_fd_, ZMQ_POLLIN, 0};
    size_t shutdown_at = n;
    if (shutdown_fd_ >= 0) items[n++] = {nullptr, shutdown_fd_, ZMQ_POLLIN, 0};
    size_t dealer_at = n;
    if (link_ == LinkState::kLinked) {
      short events = ZMQ_POLLIN;
      if (!outbox_.empty()) events |= ZMQ_POLLOUT;
      items[n++] = {dealer_.handle(), 0, events, 0};
      items[n++] = {monitor_.handle(), 0, ZMQ_POLLIN, 0};
    }
    auto polled = Poll({items.data(), n}, PollTimeout(now));
    if (!polled) return std::unexpected(polled.error());
    now = clock_.MonotonicMs();

    if (items[0].revents & ZMQ_POLLIN) OnResults();
    if (items[1].revents & ZMQ_POLLIN) {
      Consume(wake_fd_);
      StartDrain(drain_grace_ms_.load(), now);
    }
    if (shutdown_fd_ >= 0 && (items[shutdown_at].revents & ZMQ_POLLIN)) {
      Consume(shutdown_fd_);
      ++shutdown_signals_;
      // A second signal means "now": whatever still runs is reported and we leave.
      StartDrain(shutdown_signals_ == 1 ? options_.drain_timeout_ms : 0, now);
    }
    if (dealer_at < n && link_ == LinkState::kLinked && (items[dealer_at].revents & ZMQ_POLLIN)) {
      OnBrokerMessages(now);
    }
    if (dealer_at + 1 < n && link_ == LinkState::kLinked &&
        (items[dealer_at + 1].revents & ZMQ_POLLIN)) {
      OnLinkMonitor(now);
    }
    OnTimers(clock_.MonotonicMs());
    Flush();
    if (telemetry_ != nullptr) {
      uint32_t busy = static_cast<uint32_t>(running_.size());
      telemetry_->EndTurn(clock_.MonotonicMs(), busy,
                          busy >= options_.concurrency ? 0 : options_.concurrency - busy,
                          link_ == LinkState::kLinked && heard_on_link_, draining_);
    }
  }

  FinalFlush();
  pool_->Stop();
  results_.Close(0);
  log_->info("worker {} stopped", options_.id);
  return {};
}

long IoLoop::PollTimeout(int64_t now) const {
  int64_t next = next_heartbeat_ms_;
  if (link_ == LinkState::kLinked) {
    next = std::min(next, last_broker_ms_ + SilenceLimitMs());
  } else {
    next = std::min(next, reconnect_at_ms_);
  }
  if (draining_) next = std::min(next, drain_deadline_ms_);
  for (const auto& [key, r] : running_) {
    if (r.deadline_ms > 0 && !r.cancel->cancelled()) next = std::min(next, r.deadline_ms);
    if (r.stopped_ms > 0) next = std::min(next, r.stopped_ms + OverdueMs());
  }
  return static_cast<long>(std::clamp<int64_t>(next - now, 0, 60'000));
}

uint32_t IoLoop::FreeSlots() const {
  size_t busy = running_.size() + lost_.size();
  if (draining_ || busy >= options_.concurrency) return 0;
  return options_.concurrency - static_cast<uint32_t>(busy);
}

int64_t IoLoop::OverdueMs() const {
  return static_cast<int64_t>(options_.cancel_grace_ms) + (zygote_ != nullptr ? 2000 : 0);
}

int64_t IoLoop::SilenceLimitMs() const {
  return static_cast<int64_t>(options_.heartbeat_ms) * options_.liveness;
}

void IoLoop::OnBrokerMessages(int64_t now) {
  for (int i = 0; i < kMaxReadsPerTurn && link_ == LinkState::kLinked; ++i) {
    auto got = dealer_.Recv(/*dontwait=*/true, /*max_parts=*/3);
    if (!got) {
      log_->debug("dropped a message from the broker: {}", got.error().message);
      last_broker_ms_ = now;
      continue;
    }
    if (!*got) return;
    // Any traffic, even a message we cannot read, shows the broker is alive.
    last_broker_ms_ = now;
    heard_on_link_ = true;
    dead_links_ = 0;
    ring_->Answered();
    const Parts& parts = **got;
    std::array<std::string_view, 3> views;
    for (size_t k = 0; k < parts.size(); ++k) views[k] = parts[k];
    auto msg = protocol::Decode(std::span(views.data(), parts.size()));
    if (!msg) {
      log_->debug("dropped a bad message from the broker: {}", msg.error().ToString());
      continue;
    }
    OnBrokerMessage(std::move(*msg), now);
  }
}

void IoLoop::OnBrokerMessage(protocol::Message msg, int64_t now) {
  if (auto* task = std::get_if<protocol::TaskMsg>(&msg)) {
    OnTask(std::move(*task), now);
  } else if (auto* cancel = std::get_if<protocol::CancelTask>(&msg)) {
    OnCancel(*cancel);
  } else if (auto* move = std::get_if<protocol::Move>(&msg)) {
    // The broker is leaving: tasks keep running, DONEs are kept; READY on the next link
    // lists them, so the next broker re-attaches their leases.
    Backoff(now, "the broker said MOVE" + (move->reason.empty() ? "" : " (" + move->reason + ")"));
  } else if (auto* drain = std::get_if<protocol::Drain>(&msg)) {
    log_->info("broker asked to drain (grace {} ms)", drain->grace_ms);
    StartDrain(drain->grace_ms, now);
  } else if (auto* reply = std::get_if<protocol::Reply>(&msg)) {
    // Only a broker's client port answers with REPLY: it refuses READY and HEARTBEAT.
    if (!warned_wrong_port_) {
      warned_wrong_port_ = true;
      log_->warn("{} answered as a broker's client port ({}); a worker must connect to the "
                 "broker's worker port (default 5556; --broker or TASKMILL_WORKER_BROKER)",
                 ring_->current(), reply->error ? reply->error->message : "a client reply");
    }
  } else if (!std::holds_alternative<protocol::BrokerHeartbeat>(msg)) {
    log_->debug("ignored {} from the broker", protocol::CommandName(protocol::CommandOf(msg)));
  }
}

void IoLoop::FailTask(const protocol::TaskMsg& task, std::string code, std::string message,
                      bool retryable) {
  protocol::Done done;
  done.task_id = task.task_id;
  done.token = task.token;
  done.ok = false;
  done.error = protocol::TaskError{std::move(code), std::move(message), retryable};
  done.started_ms = clock_.NowMs();
  QueueReliable(done);
}

void IoLoop::OnTask(protocol::TaskMsg task, int64_t now) {
  log_->debug("task {} attempt {} ({}) received", task.task_id, task.attempt, task.type);
  if (draining_) {
    FailTask(task, "draining", "worker " + options_.id + " is shutting down", true);
    return;
  }
  auto handler = handlers_.find(task.type);
  if (handler == handlers_.end()) {
    log_->warn("task {} attempt {} failed: unknown_type: no handler for type '{}' here",
               task.task_id, task.attempt, task.type);
    FailTask(task, "unknown_type",
             "worker " + options_.id + " has no handler for type '" + task.type + "'", false);
    return;
  }
  // A quick handler's attempt ends in this call, so it is never in running_: no key needed.
  // With pool processes every handler runs in one, quick or not: the point is that no
  // handler runs in the worker's own process.
  const bool quick = handler->second.options.quick && zygote_ == nullptr;
  std::string key;
  if (!quick) {
    key = RunningKey(task.task_id, task.token);
    if (running_.contains(key)) {
      log_->debug("task {} token {} is already running; duplicate ignored", task.task_id,
                  task.token);
      return;
    }
  }
  if (running_.size() + lost_.size() >= options_.concurrency) {
    FailTask(task, "no_slot",
             "worker " + options_.id + " has no free slot (" +
                 std::to_string(options_.concurrency) + " busy, " +
                 std::to_string(lost_.size()) + " of them lost to handlers that ignored a stop)",
             true);
    return;
  }
  if (quick) {
    RunQuick(std::move(task), handler->second.handler);
    return;
  }
  Running r;
  r.task_id = task.task_id;
  r.token = task.token;
  r.cancel = std::make_shared<CancelSignal>();
  r.type = task.type;
  if (task.timeout_ms > 0) r.deadline_ms = now + task.timeout_ms;
  r.started_ms = now;
  Job job{std::move(task), r.cancel, &handler->second.handler};
  running_.emplace(std::move(key), std::move(r));
  pool_->Submit(std::move(job));
}

void IoLoop::RunQuick(protocol::TaskMsg task, const Handler& handler) {
  Job job{std::move(task), std::make_shared<CancelSignal>(), &handler};
  auto progress = [this, &job](double fraction, std::string_view message) {
    SendBestEffort(
        protocol::Progress{job.task.task_id, job.task.token, fraction, std::string(message)});
  };
  int64_t started = clock_.MonotonicMs();
  QueueReliable(protocol::Message(RunAttempt(job, progress, *log_, options_.max_output_bytes)));
  if (telemetry_ != nullptr) {
    telemetry_->AttemptFinished(static_cast<double>(clock_.MonotonicMs() - started) / 1000.0);
  }
}

void IoLoop::OnCancel(const protocol::CancelTask& cancel) {
  bool found = false;
  int64_t now = clock_.MonotonicMs();
  for (auto& [key, r] : running_) {
    // Token 0 cancels whichever attempt of the task runs here.
    if (r.task_id == cancel.task_id && (cancel.token == 0 || cancel.token == r.token)) {
      Stop(r, CancelReason::kCancelled, now);
      found = true;
    }
  }
  log_->debug("cancel of task {} ({}): {}", cancel.task_id, cancel.reason,
              found ? "signalled" : "not running here");
}

void IoLoop::OnResults() {
  for (int i = 0; i < kMaxReadsPerTurn; ++i) {
    auto got = results_.Recv(/*dontwait=*/true, /*max_parts=*/5);
    if (!got) {
      log_->error("bad result from an executor: {}", got.error().message);
      continue;
    }
    if (!*got) return;
    Parts& parts = **got;
    if (parts.size() != 5 || parts[3].size() != 1) continue;
    uint64_t token = std::strtoull(parts[1].c_str(), nullptr, 10);
    std::string key = RunningKey(parts[0], token);
    auto it = running_.find(key);
    if (it == running_.end()) {
      // Already reported (drain timeout, or a handler that ignored its stop), so the result
      // is dropped; a lost slot is free again once its handler is done.
      auto lost = lost_.find(key);
      if (lost != lost_.end() && static_cast<uint8_t>(parts[3][0]) ==
                                     static_cast<uint8_t>(protocol::Command::kDone)) {
        log_->warn("task {}: the handler that ignored its stop has returned; slot free again",
                   lost->second.task_id);
        lost_.erase(lost);
      }
      continue;
    }
    auto command = static_cast<protocol::Command>(static_cast<uint8_t>(parts[3][0]));
    std::span<const std::string> frames(parts.begin() + 2, parts.end());
    if (command == protocol::Command::kDone) {
      if (telemetry_ != nullptr) {
        int64_t ran = clock_.MonotonicMs() - it->second.started_ms;
        telemetry_->AttemptFinished(static_cast<double>(ran) / 1000.0);
      }
      running_.erase(it);
      QueueReliableFrames(Parts(frames.begin(), frames.end()), parts[0]);
    } else {
      SendBestEffortFrames(frames);
    }
  }
}

void IoLoop::StartDrain(uint32_t grace_ms, int64_t now) {
  int64_t deadline = now + grace_ms;
  if (draining_ && deadline >= drain_deadline_ms_) return;
  log_->info("draining: {} running task(s), grace {} ms", running_.size(), grace_ms);
  draining_ = true;
  drain_deadline_ms_ = deadline;
}

void IoLoop::OnTimers(int64_t now) {
  if (draining_ && (running_.empty() || now >= drain_deadline_ms_)) {
    for (auto& [key, r] : running_) {
      r.cancel->Cancel(CancelReason::kDraining);
      protocol::Done done;
      done.task_id = r.task_id;
      done.token = r.token;
      done.ok = false;
      done.error = protocol::TaskError{
          "drain_timeout", "worker " + options_.id + " shut down before the task finished", true};
      done.started_ms = clock_.NowMs();
      QueueReliable(done);
    }
    running_.clear();
    QueueReliable(protocol::Bye{"drained"});
    finished_ = true;
    return;
  }
  for (auto& [key, r] : running_) {
    if (r.deadline_ms > 0 && now >= r.deadline_ms && !r.cancel->cancelled()) {
      log_->debug("task {} passed its timeout; cancelling", r.task_id);
      Stop(r, CancelReason::kTimeout, now);
    }
  }
  ReportOverdue(now);
  if (link_ == LinkState::kLinked && now - last_broker_ms_ >= SilenceLimitMs()) {
    Backoff(now, "broker silent for " + std::to_string(now - last_broker_ms_) + " ms");
  } else if (link_ == LinkState::kBackoff && now >= reconnect_at_ms_) {
    if (auto r = OpenLink(); !r) {
      Backoff(now, "cannot open a link: " + r.error().message);
    }
  }
  if (now >= next_heartbeat_ms_) {
    next_heartbeat_ms_ = now + options_.heartbeat_ms;
    SendBestEffort(protocol::Heartbeat{FreeSlots()});
  }
}

}  // namespace taskmill::worker

namespace taskmill::worker {

void IoLoop::Stop(Running& r, CancelReason reason, int64_t now) {
  r.cancel->Cancel(reason);
  if (r.stopped_ms == 0) r.stopped_ms = std::max<int64_t>(now, 1);
}

void IoLoop::ReportOverdue(int64_t now) {
  for (auto it = running_.begin(); it != running_.end();) {
    Running& r = it->second;
    if (r.stopped_ms == 0 || now < r.stopped_ms + OverdueMs()) {
      ++it;
      continue;
    }
    CancelReason reason = r.cancel->reason();
    bool timeout = reason == CancelReason::kTimeout;
    std::string what = timeout ? "its timeout" : "a cancel";
    log_->warn(
        "task {} ({}): the handler ignored {} for {} ms (--cancel-grace-ms); reported as {}, "
        "its slot is lost until the handler returns ({} of {} slots lost)",
        r.task_id, r.type, what, options_.cancel_grace_ms, CancelReasonName(reason),
        lost_.size() + 1, options_.concurrency);
    protocol::Done done;
    done.task_id = r.task_id;
    done.token = r.token;
    done.ok = false;
    done.error = protocol::TaskError{
        timeout ? "timeout" : "cancelled",
        "the handler ignored " + what + " for " + std::to_string(options_.cancel_grace_ms) +
            " ms; worker " + options_.id + " gave up on it and lost its slot",
        timeout};
    done.started_ms = clock_.NowMs();
    QueueReliable(done);
    lost_.emplace(it->first, std::move(r));
    it = running_.erase(it);
  }
}

}  // namespace taskmill::worker
