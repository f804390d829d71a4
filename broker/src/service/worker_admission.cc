// Who may be which worker, and what a registered worker may report: the worker half of the
// role checks (docs/security.md, "Roles" and "Worker identity").

#include <unordered_set>

#include "cluster/cluster_bus.h"
#include "lifecycle/task_lifecycle.h"
#include "service/batch_events.h"
#include "service/worker_service.h"
#include "taskmill/shared/log.h"
#include "taskmill/shared/protocol/codec.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::broker {
namespace {

auto Log() {
  static auto log = Logger("broker.workers");
  return log;
}

}  // namespace

std::string WorkerService::RefuseWorkerId(const std::string& identity, const Principal& who,
                                          const protocol::Ready& ready) {
  if (auto allowed = ctx_.access.Require(who, kRoleWorker, "READY"); !allowed) {
    return allowed.error().message;
  }
  int64_t now = ctx_.clock.MonotonicMs();
  // With CURVE a worker id belongs to the key that registered it first: another key can
  // neither take it from a live worker nor grab it while that worker reconnects.
  if (ctx_.access.curve() && !bindings_.Bind(ready.worker_id, who.key, now)) {
    return "worker id " + ready.worker_id +
           " is registered under another CURVE key (a worker id cannot move between keys)";
  }
  WorkerState* holder = registry_.FindById(ready.worker_id);
  if (holder == nullptr || holder->identity == identity) return "";
  // Same key (CURVE): the same principal on a new connection, a reconnect or a restart.
  if (ctx_.access.curve() && holder->key == who.key) return "";
  // Without CURVE there is no key to tell the worker from a second process that uses its id.
  // The worker itself, relinking because it stopped hearing this broker (which may still hear
  // the old link), lists in `running` every attempt it holds: all those the broker sent it.
  // A second process cannot name them.
  std::unordered_set<std::string> listed(ready.running.begin(), ready.running.end());
  bool names_them_all = true;
  for (const auto& [task_id, token] : holder->in_flight) {
    if (!listed.contains(task_id)) {
      names_them_all = false;
      break;
    }
  }
  if (names_them_all) return "";
  // Otherwise the id moves only from a connection that is gone or has gone silent (a restart:
  // its attempts are then failed as worker_lost). A send to a connection that is gone fails at
  // once (ROUTER_MANDATORY).
  int64_t silent_ms = now - holder->last_seen_ms;
  if (silent_ms <= 2 * static_cast<int64_t>(ctx_.options.heartbeat_ms) &&
      ctx_.backend.Deliver(holder->identity, protocol::Encode(protocol::BrokerHeartbeat{})) ==
          RouterSocket::Delivery::kSent) {
    return "worker id " + ready.worker_id + " is held by a live connection (heard from " +
           std::to_string(silent_ms) + " ms ago) whose attempts this READY does not list; it " +
           "moves to a new connection once the old one is gone or silent";
  }
  return "";
}

void WorkerService::BindAcrossBrokers(std::vector<std::pair<std::string, std::string>> bindings) {
  if (bindings.empty()) return;
  auto sent = bindings;
  ctx_.store.BindWorkers(
      std::move(bindings), WorkerBindings::kTtlMs,
      [this, sent = std::move(sent)](Result<std::vector<std::string>> r) {
        if (!r) return;  // Redis away: this broker's own bindings still hold
        int64_t now = ctx_.clock.MonotonicMs();
        for (size_t i = 0; i < sent.size() && i < r->size(); ++i) {
          const std::string& owner = (*r)[i];
          if (owner.empty()) continue;
          const auto& [worker_id, key] = sent[i];
          bindings_.Set(worker_id, owner, now);
          WorkerState* w = registry_.FindById(worker_id);
          if (w == nullptr || w->key != key) continue;
          ++ctx_.counters.forbidden;
          Log()->warn(
              "worker {} dropped: its id is registered under another CURVE key (through "
              "another broker); its leases stay that key's",
              worker_id);
          Evict(w->identity);
        }
      });
}

void WorkerService::Evict(const std::string& identity) {
  auto w = registry_.Remove(identity);
  if (!w) return;
  // Not Release(): release_worker would fail every lease of the worker id, the rightful
  // key's included. Only what this broker sent this connection is taken back (retryable).
  for (const auto& [task_id, token] : w->in_flight) {
    if (token == 0) continue;  // listed in its READY, never sent by this broker
    protocol::Done lost;
    lost.task_id = task_id;
    lost.token = token;
    lost.error = protocol::TaskError{"worker_lost", "its worker id belongs to another key", true};
    ctx_.lifecycle.Finish(w->id, std::move(lost));
  }
}

