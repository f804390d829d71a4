#include "service/worker_service.h"

#include <fmt/ranges.h>

#include <memory>
#include <optional>
#include <unordered_set>

#include "lifecycle/task_lifecycle.h"
#include "service/batch_events.h"
#include "service/request_checks.h"
#include "service/wrong_port.h"
#include "taskmill/shared/log.h"
#include "taskmill/shared/protocol/codec.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::broker {
namespace {
auto Log() {
  static auto log = Logger("broker.workers");
  return log;
}
// The req_id of a client request (SUBMIT ... DLQ), nullopt for anything else.
std::optional<uint64_t> ClientRequestId(const protocol::Message& msg) {
  return std::visit(
      [](const auto& m) -> std::optional<uint64_t> {
        if constexpr (requires { m.req_id; }) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(m)>, protocol::Reply>) {
            return m.req_id;
          }
        }
        return std::nullopt;
      },
      msg);
}

}  // namespace

WorkerService::WorkerService(BrokerContext& ctx)
    : ctx_(ctx), registry_(ctx.workers), wrong_port_(BrokerPort::kWorker, ctx.counters, ctx.clock) {
  ctx_.lifecycle.Subscribe(*this);
}

void WorkerService::Send(const std::string& identity, const protocol::Message& msg) {
  ctx_.backend.Send(identity, protocol::Encode(msg));
}

void WorkerService::OnMessage(const std::string& identity, protocol::Message msg,
                              const std::string& user_id) {
  int64_t now = ctx_.clock.MonotonicMs();
  if (auto* ready = std::get_if<protocol::Ready>(&msg)) {
    OnReady(identity, user_id, *ready);
    return;
  }
  registry_.Touch(identity, now);
  if (auto* done = std::get_if<protocol::Done>(&msg)) {
    OnDone(identity, std::move(*done));
  } else if (std::holds_alternative<protocol::Heartbeat>(msg)) {
    // Liveness was recorded above. A worker we do not know (this broker restarted) gets no
    // heartbeats back, so it reconnects and says READY again.
  } else if (auto* progress = std::get_if<protocol::Progress>(&msg)) {
    OnProgress(identity, *progress);
  } else if (std::holds_alternative<protocol::Bye>(msg)) {
    if (auto w = registry_.Remove(identity)) Release(*w, "said bye");
  } else if (auto req_id = ClientRequestId(msg)) {
    OnClientRequest(identity, protocol::CommandName(protocol::CommandOf(msg)), *req_id);
  } else {
    ++ctx_.counters.bad_frames;
    Log()->debug("worker sent a broker command {}",
                 protocol::CommandName(protocol::CommandOf(msg)));
  }
}

void WorkerService::OnClientRequest(const std::string& identity, std::string_view command,
                                    uint64_t req_id) {
  Send(identity, wrong_port_.Refuse(command, req_id, ctx_.frontend.LastEndpoint()));
}

