#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "lifecycle/lifecycle_observer.h"
#include "taskmill/shared/protocol/messages.h"

namespace taskmill::broker {

// A connected worker as the broker tracks it.
struct WorkerState {
  std::string identity;  // ROUTER identity (routing key)
  std::string id;        // worker_id from READY (lease owner in Redis)
  std::string key;       // the connection's CURVE key (ZAP user id); "" without CURVE
  std::vector<std::string> queues;
  std::vector<std::string> types;  // empty: any type
  uint32_t concurrency = 1;
  protocol::Labels labels;
  std::unordered_map<std::string, uint64_t>
      in_flight;             // task id -> fencing token, sent and not yet DONE
  uint32_t claiming = 0;     // slots reserved by claims awaiting Redis
  int64_t last_seen_ms = 0;  // monotonic ms of the last message from it
  bool draining = false;     // true iff told to DRAIN: gets no new tasks
  // True iff its last claim came back short and nothing it serves became ready since: it
  // claims again only when woken (work in its queues, the idle tick), not after each DONE.
  bool idle = false;
  // True iff its last claim passed over tasks because of a queue limit (a rate, concurrency
  // or cost rate): it claims again after each of its DONEs (its own lease ended, a slot of
  // the cap may be free) besides the idle tick.
  bool held = false;
  // True iff quiet (`taskmill worker quiet`, WORKER 0x0D): it keeps its tasks (their DONEs
  // count) and is leased nothing new. Set here, by the bus from another broker, or read from
  // Redis (quiet:<id>) when it registers and every quiet refresh.
  bool quiet = false;
  // True iff its quiet record was read since it registered on this connection: until then
  // it is leased nothing (one Redis round trip), so a quiet worker that moves here stays quiet.
  bool quiet_known = false;
  // Times its quiet state was set (SetQuiet): a read of the record sent before the latest
  // change (a bus message overtaking it) must not undo that change.
  uint64_t quiet_changes = 0;
  uint64_t wakes = 0;        // times woken: a claim sent before the latest wake cannot idle it
  uint32_t promised = 0;     // free slots counted this turn for tasks being enqueued

  // Free slots not yet counted for tasks enqueued this turn.
  uint32_t UnpromisedSlots() const {
    uint32_t free = FreeSlots();
    return free > promised ? free - promised : 0;
  }

  uint32_t FreeSlots() const {
    uint32_t used = static_cast<uint32_t>(in_flight.size()) + claiming;
    return used >= concurrency ? 0 : concurrency - used;
  }
  bool Serves(const std::string& queue) const;
  bool ServesType(const std::string& type) const;
  void Wake() {
    idle = false;
    ++wakes;
  }
};

// The workers connected to this broker, keyed by ROUTER identity, with liveness.
// Thread: the reactor thread. Owner: the Broker.
class WorkerRegistry {
 public:
  // Registers (or re-registers) a worker. If another identity held the same worker id,
  // that older entry is removed and returned so its leases can be released.
  std::optional<WorkerState> Register(const std::string& identity, const protocol::Ready& ready,
                                      int64_t now_ms);
  WorkerState* Find(const std::string& identity);
  WorkerState* FindById(const std::string& worker_id);
  const WorkerState* FindById(const std::string& worker_id) const;
  void Touch(const std::string& identity, int64_t now_ms);
  std::optional<WorkerState> Remove(const std::string& identity);
  // Removes and returns every worker silent since before `deadline_ms`.
  std::vector<WorkerState> TakeSilentSince(int64_t deadline_ms);

  std::vector<WorkerState*> All();
  // True iff no worker holds a task or has a claim in flight.
  bool NoneBusy() const;
  size_t size() const { return by_identity_.size(); }
  // True iff a registered worker takes `type` tasks from `queue` (it lists the queue, and
  // the type or no types at all). From an index rebuilt after workers come or go.
  bool AnyServes(const std::string& queue, const std::string& type) const;
  // Sets worker `worker_id`'s quiet state (an unquieted worker is woken); false if it is not
  // registered here.
  bool SetQuiet(const std::string& worker_id, bool quiet);
  // Marks idle workers serving `queue` (or every worker when empty) as worth a claim.
  void WakeQueue(const std::string& queue);
  // Tasks about to be enqueued (their claims follow the enqueue in the same turn): wakes only
  // as many workers serving each queue and type as have free slots for them, those that claim
  // this turn anyway (not idle) counted first, then the idle ones with the most free slots.
  // Where the free slots are fewer than the tasks, every worker serving them is woken, so
  // each claims as soon as it has a free slot.
  void WakeFor(const std::vector<ReadyTasks>& ready);
  std::vector<protocol::WorkerInfo> Describe() const;
  // Slots of all workers: busy (running or being claimed for) and free (for /metrics).
  struct SlotCounts {
    uint64_t busy = 0;
    uint64_t free = 0;
  };
  SlotCounts CountSlots() const;
  // One STATS page: up to `limit` workers with ids after `after`, by id, each with at most
  // `max_label_bytes` of labels (whole labels, in key order); `more` tells whether workers
  // remain past the page.
  std::vector<protocol::WorkerInfo> DescribePage(const std::string& after, size_t limit,
                                                 size_t max_label_bytes, bool& more) const;

 private:
  void IndexServed() const;

  std::unordered_map<std::string, WorkerState> by_identity_;
  std::unordered_map<std::string, std::string> identity_by_id_;  // worker id -> identity
  // AnyServes' index, rebuilt on the first question after a Register or Remove.
  mutable bool served_stale_ = true;                         // true iff not rebuilt since
  mutable std::unordered_set<std::string> served_;           // queue + '\0' + type
  mutable std::unordered_set<std::string> any_type_queues_;  // queues of workers of any type
};

}  // namespace taskmill::broker
