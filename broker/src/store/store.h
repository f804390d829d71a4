#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lua/scripts.h"
#include "redis/redis_connection.h"
#include "store/store_types.h"
#include "store/task_store.h"
#include "taskmill/shared/clock.h"
#include "taskmill/shared/limit_spec.h"
#include "taskmill/shared/protocol/messages.h"

namespace taskmill::broker {

// The durable task store: every task state change is one Lua script (broker/src/lua/),
// atomic in Redis. Every verb is batched: one call carries many items and is one EVALSHA,
// and all calls made in one reactor turn travel in one pipeline. Key layout and each
// script's contract: docs/architecture.md ("Redis store").
//
// Callbacks run on the reactor thread from RedisConnection::HandleEvents, with a Result:
// kStoreUnavailable when Redis is unreachable (nothing was recorded, or the reply was lost
// and the call's effect is unknown: callers retry idempotently), kInternal for a reply of the
// wrong shape, kInvalidArgument for a request that failed validation (nothing was sent).
// Time comes from the injected clock and is passed to the scripts (never Redis TIME), so
// tests drive backoff and lease expiry with a FakeClock.
//
// Lifecycle: constructed after the connection (it registers the scripts) and destroyed
// before it. Thread: the reactor thread. Owner: the broker; holds references only.
class Store : public TaskStore {
 public:
  template <typename T>
  using Callback = std::function<void(Result<T>)>;

  Store(RedisConnection& conn, const Clock& clock, StoreOptions options = {});
  // Tests: the same store running other scripts (an older layout's, to write a store the way
  // that version did); a verb missing from `scripts` runs today's.
  Store(RedisConnection& conn, const Clock& clock, StoreOptions options,
        std::span<const LuaScript> scripts);

  // A spec the store can hold: protocol::ValidateTaskSpec, plus an id (assigned by then) and
  // parent ids that are valid names ([A-Za-z0-9_.-]{1,128}, protocol::ValidateName, which
  // also applies to queue, type, batch and worker ids: they all appear in Redis keys).
  // `where` prefixes messages ("tasks[3]"). Enqueue trusts its caller to have checked this
  // (the broker does, once, at the edge: service/request_checks.h) and asserts it only in
  // debug builds.
  static Result<void> ValidateSpec(const protocol::TaskSpec& spec, std::string_view where);
  // The jitter unit the scripts draw for the i-th failure (1-based) of a call with `seed`.
  static double JitterUnit(double seed, uint32_t i);