void WorkerService::OnReady(const std::string& identity, const std::string& user_id,
                            protocol::Ready& ready) {
  bool replaces = registry_.Find(identity) != nullptr ||
                  registry_.FindById(ready.worker_id) != nullptr;
  auto checked = CheckReady(ready, ctx_.options, registry_.size(), replaces);
  if (!checked) {
    ++ctx_.counters.bad_frames;
    Log()->warn("refused READY: {}", checked.error().message);
    return;
  }
  if (*checked > 0) {
    Log()->debug("worker {}: ignoring {} running ids past its concurrency {}", ready.worker_id,
                 *checked, ready.concurrency);
  }
  Principal who = ctx_.access.Identify(user_id);
  if (std::string why = RefuseWorkerId(identity, who, ready); !why.empty()) {
    ++ctx_.counters.forbidden;
    Log()->warn("refused READY from {}: {}", ready.worker_id, why);
    return;
  }
  WorkerState* before = registry_.Find(identity);
  bool known = before != nullptr;
  std::unordered_map<std::string, uint64_t> held;
  if (known) held = std::move(before->in_flight);
  if (auto replaced = registry_.Register(identity, ready, ctx_.clock.MonotonicMs())) {
    // Same worker id from a new connection (every link has a new routing id): the worker
    // carries its identity over. What its READY still lists stays its own; the rest is failed
    // below, as for a READY on the same connection.
    for (auto& [task_id, token] : replaced->in_flight) held.emplace(task_id, token);
    known = true;
  }
  // READY says what this process still holds. Attempts this broker sent that it does not hold
  // are gone (the process restarted under the same id): fail them now as retryable instead of
  // letting heartbeats extend their leases forever. Held tasks this broker did not know of
  // (it restarted) count against the worker's slots until their DONE arrives.
  WorkerState* w = registry_.Find(identity);
  w->key = who.key;
  std::unordered_set<std::string> still(ready.running.begin(), ready.running.end());
  for (auto& [task_id, token] : held) {
    if (still.count(task_id) != 0) {
      w->in_flight[task_id] = token;
      continue;
    }
    protocol::Done lost;
    lost.task_id = task_id;
    lost.token = token;
    lost.error = protocol::TaskError{"worker_lost", "the worker restarted without it", true};
    ctx_.lifecycle.Finish(w->id, std::move(lost));
  }
  for (const auto& task_id : ready.running) w->in_flight.emplace(task_id, 0);
  if (!known) {
    // New here: it may have moved from another broker (lost, or handing off). Its leases live
    // in Redis under its id; those its READY does not list are attempts it never got (a TASK
    // lost with the old broker) and would otherwise be extended by its heartbeats forever:
    // fail them now, retryable. The listed ones stay its own, so their DONEs count here.
    ctx_.lifecycle.ReleaseWorker(w->id, ready.running);
  }
  Log()->info("worker {} {} (queues {}, concurrency {}{})", ready.worker_id,
              known ? "re-registered" : "registered", fmt::join(ready.queues, ","),
              ready.concurrency, who.name.empty() ? "" : ", key " + who.name);
  ReadQuiet({w->id});
  if (draining_) Send(identity, protocol::Drain{0});
  // Before this turn's claims (one Redis connection, calls run in order): a worker id bound
  // to another key through another broker is evicted before anything is sent to it.
  if (!who.key.empty()) BindAcrossBrokers({{ready.worker_id, who.key}});
  // DONEs this connection sent before its READY are recorded now, as this worker's.
  for (auto& done : held_.Take(identity)) OnDone(identity, std::move(done));
}

