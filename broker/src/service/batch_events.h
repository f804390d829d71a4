#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "lifecycle/lifecycle_observer.h"
#include "net/router_socket.h"
#include "store/store.h"
#include "taskmill/shared/clock.h"
#include "taskmill/shared/protocol/messages.h"

namespace taskmill::broker {

class RecentBatches;

// Batch event subscriptions and the events themselves: batch_started, task_started,
// task_progress, task_completed, task_failed, batch_progress, budget_warning,
// batch_completed. Events are built from what the broker already learns (claims, DONEs,
// PROGRESS, store results), so a batch nobody watches costs nothing extra.
// Subscriptions live in this broker's memory; a client that reconnects to another broker
// subscribes again there.
// It subscribes to the lifecycle layer's outcomes (TaskStarted, TaskFinished, TaskCancelled,
// BatchesChanged); the client adapter manages the subscriptions. Batches seen changing are
// also noted for the dashboard's list (RecentBatches).
// Thread: the reactor thread. Owner: Broker::Run; holds references only.
class BatchEvents : public LifecycleObserver {
 public:
  // `store` re-reads watched batches (OnSweepTick); events go out on `frontend`.
  BatchEvents(const Clock& clock, RouterSocket& frontend, Store& store, RecentBatches& recent);

  // `names` maps task name -> id (BatchStatus.tasks). Sends nothing by itself.
  void Subscribe(const std::string& identity, const protocol::BatchStatus& batch);
  void Unsubscribe(const std::string& identity, const std::string& batch_id);
  // Drops every subscription of a client that went away.
  void DropSubscriber(const std::string& identity);
  bool Subscribed(const std::string& identity, const std::string& batch_id) const;
  // Subscriptions of one client, of every client, and the tasks of every watched batch.
  size_t SubscriptionsOf(const std::string& identity) const;
  size_t subscriptions() const { return subscriptions_; }
  size_t watched_tasks() const { return batch_of_.size(); }
  bool Watched(const std::string& batch_id) const { return batches_.count(batch_id) != 0; }
  bool AnyWatched() const { return !batches_.empty(); }

  void BatchStarted(const protocol::BatchStatus& batch);
  // Tasks appended to `batch` (BATCH append_to) through this broker: its watch learns their
  // names (batch.tasks holds them) at once. Elsewhere a watch learns them when the batch's
  // larger total reaches it (BatchesChanged re-reads the batch).
  void TasksAdded(const protocol::BatchStatus& batch);
  void TaskStarted(const protocol::TaskMsg& task) override;
  void TaskProgressed(const std::string& task_id, double fraction,
                      const std::string& message) override;
  // A Finish/Reap/Release item; `done` is the worker's report when there was one.
  void TaskFinished(const FinishOutcome& outcome, const protocol::Done* done) override;
  // A task cancelled directly or as a descendant.
  void TaskCancelled(const std::string& task_id, const std::string& reason) override;
  // New aggregate states: batch_progress, budget_warning (80%), batch_completed.
  // Also notes them as recently changed (the dashboard's list).
  void BatchesChanged(const BatchChanges& batches) override;
  // Every --sweep-ms (10 s): forgets watches whose subscribers have all gone, and re-reads up to
  // kSweepBatches watched batches, so one finished through another broker (or whose last
  // change this broker missed) gets its batch_completed and is forgotten.
  void OnSweepTick();

  static constexpr size_t kSweepBatches = 100;
  // Re-reads every watched batch now (after a bus resubscribe: events may have been missed);
  // a batch over since gets its batch_completed.
  void RereadAll();

 private:
  struct Watch {
    std::unordered_set<std::string> subscribers;         // client identities
    std::unordered_map<std::string, std::string> names;  // task id -> name
    uint32_t total = 0;
    bool warned = false;  // budget_warning already sent
  };
  // Sends to every subscriber; a subscriber that has disconnected is dropped.
  void Emit(const std::string& batch_id, Watch& w, protocol::Event e);
  void Forget(const std::string& batch_id);
  Watch* Find(const std::string& batch_id);
  // The watched batch a task belongs to (its id in `batch_id`), or null.
  Watch* FindByTask(const std::string& task_id, std::string& batch_id);

  // Adds the names of `b` that `w` lacks; total = the larger.
  void Learn(const std::string& batch_id, Watch& w, const protocol::BatchStatus& b);
  // New aggregate states (BatchesChanged without noting them as recent: the sweep's re-reads).
  void EmitBatchChanges(const BatchChanges& batches);
  void Reread(const std::string& id);

  const Clock& clock_;
  RouterSocket& frontend_;
  Store& store_;
  RecentBatches& recent_;
  std::unordered_map<std::string, Watch> batches_;         // watched batches by id
  std::unordered_map<std::string, std::string> batch_of_;  // task id -> batch id (watched)
  std::unordered_map<std::string, std::unordered_set<std::string>>
      by_subscriber_;         // client identity -> batches it watches
  size_t subscriptions_ = 0;  // (client, batch) pairs across by_subscriber_
  // Keeps by_subscriber_ and subscriptions_ in step when a subscriber leaves a watch.
  void Unlink(const std::string& identity, const std::string& batch_id);
  size_t sweep_offset_ = 0;                                // where the next sweep's re-reads start
};

}  // namespace taskmill::broker
