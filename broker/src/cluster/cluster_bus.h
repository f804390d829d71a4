#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cluster/bus_codec.h"
#include "lifecycle/lifecycle_observer.h"
#include "redis/redis_connection.h"
#include "taskmill/shared/clock.h"

namespace taskmill::broker {

// Brokers as one (docs/architecture.md, "Brokers as one"): carries task ends and batch
// outcomes from the broker where they happen to the brokers whose clients wait for them,
// over Redis pub/sub.
//
// * Interest. A broker that holds a WAIT or a RESULT notify for a task, or a subscription to
//   a batch, announces it on `<prefix>bus` (every broker subscribes there), batched per
//   turn, before the turn's submits are written (so a notify task's watch reaches Redis
//   before the task exists). Every broker keeps the others' watches in memory.
// * Outcomes. The lifecycle outcomes of this broker (TaskEnded, TaskStarted, TaskFinished,
//   TaskCancelled, BatchesChanged, TaskProgressed) of tasks and batches another broker
//   watches are queued for that broker and PUBLISHed to `<prefix>bus:<its id>` at the turn's
//   end: one PUBLISH per watching broker per turn; nothing at all when nobody elsewhere
//   watches (a hash lookup per outcome).
// * Delivery. Outcomes received are handed to the local listeners (TaskWaiters,
//   BatchEvents) as if they had happened here.
// * Loss. Pub/sub is at-most-once: a message published while a broker is not subscribed is
//   lost. On every (re)subscribe the broker says hello (the others announce their watches
//   again), announces its own, and runs the resync callbacks: the existing re-reads of
//   watched tasks and batches. The periodic re-reads stay as the safety net.
// * Order. Redis does not order its writes across connections: a watch PUBLISHed before a
//   batch is stored can reach this broker after the reply of the claim that starts the
//   batch's first task. So the outcomes of batch tasks that nobody watched are kept for
//   kReplayMs (at most kMaxReplay of them), and a broker's first watch of a batch gets that
//   batch's kept outcomes at once, in order.
// Thread: the reactor thread. Owner: BrokerRuntime; holds references only.
class ClusterBus : public LifecycleObserver {
 public:
  struct Counters {
    uint64_t published = 0;       // PUBLISH commands sent (ctl and events)
    uint64_t events_sent = 0;     // outcomes sent to other brokers
    uint64_t events_received = 0; // outcomes received from other brokers
    uint64_t bad_messages = 0;    // payloads that did not decode
    uint64_t resubscribes = 0;    // (re)subscriptions, each followed by a resync
  };
  // Entries of remote watches kept (tasks, batches); past it a watch is ignored and the
  // periodic re-read serves it.
  static constexpr size_t kMaxRemoteWatches = 1'000'000;
  static constexpr size_t kMaxOwnWatches = 1'000'000;
  // Ids per announcement and outcomes per PUBLISH.
  static constexpr size_t kChunk = 5000;
  // Outcomes of unwatched batch tasks kept for a late watch (see "Order").
  static constexpr int64_t kReplayMs = 2000;
  static constexpr size_t kMaxReplay = 4096;

  // PUBLISHes `payload` on `channel`: on the broker's main connection (ordered with its
  // submits); tests route payloads between buses directly.
  using Publisher = std::function<void(const std::string& channel, std::string payload)>;
  // `subscribe`: a connection of its own, put in subscriber mode here whenever it is ready.
  ClusterBus(std::string broker_id, const std::string& prefix, Publisher publish,
             RedisConnection& subscribe, const Clock& clock = SystemClock::Instance());
  // The publisher for a broker's main connection (replies ignored: pub/sub is best effort).
  static Publisher On(RedisConnection& redis);

  // ---- wiring (before serving) ----
  void AddListener(LifecycleObserver& listener) { listeners_.push_back(&listener); }
  void AddResync(std::function<void()> resync) { resyncs_.push_back(std::move(resync)); }
  // Called with each Admin message of another broker (queue resumed, worker quiet).
  void OnAdmin(std::function<void(const bus::Admin&)> handler) { on_admin_ = std::move(handler); }

  // ---- admin changes, to every other broker at once (PUBLISHed now, best effort) ----
  void PublishAdmin(const std::string& what, const std::string& name);