void WorkerService::OnDone(const std::string& identity, protocol::Done done) {
  if (auto valid = protocol::ValidateName(done.task_id, "task_id"); !valid) {
    ++ctx_.counters.bad_frames;  // dropped alone, so it cannot fail the turn's other DONEs
    return;
  }
  WorkerState* w = registry_.Find(identity);
  if (w == nullptr) {
    // Results are recorded only as the registered worker holding the lease, never as "any
    // worker": held until this connection registers (HeldResults), else dropped.
    ++ctx_.counters.unregistered;
    Log()->debug("task {}: DONE from a connection that has not registered: held", done.task_id);
    if (!held_.Hold(identity, std::move(done), ctx_.clock.MonotonicMs())) {
      Log()->debug("DONE from an unregistered connection dropped: {} held already", held_.size());
    }
    return;
  }
  // Its last progress held back by the throttle is stored before the DONE (same connection,
  // so in order): a final report is never lost to the throttle.
  FlushProgressOf(done.task_id);
  // Only the live attempt's DONE frees its slot; a stale one is recorded (and fenced off).
  if (auto it = w->in_flight.find(done.task_id);
      it != w->in_flight.end() && (it->second == done.token || it->second == 0)) {
    w->in_flight.erase(it);
    if (w->held) w->idle = false;  // held back by a limit: this DONE may have freed its share
  }
  // Its slot is free again, but it claims for it only if its last claim came back full or
  // work became ready since (not idle): a DONE alone never sends an empty claim.
  std::string worker_id = w->id;
  if (auto valid = protocol::ValidateArtifacts(done.artifacts, "artifacts"); !valid) {
    // A worker's list is untrusted: a name like "../x" would escape a client's --out dir.
    // Record the attempt failed, saying why, rather than store a list no client may use.
    ++ctx_.counters.bad_frames;
    Log()->debug("task {}: bad artifacts: {}", done.task_id, valid.error().message);
    done.error = protocol::TaskError{"bad_artifacts", valid.error().message, false};
    done.ok = false;
    done.artifacts.clear();
  }
  uint64_t inline_bytes = 0;
  for (const auto& a : done.artifacts) inline_bytes += a.data.size();
  if (uint64_t size = done.output.size() + done.stdout_data.size() + done.stderr_data.size() +
                      inline_bytes;
      size > ctx_.options.max_output_bytes) {
    // Storing it would let one task fill Redis; dropping it silently would lose the attempt.
    // Record a failure that says why; a retry would produce the same output again.
    Log()->debug("task {}: result of {} bytes is over --max-output-bytes", done.task_id, size);
    done.error = protocol::TaskError{
        "output_too_large",
        "the result is " + std::to_string(size) + " bytes (output " +
            std::to_string(done.output.size()) + ", stdout " +
            std::to_string(done.stdout_data.size()) + ", stderr " +
            std::to_string(done.stderr_data.size()) + ", inline artifacts " +
            std::to_string(inline_bytes) + "), over the broker's limit of " +
            std::to_string(ctx_.options.max_output_bytes) + " (--max-output-bytes)",
        false};
    done.ok = false;
    done.output.clear();
    done.stdout_data.clear();
    done.stderr_data.clear();
    done.artifacts.clear();
  }
  if (auto valid = protocol::ValidateCosts(done.cost, "cost"); !valid) {
    // Keep the result, drop costs that would poison sums or dodge a budget.
    ++ctx_.counters.bad_frames;
    Log()->warn("task {}: ignoring its reported costs: {}", done.task_id, valid.error().message);
    done.cost.clear();
  }
  // Only an awaiting DONE carries a completion token (a COMPLETE is a client's verb, never a
  // worker's); one that is malformed fails the attempt rather than leave a task no outside
  // system could ever complete.
  if (!done.awaiting || !done.ok) {
    done.awaiting = false;
    done.completion_token.clear();
  } else if (auto valid = protocol::ValidateCompletionToken(done.completion_token,
                                                            "completion_token");
             !valid) {
    ++ctx_.counters.bad_frames;
    Log()->debug("task {}: {}", done.task_id, valid.error().message);
    done.awaiting = false;
    done.completion_token.clear();
    done.ok = false;
    done.error = protocol::TaskError{"bad_completion_token", valid.error().message, false};
  }
  if (done.awaiting || !done.ok) {
    done.poll_ms = 0;
  } else if (done.poll_ms > 0 && done.poll_state.size() > protocol::kMaxPollStateBytes) {
    ++ctx_.counters.bad_frames;
    done.poll_ms = 0;
    done.ok = false;
    done.error = protocol::TaskError{
        "bad_poll_state",
        "a poll state of " + std::to_string(done.poll_state.size()) +
            " bytes is over the limit of " + std::to_string(protocol::kMaxPollStateBytes),
        false};
  }
  if (done.poll_ms == 0) done.poll_state.clear();
  ctx_.lifecycle.Finish(worker_id, std::move(done));
}

void WorkerService::ClaimsDue() {
  auto workers = registry_.All();
  for (WorkerState* w : workers) w->promised = 0;  // a promise of slots lasts one turn
  if (draining_ || !ctx_.redis.ready()) return;
  for (WorkerState* w : workers) {
    if (!w->idle && !w->draining && !w->quiet && w->quiet_known && w->FreeSlots() > 0) {
      Claim(*w);
    }
  }
}

void WorkerService::Claim(WorkerState& worker) {
  uint32_t n = worker.FreeSlots();
  worker.claiming += n;
  ClaimRequest req{worker.id, worker.queues, worker.types, n, ctx_.options.EffectiveLeaseMs()};
  std::string identity = worker.identity;
  ctx_.lifecycle.Claim(std::move(req), [this, identity, n, worker_id = worker.id,
                                        wakes = worker.wakes](Result<ClaimResult> r) {
    WorkerState* w = registry_.Find(identity);
    if (w != nullptr) w->claiming -= std::min(w->claiming, n);
    if (!r) {
      if (w != nullptr) w->idle = true;  // the idle tick retries
      return;
    }
    if (w == nullptr || w->id != worker_id) {
      // The connection is gone, or its worker id moved to a new connection (which does not
      // know of these attempts): fail them now (retryable). After a release that already
      // re-queued them, these are stale and change nothing.
      for (auto& task : r->tasks) {
        protocol::Done lost;
        lost.task_id = std::move(task.task_id);
        lost.token = task.token;
        lost.error = protocol::TaskError{"dispatch_failed", "its worker left before it was sent",
                                         true};
        ctx_.lifecycle.Finish(worker_id, std::move(lost));
      }
      return;
    }
    for (auto& task : r->tasks) {
      std::string task_id = task.task_id;
      uint64_t token = task.token;
      if (!ctx_.backend.Send(identity, protocol::Encode(task))) {
        // The worker is gone or its queue is full: fail the attempt now (retryable) rather
        // than leave a lease that heartbeats would keep alive.
        protocol::Done lost;
        lost.task_id = std::move(task_id);
        lost.token = token;
        lost.error =
            protocol::TaskError{"dispatch_failed", "could not send the task to its worker", true};
        ctx_.lifecycle.Finish(w->id, std::move(lost));
        continue;
      }
      w->in_flight[task_id] = token;
      ++ctx_.counters.tasks_dispatched;
      ctx_.lifecycle.Started(task);
    }
    // Short: nothing more was ready when it ran, unless work became ready since it was sent
    // (a wake after it: that work may have been stored after this claim ran).
    if (r->tasks.size() < n && w->wakes == wakes) w->idle = true;
    w->held = r->held > 0;
  });
}

