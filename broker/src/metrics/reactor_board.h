#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace taskmill::broker {

// One registered worker as the dashboard shows it (GET /api/workers).
struct WorkerView {
  std::string id;
  std::string host;  // the worker's `host` label, else ""
  std::vector<std::string> queues;
  std::vector<std::string> types;  // empty: any type
  uint32_t slots = 0;              // its concurrency
  uint32_t in_flight = 0;          // tasks sent and not yet DONE
  int64_t last_seen_ms = 0;        // monotonic ms of its last message (heartbeat or other)
  bool draining = false;           // true iff told to drain
  bool quiet = false;              // true iff quiet (taskmill worker quiet)
};

// The most workers and recent batch ids a snapshot carries (each publish copies them).
constexpr size_t kMaxWorkerViews = 1000;
constexpr size_t kMaxRecentBatches = 200;

// What the reactor knows about itself, copied out for the HTTP threads.
struct ReactorSnapshot {
  uint64_t bad_frames = 0;        // frames refused by the decoder or as out of place
  uint64_t wrong_port = 0;        // of those, the other port's protocol (client <-> worker)
  uint64_t bad_request_ids = 0;   // SUBMITs and BATCHes refused for their request_id
  uint64_t request_replays = 0;   // resent SUBMITs and BATCHes answered from the first reply
  uint64_t bad_limits = 0;        // LIMITs refused for a setting that cannot be parsed
  uint64_t bad_lists = 0;         // LISTs and UPDATEs refused by their checks
  uint64_t bad_admin = 0;         // QUEUE and WORKER requests refused (bad name, unknown worker)
  uint64_t stale_results = 0;     // DONEs fenced off (this broker's share)
  // PROGRESS (BrokerCounters): past fencing, coalesced by the throttle, stored, and refused
  // (stale token here or in Redis).
  uint64_t progress_received = 0;
  uint64_t progress_coalesced = 0;
  uint64_t progress_stored = 0;
  uint64_t stale_progress = 0;
  uint64_t tasks_dispatched = 0;  // TASK messages sent
  uint64_t workers_lost = 0;      // workers declared dead by missed heartbeats
  uint64_t curve_allowed = 0;     // CURVE handshakes admitted by the ZAP handler
  uint64_t curve_refused = 0;     // CURVE handshakes refused (key not allowed)
  uint64_t workers = 0;           // workers registered with this broker
  uint64_t slots_busy = 0;        // their slots running or being claimed for
  uint64_t slots_free = 0;        // their slots free
  uint64_t redis_used_bytes = 0;  // Redis's used_memory at the last reading (MemoryGuard)
  uint64_t redis_max_bytes = 0;   // Redis's maxmemory then (0: no limit)
  uint64_t submits_refused_store_full = 0;  // SUBMITs and BATCHes refused near maxmemory
  uint64_t schedules = 0;                // schedules in the store (the ticker's last read)
  uint64_t schedule_ticks_fired = 0;     // ticks this broker stored a task for
  uint64_t schedule_ticks_missed = 0;    // ticks no broker ran in time (found by this broker)
  uint64_t schedule_ticks_lost = 0;      // tick claims another broker won first
  bool redis_ready = false;       // true iff the reactor's connection is up, scripts loaded
  bool draining = false;          // true iff stopping: no new work taken
  bool published = false;         // true iff the reactor has published at least once
  std::string redis_error;        // the last connection error (no secrets)
  // Brokers as one: this broker's id, its bus counters, and the registry as last read.
  std::string broker_id;
  bool bus_subscribed = false;
  uint64_t bus_events_sent = 0;
  uint64_t bus_events_received = 0;
  uint64_t bus_bad_messages = 0;
  uint64_t bus_resubscribes = 0;
  struct ClusterWorker {
    std::string id;
    std::string broker_id;
    uint32_t concurrency = 0;
    uint32_t in_flight = 0;
    std::vector<std::string> queues;
    std::vector<std::string> types;
    std::string host;  // its `host` label, else ""
    bool quiet = false;  // true iff quiet (taskmill worker quiet)
  };
  std::vector<std::string> live_brokers;       // ids, sorted
  std::vector<ClusterWorker> cluster_workers;  // every live broker's workers (registry)
  // The dashboard's detail, filled only while someone asked for it lately (WantDetail), so
  // the reactor copies nothing for it when no dashboard is open.
  bool has_detail = false;                  // true iff the two below were filled
  std::vector<WorkerView> worker_views;     // by id, at most kMaxWorkerViews
  std::vector<std::string> recent_batches;  // batch ids this broker saw change, newest first
};

// Batch ids in the order this broker last saw them change (submitted, progressed,
// finished), newest first, at most kMaxRecentBatches: Redis keeps no index of batches, so
// the dashboard lists the ones this broker has seen since it started.
// Thread: the reactor's. Owner: Broker::Run.
class RecentBatches {
 public:
  void Saw(const std::string& batch_id) {
    if (!ids_.empty() && ids_.front() == batch_id) return;  // the common case: one busy batch
    for (size_t i = 0; i < ids_.size(); ++i) {
      if (ids_[i] != batch_id) continue;
      ids_.erase(ids_.begin() + static_cast<std::ptrdiff_t>(i));
      break;
    }
    ids_.insert(ids_.begin(), batch_id);
    if (ids_.size() > kMaxRecentBatches) ids_.pop_back();
  }
  const std::vector<std::string>& ids() const { return ids_; }

 private:
  std::vector<std::string> ids_;  // newest first
};

// The one place the reactor thread and the HTTP threads meet: the reactor marks every
// turn (one relaxed atomic store) and publishes a snapshot a few times a second; the HTTP
// threads read them. Neither side ever waits on the other for longer than a struct copy.
// Owner: Broker::Run; outlives the HTTP listener.
class ReactorBoard {
 public:
  void MarkTurn(int64_t monotonic_ms) {
    last_turn_ms_.store(monotonic_ms, std::memory_order_relaxed);
  }
  int64_t last_turn_ms() const { return last_turn_ms_.load(std::memory_order_relaxed); }

  void Publish(ReactorSnapshot s) {
    {
      std::lock_guard lock(mu_);
      s.published = true;
      snapshot_ = std::move(s);
    }
    published_.notify_all();
  }
  ReactorSnapshot Read() const {
    std::lock_guard lock(mu_);
    return snapshot_;
  }

  // HTTP side: the dashboard wants the detail (workers, recent batches) until `until_ms`
  // (monotonic). Reactor side: whether to fill it in the next snapshot.
  void WantDetail(int64_t until_ms) const {
    detail_until_ms_.store(until_ms, std::memory_order_relaxed);
  }
  bool DetailWanted(int64_t now_ms) const {
    return now_ms < detail_until_ms_.load(std::memory_order_relaxed);
  }
  // The latest snapshot that has the detail, waiting up to `wait` for the reactor's next
  // publish when the current one has none (the first request after a quiet spell).
  ReactorSnapshot ReadDetail(std::chrono::milliseconds wait) const {
    std::unique_lock lock(mu_);
    published_.wait_for(lock, wait, [&] { return snapshot_.has_detail; });
    return snapshot_;
  }

 private:
  std::atomic<int64_t> last_turn_ms_{0};  // monotonic ms the reactor last finished a turn
  mutable std::atomic<int64_t> detail_until_ms_{0};  // monotonic ms until which detail is wanted
  mutable std::condition_variable published_;        // notified on each Publish
  mutable std::mutex mu_;
  ReactorSnapshot snapshot_;  // guarded by mu_
};

}  // namespace taskmill::broker
