#pragma once

#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "lifecycle/lifecycle_observer.h"
#include "service/wait_table.h"
#include "taskmill/shared/protocol/messages.h"

namespace taskmill::broker {

// Who is waiting for tasks to end: clients blocked in WAIT (a WaitTable) and clients that
// asked for a task's RESULT push (SUBMIT notify). Subscribes to the lifecycle's TaskEnded;
// what to send is handed to the two callbacks, so the rules are unit-testable without
// sockets (broker/test/task_lifecycle_test.cc).
// Thread: the reactor thread. Owner: ClientService.
class TaskWaiters : public LifecycleObserver {
 public:
  // A WAIT has nothing pending any more: answer it (and release its quota).
  using Settled = std::function<void(WaitTable::Waiter)>;
  // A RESULT whose task's final state is known: push it to `identity`.
  using Push = std::function<void(const std::string& identity, protocol::TaskInfo task)>;
  // A task's progress for `identity`, a client WAITing on it with progress set.
  using PushProgress = std::function<void(const std::string& identity, const std::string& task_id,
                                          double fraction, const std::string& message)>;

  // Tasks awaiting a RESULT push; past this, notify is ignored (a client can still WAIT).
  static constexpr size_t kMaxNotify = 1'000'000;
  // Task ends remembered while WAIT reads are in flight; past this, the periodic re-read
  // settles a WAIT that read a task just before it ended.
  static constexpr size_t kMaxEndedDuringReads = 100'000;

  TaskWaiters(Settled settled, Push push, PushProgress progress = {});

  // ---- WAIT ----
  void AddWait(WaitTable::Waiter w) { waits_.Add(std::move(w)); }
  std::vector<WaitTable::Waiter> TakeExpired(int64_t now_ms) { return waits_.TakeExpired(now_ms); }
  std::vector<WaitTable::Waiter> TakeIdentity(const std::string& identity) {
    return waits_.TakeIdentity(identity);
  }
  std::vector<std::string> PendingIds() const { return waits_.PendingIds(); }
  size_t waits() const { return waits_.size(); }
  // A WAIT's first read is in flight (it runs on the read connection, so it may read a task
  // before its DONE is recorded on the other): ends seen meanwhile are remembered.
  void ReadStarted() { ++reads_; }
  void ReadFinished();
  bool EndedDuringReads(const std::string& task_id) const {
    return ended_during_reads_.contains(task_id);
  }

  // ---- RESULT notify ----
  // `identity` gets the task's RESULT when it ends (false: over kMaxNotify, ignored).
  bool Notify(const std::string& task_id, const std::string& identity);
  const std::unordered_map<std::string, std::string>& notified() const { return notify_; }
  // RESULTs of tasks that ended with no known state: (task id, client), to read and push.
  std::vector<std::pair<std::string, std::string>> TakeResultsToRead();

  // ---- lifecycle outcomes (also called for ends seen by re-reading) ----
  void TaskEnded(const std::string& task_id, protocol::TaskInfo* known) override;
  bool WantsResult(const std::string& task_id) const override {
    return notify_.contains(task_id);
  }
  void TaskProgressed(const std::string& task_id, double fraction,
                      const std::string& message) override;

 private:
  Settled settled_;
  Push push_;
  PushProgress progress_;
  WaitTable waits_;
  std::unordered_map<std::string, std::string> notify_;  // task id -> client to push RESULT to
  std::vector<std::pair<std::string, std::string>> to_read_;  // (task id, client) to read
  uint32_t reads_ = 0;                                        // WAIT first reads in flight
  std::unordered_set<std::string> ended_during_reads_;  // tasks that ended while reads_ > 0
};

}  // namespace taskmill::broker
