#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "store/store_types.h"
#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/messages.h"

namespace taskmill::broker {

// The task state transitions the lifecycle layer (lifecycle/task_lifecycle.h) asks of the
// durable store: what Store (store.h: Redis and Lua) does, and what the in-memory fake of
// the unit tests (broker/test/fake_task_store.h) imitates. Each verb takes many items in one
// call; its callback runs later on the reactor thread (never inside the call itself), with
// the errors Store documents (kStoreUnavailable, kStoreFull, kQueueFull, kInternal).
// The store trusts its caller: specs were validated at the edge (request_checks.h).
// Thread: the reactor thread. Owner: the broker (Store) or the test (the fake).
class TaskStore {
 public:
  template <typename T>
  using Callback = std::function<void(Result<T>)>;

  virtual ~TaskStore() = default;

  // `owners`: empty, or one CURVE key per spec ("" = nobody). `requests`: the request ids of
  // the SUBMITs whose specs the call carries (store_types.h, RequestKey), in spec order.
  virtual void Enqueue(const std::vector<protocol::TaskSpec>& specs, Callback<EnqueueResult> cb,
                       const std::vector<std::string>& owners = {},
                       const std::vector<RequestKey>& requests = {}) = 0;
  // `request`: the BATCH's request id (id "" = none; first/count unused).
  virtual void EnqueueBatch(std::string batch_id, BatchSettings budget,
                            std::vector<protocol::TaskSpec> specs, Callback<EnqueueResult> cb,
                            std::string owner = "", RequestKey request = {}) = 0;
  // The claims of several workers (a reactor turn's) in one call, made one after the other in
  // request order; ClaimsResult::claims has one entry per request.
  virtual void ClaimMany(std::vector<ClaimRequest> requests, Callback<ClaimsResult> cb) = 0;
  // The DONEs of several workers in one call: `done` split by `groups` in order (the counts
  // add up to done.size()); FinishResult::items has one item per DONE, in order. Both are
  // serialised before it returns (the caller keeps them, to send again after a lost reply).
  virtual void FinishMany(const std::vector<DoneGroup>& groups,
                          const std::vector<protocol::Done>& done, Callback<FinishResult> cb) = 0;
  virtual void Promote(uint32_t limit, Callback<PromoteResult> cb) = 0;
  virtual void Reap(uint32_t limit, Callback<FinishResult> cb) = 0;
  virtual void Extend(std::string worker_id, uint32_t lease_ms, Callback<ExtendResult> cb) = 0;
  virtual void ReleaseWorker(std::string worker_id, Callback<FinishResult> cb,
                             std::vector<std::string> keep = {}) = 0;
  virtual void Cancel(std::vector<std::string> ids, std::string reason, Callback<CancelResult> cb,
                      std::string owner = "", std::string batch = "") = 0;
  virtual void Get(std::vector<std::string> ids,
                   Callback<std::vector<std::optional<protocol::TaskInfo>>> cb,
                   std::string owner = "") = 0;
  virtual void DeadRetry(std::string queue, std::vector<std::string> ids, uint32_t limit,
                         Callback<std::vector<std::string>> cb) = 0;
  // A schedule's tick: stores `spec` only if this call claims the tick (store.h). The fake
  // store of the unit tests has no schedules: kInternal.
  virtual void EnqueueTick(protocol::TaskSpec spec, const std::string& owner,
                           const TickClaim& tick, Callback<TickOutcome> cb) {
    (void)spec;
    (void)owner;
    (void)tick;
    cb(MakeError(ErrorCode::kInternal, "this store keeps no schedules"));
  }
  // True iff calls would not fail at once (its Redis connection is up).
  virtual bool ready() const = 0;
};

// The store's own failures (unreachable, full): a request retried alone meets them too, and a
// result refused for them is kept and sent again.
inline bool IsStoreError(ErrorCode code) {
  return code == ErrorCode::kStoreUnavailable || code == ErrorCode::kStoreFull;
}

}  // namespace taskmill::broker