void WorkerService::OnProgress(const std::string& identity, const protocol::Progress& progress) {
  WorkerState* w = registry_.Find(identity);
  if (w == nullptr) {
    ++ctx_.counters.unregistered;
    Log()->debug("task {}: PROGRESS from a connection that has not registered: dropped",
                 progress.task_id);
    return;
  }
  // Only the attempt this worker holds, with its token: progress is relayed to subscribers,
  // so a wrong token is as forged as a wrong result. (An attempt carried over by READY has
  // token 0 here, unknown: its progress waits for the next attempt.)
  auto it = w->in_flight.find(progress.task_id);
  if (it == w->in_flight.end() || it->second == 0 || it->second != progress.token) {
    ++ctx_.counters.stale_progress;
    Log()->debug("task {}: PROGRESS with a stale token from worker {}: dropped",
                 progress.task_id, w->id);
    return;
  }
  auto fraction = protocol::ClampProgressFraction(progress.fraction);
  if (!fraction) {
    ++ctx_.counters.bad_progress;
    Log()->debug("task {}: PROGRESS with a fraction that is not a number: dropped",
                 progress.task_id);
    return;
  }
  ++ctx_.counters.progress_received;
  ProgressWrite report{w->id, progress.task_id, progress.token, *fraction,
                       std::string(protocol::TrimProgressMessage(progress.message))};
  auto now = progress_.Offer(std::move(report), ctx_.clock.MonotonicMs());
  ctx_.counters.progress_coalesced = progress_.counters().coalesced;
  ctx_.counters.progress_dropped = progress_.counters().dropped;
  if (now) EmitProgress(std::move(*now));
}

void WorkerService::EmitProgress(ProgressWrite report) {
  ctx_.lifecycle.Progressed(report.task_id, report.fraction, report.message);
  progress_writes_.push_back(std::move(report));
}

void WorkerService::OnProgressTick() {
  for (auto& due : progress_.TakeDue(ctx_.clock.MonotonicMs())) EmitProgress(std::move(due));
  SaveProgress();
}

void WorkerService::FlushProgressOf(const std::string& task_id) {
  if (auto last = progress_.TakeEnded(task_id)) EmitProgress(std::move(*last));
  SaveProgress();
}

void WorkerService::SaveProgress() {
  if (progress_writes_.empty()) return;
  ++ctx_.counters.progress_store_calls;
  auto writes = std::move(progress_writes_);
  progress_writes_.clear();
  // Best effort, like the events: a write Redis could not take is not retried (the next
  // report, or the task's end, supersedes it).
  ctx_.store.SaveProgress(std::move(writes), [this](Result<ProgressSaved> r) {
    if (!r) {
      Log()->debug("progress not stored: {}", r.error().message);
      return;
    }
    ctx_.counters.progress_stored += r->stored;
    ctx_.counters.stale_progress += r->refused;
  });
}

void WorkerService::ReadQuiet(std::vector<std::string> worker_ids) {
  if (worker_ids.empty()) return;
  struct Asked {
    std::string id;
    std::string identity;   // the connection it was on: a read says nothing of a later one
    uint64_t changes = 0;   // its quiet_changes then
  };
  std::vector<Asked> asked;
  for (const auto& id : worker_ids) {
    const WorkerState* w = registry_.FindById(id);
    if (w != nullptr) asked.push_back({id, w->identity, w->quiet_changes});
  }
  ctx_.store.QuietWorkers(
      std::move(worker_ids), [this, asked = std::move(asked)](Result<std::vector<std::string>> r) {
        std::unordered_set<std::string> quiet;
        if (r) quiet.insert(r->begin(), r->end());
        for (const auto& [id, identity, changes] : asked) {
          WorkerState* w = registry_.FindById(id);
          if (w == nullptr || w->identity != identity) continue;
          // Redis away: a known state stands; a new worker is taken as not quiet (it would
          // otherwise get nothing until Redis is back, when claims fail anyway). A change
          // since the read was sent (the bus, a request here) is newer than what it read.
          if (r && w->quiet_changes == changes && w->quiet != quiet.contains(id)) {
            Log()->info("worker {} {}", id, quiet.contains(id) ? "quiet" : "no longer quiet");
            registry_.SetQuiet(id, quiet.contains(id));
          }
          w->quiet_known = true;
        }
      });
}

}  // namespace taskmill::broker