  // ---- this broker's clients' interest ----
  void WatchTask(const std::string& task_id);
  void WatchTasks(const std::vector<std::string>& task_ids);
  void WatchBatch(const std::string& batch_id);
  // A watched task was seen ended by a re-read (its message was lost, or never sent): it is
  // no longer announced again after a hello.
  void Unwatch(const std::string& task_id) { own_tasks_.erase(task_id); }

  // ---- LifecycleObserver: this broker's outcomes, sent where they are watched ----
  void TaskEnded(const std::string& task_id, protocol::TaskInfo* known) override;
  void TaskStarted(const protocol::TaskMsg& task) override;
  // To the brokers watching its batch and those watching the task itself (a WAIT there).
  void TaskProgressed(const std::string& task_id, double fraction,
                      const std::string& message) override;
  void TaskFinished(const FinishOutcome& outcome, const protocol::Done* done) override;
  void TaskCancelled(const std::string& task_id, const std::string& reason) override;
  void BatchesChanged(const BatchChanges& batches) override;

  // Sends the turn's announcements and outcomes (before the turn's store calls).
  void Flush();
  // Sends the announcements only: before a store call made mid-turn (a BATCH is written at
  // once) whose outcomes another broker must already know to be watched.
  void FlushWatches();
  // Drops the watches of brokers not in `live` (the registry's live brokers).
  void ForgetBrokersExcept(const std::unordered_set<std::string>& live);

  // A payload received on `channel` (public for tests; the subscriber calls it).
  void OnMessage(std::string_view channel, std::string_view payload);

  const std::string& broker_id() const { return id_; }
  bool subscribed() const { return subscribed_; }
  const Counters& counters() const { return counters_; }
  size_t remote_watches() const { return remote_tasks_.size() + remote_batches_.size(); }

 private:
  using Watchers = std::unordered_map<std::string, std::vector<std::string>>;
  void OnPush(const redisReply* r);
  void OnSubscribed();
  void OnCtl(std::string_view payload);
  void OnEvents(std::string_view payload);
  void AnnounceAll();
  void Publish(const std::string& channel, std::string payload);
  // Queues `e` for every broker in `to`.
  void Send(const std::vector<std::string>& to, const bus::Event& e);
  // True iff `broker` is new among `key`'s watchers.
  static bool AddWatcher(Watchers& w, const std::string& key, const std::string& broker);
  // Sends `e` to the watchers of `batch_id`, or keeps it for a late watch if there are none.
  void SendOrKeep(const std::string& batch_id, const bus::Event& e);
  // A first watch of `batch_id` by `broker`: the kept outcomes of that batch, to it.
  void Replay(const std::string& batch_id, const std::string& broker);
  // Drops kept outcomes older than kReplayMs or past kMaxReplay.
  void Prune(int64_t now_ms);

  std::string id_;
  std::string ctl_channel_;
  std::string own_channel_;
  std::string inbox_prefix_;  // `<prefix>bus:`
  Publisher publish_;
  RedisConnection& subscribe_;
  std::vector<LifecycleObserver*> listeners_;
  std::vector<std::function<void()>> resyncs_;
  std::function<void(const bus::Admin&)> on_admin_;  // null: admin messages are ignored

  Watchers remote_tasks_;    // task id -> brokers watching it
  Watchers remote_batches_;  // batch id -> brokers watching it
  const Clock& clock_;
  std::unordered_map<std::string, std::string> running_;  // task -> its batch (started here)
  struct Kept {
    int64_t at_ms;  // monotonic
    std::string batch_id;
    bus::Event event;
  };
  std::deque<Kept> kept_;  // unwatched batch outcomes, oldest first (see "Order")
  // False once the registry shows this broker alone: then nothing is kept (one broker pays
  // nothing for the bus).
  bool keep_ = true;
  // The brokers in remote_batches_ (each once), for TaskCancelled; recomputed when stale.
  std::vector<std::string> batch_watchers_;
  bool batch_watchers_stale_ = true;
  std::unordered_set<std::string> own_tasks_;    // watched here (announced)
  std::unordered_set<std::string> own_batches_;  // watched here (announced)
  bus::Watch pending_watch_;                     // this turn's new announcements
  std::map<std::string, std::vector<bus::Event>> outbox_;  // broker -> this turn's outcomes
  int confirmations_ = 0;  // SUBSCRIBE confirmations of the current connection
  bool subscribed_ = false;
  Counters counters_;
};

}  // namespace taskmill::broker