  // Adds tasks. Specs without an id get one (NewId). depends_on holds parent task *ids*.
  // With options().max_queue_depth set, a call that would put a queue past it fails whole
  // with kQueueFull (for EnqueueBatch too); nothing is written. The specs are serialised
  // before it returns (the caller may keep them, to enqueue them again another way).
  // `owners` (empty, or one per spec): the CURVE key each task is stored as owned by ("" =
  // nobody), which limits who may read and cancel it (Get, GetBatch, Cancel with an owner).
  // `requests` (RequestKey, store_types.h): a request id seen before stores nothing again;
  // its specs' outcomes are the first call's ids, as duplicates (replayed). Decided inside
  // the script, so a resend racing the first call (this broker or another) is caught too.
  void Enqueue(const std::vector<protocol::TaskSpec>& specs, Callback<EnqueueResult> cb,
               const std::vector<std::string>& owners = {},
               const std::vector<RequestKey>& requests = {}) override;
  // Adds a batch atomically (all or nothing). Each spec has a unique name; depends_on holds
  // parent task ids of this batch or of stored tasks, parents before children (ResolveBatch,
  // batch_resolver.h, produces exactly that from a BatchSpec).
  // With a request id seen before: nothing is stored; EnqueueResult::replayed_batch names the
  // first call's batch.
  void EnqueueBatch(std::string batch_id, BatchSettings budget,
                    std::vector<protocol::TaskSpec> specs, Callback<EnqueueResult> cb,
                    std::string owner = "", RequestKey request = {}) override;
  // Leases ready tasks to several workers in one script call (claim.lua), each request in
  // turn as if alone. A request that fails validation gets its own error and is not sent; one
  // with n == 0 or no queues gets no tasks.
  void ClaimMany(std::vector<ClaimRequest> requests, Callback<ClaimsResult> cb) override;
  // One request alone (tests, tools): ClaimMany of one, its batches in the result.
  void Claim(ClaimRequest request, Callback<ClaimResult> cb);
  // Records DONE messages from several workers in one script call: success (Done.ok) or
  // failure. The arguments are serialised before it returns, so the caller keeps `done` (to
  // send again after a lost reply: fencing makes a repeat harmless). A call with an invalid
  // DONE fails whole with kInvalidArgument (nothing sent).
  void FinishMany(const std::vector<DoneGroup>& groups, const std::vector<protocol::Done>& done,
                  Callback<FinishResult> cb) override;
  // The DONEs of one worker (tests, tools).
  void Finish(const std::string& worker_id, const std::vector<protocol::Done>& done,
              Callback<FinishResult> cb);
  // Moves due delayed tasks to their ready queues.
  void Promote(uint32_t limit, Callback<PromoteResult> cb);
  // Fails expired leases as retryable (lease_expired, or timeout).
  void Reap(uint32_t limit, Callback<FinishResult> cb);
  // Heartbeat: pushes the worker's lease deadlines to now + lease_ms.
  void Extend(std::string worker_id, uint32_t lease_ms, Callback<ExtendResult> cb);
  // The worker is gone: all its leases fail as retryable (worker_lost), except those of the
  // task ids in `keep` (a worker that moved here from another broker still holds those).
  // Stores the latest progress of running attempts (progress.lua), fenced by their tokens.
  void SaveProgress(std::vector<ProgressWrite> writes, Callback<ProgressSaved> cb);
  void ReleaseWorker(std::string worker_id, Callback<FinishResult> cb,
                     std::vector<std::string> keep = {}) override;
  // `owner` (here and in Get, GetBatch): "" acts on every task; else tasks (batches) owned
  // by another key are left alone and reported as unknown. `batch` (a CANCEL of a batch, `ids`
  // its members): the batch is marked cancelled, so nothing more can be appended to it, and
  // members appended after `ids` were read are cancelled too (cancel.lua).
  void Cancel(std::vector<std::string> ids, std::string reason, Callback<CancelResult> cb,
              std::string owner = "", std::string batch = "") override;
  // Full state of tasks; nullopt for unknown (or expired) ids.
  void Get(std::vector<std::string> ids,
           Callback<std::vector<std::optional<protocol::TaskInfo>>> cb, std::string owner = "");
  // A batch's status ({} when owned by someone else than a non-empty `owner`); its name map
  // is read a page (kBatchNamesPerPage) per script call.
  void GetBatch(std::string batch_id, Callback<std::optional<protocol::BatchStatus>> cb,
                std::string owner = "");
  // The same, with the key that owns the batch: BATCH append_to stores the new tasks as
  // owned by it, whoever (its owner or an admin) appends them.
  void GetOwnedBatch(std::string batch_id, Callback<std::optional<OwnedBatch>> cb,
                     std::string owner = "");
  // Per-queue depth and counters of these queues; empty: every known queue, in one reply
  // (tools and tests: STATS uses StatsPage).
  void Stats(std::vector<std::string> queues, Callback<std::vector<QueueCounters>> cb);
  // Up to `limit` known queues, by name, after `after` ("" = from the first). O(1) per queue.
  void StatsPage(std::string after, uint32_t limit, Callback<broker::StatsPage> cb);
  // Dead letters, newest first; queue "" = every queue.
  void DeadList(std::string queue, uint32_t limit, Callback<std::vector<protocol::TaskInfo>> cb);
  // Back to ready with attempts reset; ids empty = the oldest `limit` of the queue(s).
  void DeadRetry(std::string queue, std::vector<std::string> ids, uint32_t limit,
                 Callback<std::vector<std::string>> cb);
  void DeadPurge(std::string queue, std::vector<std::string> ids, uint32_t limit,
                 Callback<std::vector<std::string>> cb);
  // One page of LIST (list.lua): `req` passed protocol::ValidateList; `owner` as Get. Reads
  // at most `scan` index entries (>= req.limit).
  void List(const protocol::List& req, std::string owner, uint32_t scan, Callback<ListPage> cb);
  // UPDATE (update.lua): `req` passed protocol::ValidateUpdate. kNotFound for an unknown id
  // (or another owner's), kConflict naming the state for a task not in a state the op takes.
  // The task as it is now.
  void Update(const protocol::Update& req, std::string owner, Callback<protocol::TaskInfo> cb);

  // Replaces queue's limits and fairness (limit.lua), or removes them with `clear`; `limits`
  // were checked by ParseQueueLimits. The result is the setting's text now ("" = none).
  void SetLimit(std::string queue, bool clear, const QueueLimits& limits,
                Callback<std::string> cb);

  // ---- Administration (admin_store.cc) ----
  // Pauses (no task of it is leased, by any broker) or resumes a queue (queue_pause.lua); the
  // result is whether it is paused now. Shared by every broker on this Redis and prefix.
  void SetQueuePaused(std::string queue, bool paused, Callback<bool> cb);
  // How long a quiet record outlives the last time a broker saw its worker connected (every
  // broker refreshes those of its workers: QuietWorkers): the clean-up of a worker gone for good.
  static constexpr int64_t kQuietTtlMs = 24 * 3600 * 1000;
  // Records (for ttl_ms) or removes a worker's quiet state (worker_quiet.lua); the result is
  // whether it is quiet now.
  void SetWorkerQuiet(std::string worker_id, bool quiet, int64_t ttl_ms, Callback<bool> cb);
  // Which of these worker ids are quiet; their records' TTLs start again (kQuietTtlMs).
  void QuietWorkers(std::vector<std::string> worker_ids, Callback<std::vector<std::string>> cb);