void WorkerService::OnHeartbeatTick() {
  int64_t now = ctx_.clock.MonotonicMs();
  int64_t silent_before =
      now - static_cast<int64_t>(ctx_.options.liveness) * ctx_.options.heartbeat_ms;
  for (auto& w : registry_.TakeSilentSince(silent_before)) {
    ++ctx_.counters.workers_lost;
    Release(w, "missed heartbeats");
  }
  if (size_t dropped = held_.Expire(now, ctx_.options.EffectiveLeaseMs())) {
    Log()->debug("dropped {} DONE(s) of connections that never registered", dropped);
  }
  if (ctx_.access.curve() && now >= next_bind_refresh_ms_) {
    next_bind_refresh_ms_ = now + WorkerBindings::kTtlMs / 10;
    std::vector<std::pair<std::string, std::string>> bound;
    for (WorkerState* w : registry_.All()) {
      if (!w->key.empty()) bound.emplace_back(w->id, w->key);
    }
    BindAcrossBrokers(std::move(bound));
  }
  if (now >= next_quiet_read_ms_) {
    next_quiet_read_ms_ = now + kQuietReadMs;
    std::vector<std::string> ids;
    for (WorkerState* w : registry_.All()) ids.push_back(w->id);
    ReadQuiet(std::move(ids));
  }
  for (WorkerState* w : registry_.All()) {
    if (!w->key.empty()) bindings_.Touch(w->id, now);
    Send(w->identity, protocol::BrokerHeartbeat{});
    if (w->in_flight.empty()) continue;
    // Cancels requested through another broker come back as CancelRequested.
    ctx_.lifecycle.ExtendLeases(w->id, ctx_.options.EffectiveLeaseMs());
  }
}

void WorkerService::OnIdleTick() {
  for (WorkerState* w : registry_.All()) w->idle = false;
}

void WorkerService::QueuesReady(const std::vector<std::string>& queues) {
  for (const auto& q : queues) registry_.WakeQueue(q);
}

void WorkerService::TasksEnqueued(const std::vector<ReadyTasks>& ready) {
  registry_.WakeFor(ready);
}

void WorkerService::Release(const WorkerState& w, const char* why) {
  Log()->info("worker {} {}: re-queueing its {} task(s)", w.id, why, w.in_flight.size());
  // Released at the end of the turn, after this turn's DONEs are recorded: a worker's last
  // result and its BYE often arrive together, and the release must not fence that result off.
  ctx_.lifecycle.ReleaseWorker(w.id);
}

void WorkerService::CancelRequested(const std::string& worker_id, const std::string& task_id,
                                    uint64_t token, const std::string& reason) {
  if (auto* w = registry_.FindById(worker_id)) {
    Send(w->identity, protocol::CancelTask{task_id, token, reason});
  }
}

void WorkerService::StartDrain(uint32_t grace_ms) {
  draining_ = true;
  for (WorkerState* w : registry_.All()) {
    w->draining = true;
    Send(w->identity, protocol::Drain{grace_ms});
  }
}

size_t WorkerService::MoveAll(const std::string& reason) {
  draining_ = true;
  size_t moved = 0;
  for (WorkerState* w : registry_.All()) {
    Send(w->identity, protocol::Move{reason});
    ++moved;
  }
  return moved;
}

bool WorkerService::Idle() const { return registry_.NoneBusy(); }

}  // namespace taskmill::broker
