#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dispatch/held_results.h"
#include "dispatch/worker_registry.h"
#include "service/authz.h"
#include "service/broker_context.h"
#include "service/progress_throttle.h"
#include "lifecycle/lifecycle_observer.h"
#include "service/wrong_port.h"
#include "taskmill/shared/protocol/messages.h"

namespace taskmill::broker {

// The worker side of the broker, a protocol adapter: registration, heartbeats both ways,
// liveness, and credit-based dispatch (a worker never holds more tasks than its free slots).
// DONEs, claims and releases go to the lifecycle layer (TaskLifecycle), which sends them at
// the turn's end; it subscribes to the layer's QueuesReady and TasksEnqueued (wake idle
// workers: all of a queue's, or as many as have slots for the tasks), ClaimsDue
// (queue this turn's claims) and CancelRequested (tell the worker).
// Thread: the reactor thread. Owner: the Broker's runtime.
class WorkerService : public LifecycleObserver {
 public:
  // Subscribes itself to ctx.lifecycle.
  explicit WorkerService(BrokerContext& ctx);

  // `user_id`: the connection's ZAP user id (CURVE key), "" without CURVE. Only a connection
  // that registered (READY, with the worker role) may report results and progress.
  void OnMessage(const std::string& identity, protocol::Message msg,
                 const std::string& user_id = "");
  // Every heartbeat interval: heartbeats out, silent workers declared dead, leases extended.
  void OnHeartbeatTick();
  // Workers whose last claim came back short try again (other brokers may have added work).
  void OnIdleTick();
  // Lifecycle outcomes: work may be ready in `queues` ("" = anywhere); hand out work to
  // workers with free slots; tell a worker to stop a running attempt.
  void QueuesReady(const std::vector<std::string>& queues) override;
  void TasksEnqueued(const std::vector<ReadyTasks>& ready) override;
  void ClaimsDue() override;
  void CancelRequested(const std::string& worker_id, const std::string& task_id, uint64_t token,
                       const std::string& reason) override;
  // Progress held back by the throttle whose interval passed goes on; the turn's progress
  // writes go to the store in one call.
  void OnProgressTick();
  // Graceful stop: DRAIN every worker; no new tasks go out.
  void StartDrain(uint32_t grace_ms);
  // Hand-off (the broker's SIGTERM): no new tasks go out; DONEs are still recorded.
  void StopClaims() { draining_ = true; }
  // Then MOVE to every registered worker: each keeps its tasks and re-registers with another
  // broker, which re-attaches their leases; nothing is released here. Returns how many.
  size_t MoveAll(const std::string& reason);
  // True iff no worker holds a task.
  bool Idle() const;

 private:
  void OnReady(const std::string& identity, const std::string& user_id, protocol::Ready& ready);
  // Why this connection may not take `ready.worker_id` (empty: it may). authz for workers.
  std::string RefuseWorkerId(const std::string& identity, const Principal& who,
                             const protocol::Ready& ready);
  void OnDone(const std::string& identity, protocol::Done done);
  void OnProgress(const std::string& identity, const protocol::Progress& progress);
  // A report past the throttle: published (TaskLifecycle::Progressed) and queued to store.
  void EmitProgress(ProgressWrite report);
  // The pending report of an attempt that ended goes on, and every queued write is sent.
  void FlushProgressOf(const std::string& task_id);
  void SaveProgress();
  // CURVE: records (or refreshes) these worker id -> key bindings in Redis, shared by every
  // broker; a worker here whose id another broker bound to another key is evicted.
  void BindAcrossBrokers(std::vector<std::pair<std::string, std::string>> bindings);
  // Reads the quiet records of these workers (worker_quiet.lua, refreshing their TTL) and
  // applies them: the safety net under the bus, and a registering worker's first read.
  void ReadQuiet(std::vector<std::string> worker_ids);
  // Drops a registration without releasing the worker id's leases (they are another key's).
  void Evict(const std::string& identity);
  // Queues the release of a gone worker's leases for the end of the turn.
  void Release(const WorkerState& w, const char* why);
  void Claim(WorkerState& worker);
  void Send(const std::string& identity, const protocol::Message& msg);
  // A client's request on this (worker) port: counted, warned about (rate-limited) and
  // answered with an error naming the client port.
  void OnClientRequest(const std::string& identity, std::string_view command, uint64_t req_id);

  BrokerContext& ctx_;
  WorkerRegistry& registry_;             // ctx_.workers
  WorkerBindings bindings_;              // CURVE: which key each worker id belongs to
  HeldResults held_;                     // DONEs of connections that have not sent READY yet
  ProgressThrottle progress_;            // PROGRESS per task: at most one per interval on
  std::vector<ProgressWrite> progress_writes_;  // reports to store at the tick (or a DONE)
  WrongPortGuard wrong_port_;  // client requests on the worker port
  int64_t next_bind_refresh_ms_ = 0;     // monotonic ms of the next BindAcrossBrokers refresh
  static constexpr int64_t kQuietReadMs = 2000;  // quiet records re-read (and kept) this often
  int64_t next_quiet_read_ms_ = 0;       // monotonic ms of the next ReadQuiet of every worker
  bool draining_ = false;                // true iff StartDrain was called: nothing new goes out
};

}  // namespace taskmill::broker