  // CURVE: binds each worker id to the key that registered it, shared by every broker on this
  // Redis for `ttl_ms` after the last refresh. The result has one entry per pair: "" when it
  // is (now) bound to that key, else the key it belongs to.
  void BindWorkers(std::vector<std::pair<std::string, std::string>> bindings, int64_t ttl_ms,
                   Callback<std::vector<std::string>> cb);

  // ---- Schedules (schedule_store.cc; docs/architecture.md, "Schedules") ----
  // Adds or replaces a schedule (schedule_put.lua); `def` passes protocol::ValidateSchedule
  // (checked again here); `next_ms` is its first tick. The stored schedule comes back.
  void SchedulePut(const protocol::ScheduleInfo& def, int64_t next_ms, std::string owner,
                   Callback<StoredSchedule> cb);
  // These schedules (`names`), or up to `limit` in name order after `after`.
  void ScheduleList(std::vector<std::string> names, std::string after, uint32_t limit,
                    Callback<ScheduleListing> cb);
  // Pause, resume (first tick `next_ms`) or remove; kNotFound for an unknown name. The
  // schedule as it is now (nullopt once removed).
  void ScheduleState(std::string name, protocol::ScheduleOp op, int64_t next_ms,
                     Callback<std::optional<StoredSchedule>> cb);
  // Up to `limit` schedules whose next tick has come, earliest first.
  void ScheduleDue(uint32_t limit, Callback<ScheduleListing> cb);
  // Claims a tick and, if this call wins it, stores `spec` (owned by `owner`) in the same
  // script call (enqueue.lua, A.tick): exactly one task per tick across brokers.
  void EnqueueTick(protocol::TaskSpec spec, const std::string& owner, const TickClaim& tick,
                   Callback<TickOutcome> cb) override;

  const StoreOptions& options() const { return options_; }
  // True iff its Redis connection is ready (calls would not fail at once).
  bool ready() const { return conn_.ready(); }
  // Every call fails at once with kStoreUnavailable while *open is false (the broker's
  // layout check has not passed yet: store_layout.h); null (the default): always open.
  void SetGate(const std::atomic<bool>* open) { gate_ = open; }
  // Tests: replaces the random jitter seed source (default: a seeded mt19937_64).
  void SetJitterSource(std::function<double()> draw) { jitter_ = std::move(draw); }

 private:
  enum Script : size_t {
    kEnqueue,
    kClaim,
    kFinish,
    kPromote,
    kReap,
    kExtend,
    kReleaseWorker,
    kCancel,
    kGet,
    kGetBatch,
    kStats,
    kDeadList,
    kDeadRetry,
    kDeadPurge,
    kBindWorkers,
    kProgress,
    kLimit,
    kSchedulePut,
    kScheduleList,
    kScheduleState,
    kScheduleDue,
    kList,
    kUpdate,
    kQueuePause,
    kWorkerQuiet,
    kScriptCount
  };
  // Name -> id pairs per get_batch page, and the most pages one GetBatch reads.
  static constexpr uint32_t kBatchNamesPerPage = 1000;
  static constexpr uint32_t kMaxBatchPages = 1000;
  struct BatchGather {
    std::string batch_id;
    std::string owner;
    Callback<std::optional<OwnedBatch>> cb;
    std::optional<OwnedBatch> batch;  // the first page, then every page's names
    uint32_t pages = 0;
  };
  void GetBatchPage(std::shared_ptr<BatchGather> gather, std::string cursor);
  // Validates and sends one enqueue call (every spec has its id; `owners` as in Enqueue).
  void EnqueueSpecs(const std::string& batch_id, const BatchSettings& budget,
                    const std::vector<protocol::TaskSpec>& specs,
                    const std::vector<std::string>& owners,
                    const std::vector<RequestKey>& requests, Callback<EnqueueResult> cb);
  // Runs a script with KEYS[1] = <prefix>layout, ARGV[1] = the header at `now_ms` and
  // ARGV[2] = `packed_args` (msgpack; the contract is in lib/prelude.lua).
  template <typename T>
  void Send(Script s, int64_t now_ms, std::string packed_args, Callback<T> cb,
            std::function<Result<T>(const redisReply*)> parse);

  // Sends calls deferred by max_in_flight while there is room (never re-entered).
  void RunDeferred();

  RedisConnection& conn_;
  const Clock& clock_;
  const std::atomic<bool>* gate_ = nullptr;     // calls refused while *gate_ is false
  uint32_t in_flight_ = 0;                      // script calls sent and not yet answered
  std::deque<std::function<void()>> deferred_;  // calls waiting for room (max_in_flight)
  bool running_deferred_ = false;               // true iff inside RunDeferred
  StoreOptions options_;
  size_t handles_[kScriptCount] = {};
  std::mt19937_64 rng_;
  std::function<double()> jitter_;
};

}  // namespace taskmill::broker
