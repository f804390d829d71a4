#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>

#include "redis/redis_config.h"
#include "taskmill/shared/error.h"

namespace taskmill::broker {

// The Redis key layout this broker reads and writes. Bump it with every change that an older
// or newer broker would misread, and append the step that migrates the previous version
// (broker/src/lua/layout_v<N>_v<N+1>.lua) to kLayoutSteps. docs/architecture.md ("Layout
// version") lists what each version changed.
inline constexpr int64_t kStoreLayoutVersion = 5;

// One migration step: its script turns a store of version `from` into version `from + 1`,
// a budget of work per call (so Redis is never held for long), and sets <prefix>layout to
// `from + 1` in its last call.
struct LayoutStep {
  int64_t from;
  std::string_view script;  // a name in AllScripts(), e.g. "layout_v1_v2"
  // What the script's counts are, one per count, for the log line at the end of the step.
  std::span<const std::string_view> counts;
};
inline constexpr std::string_view kV1V2Counts[] = {
    "queues", "task types kept", "task types dropped (no ready task)", "queued tasks counted",
    "running tasks given their attempt as fencing token"};
inline constexpr std::string_view kV2V3Counts[] = {
    "idempotency keys moved under their owner's key",
    "idempotency keys left as they were (no owner)"};
inline constexpr std::string_view kV3V4Counts[] = {
    "task records converted to the lean record", "task records found converted already"};
inline constexpr std::string_view kV4V5Counts[] = {
    "finished-task indexes made lists", "finished tasks moved into the lists",
    "running tasks whose fencing token moved into their lease"};
inline constexpr LayoutStep kLayoutSteps[] = {
    {1, "layout_v1_v2", kV1V2Counts},  // qindex, queued gauges, pruned types (issue 13)
    {2, "layout_v2_v3", kV2V3Counts},  // idempotency keys per owner (issue 13)
    {3, "layout_v3_v4", kV3V4Counts},  // the lean task record: spec and result encoded (issue 15)
    {4, "layout_v4_v5", kV4V5Counts},  // done lists, no TTL per finished task, tokens in wl: (issue 15)
};
static_assert(kLayoutSteps[std::size(kLayoutSteps) - 1].from + 1 == kStoreLayoutVersion,
              "the last migration step must reach kStoreLayoutVersion");

struct StoreLayoutOptions {
  std::string prefix = "tm:";  // the store's key prefix (BrokerOptions::prefix)
  uint32_t chunk = 1000;       // units of work (a queue, a type, a lease) per script call
  int64_t lock_ttl_ms = 10000;  // the migration lock lapses this long after its last chunk
  int64_t poll_ms = 100;        // between probes while Redis is down or another broker migrates
  int64_t io_timeout_ms = 5000;  // per Redis command
  // Tests: stop after this many migration chunks, leaving the lock to lapse, as a broker
  // killed half-way would (0 = no limit).
  uint32_t max_chunks = 0;
  // Polled between probes: true ends the wait with kStoreUnavailable (the broker is stopping).
  std::function<bool()> stop_requested;
  // False: instead of waiting (Redis unreachable or refusing, another broker migrating),
  // return kStoreUnavailable at once; the caller retries later (LayoutCheckThread).
  bool wait = true;
};

// What EnsureStoreLayout found and did.
struct LayoutOutcome {
  int64_t found_version = 0;  // the store's version at the first probe
  bool migrated_here = false;  // this call ran at least one migration chunk
  // Totals of the v1 -> v2 step, when this call ran it (as the step script counts them).
  int64_t queues = 0, types_kept = 0, types_dropped = 0, queued = 0, fenced = 0;
  // Totals of the v2 -> v3 step, when this call ran it.
  int64_t idem_moved = 0, idem_kept = 0;
  // Totals of the v3 -> v4 step, when this call ran it.
  int64_t records_converted = 0, records_found = 0;
  // Totals of the v4 -> v5 step, when this call ran it.
  int64_t done_lists = 0, done_moved = 0, tokens_moved = 0;
};

// Makes the store at `config` hold layout kStoreLayoutVersion before the broker serves, over
// its own synchronous connection: an empty store gets the version; an older one is migrated
// step by step under a lock (<prefix>layout:lock) so that of several brokers starting at once
// one migrates and the others wait; a migration interrupted half-way is continued by the next
// broker to start (its progress is in Redis). Waits while Redis is unreachable or loading.
// Errors: kConflict for a store newer than this broker (the message names both versions);
// kStoreUnavailable when stop_requested ended a wait, or at once when `wait` is false and
// Redis is unreachable or refuses (any error reply) or another broker migrates; kInternal
// for a reply of the wrong shape.
// Thread: the caller's (the broker calls it before its reactor starts). Logs at info.
Result<LayoutOutcome> EnsureStoreLayout(const RedisConfig& config,
                                        const StoreLayoutOptions& options);

// EnsureStoreLayout (waiting) on a thread of its own, for a broker that could not check the
// layout at start (Redis unreachable): the broker serves, its stores refuse every call
// (Store::SetGate) until ok(); failure() is set when the check failed for good (a newer
// store), and the broker then stops with it. Lifecycle: starts in the constructor; the
// destructor stops the wait and joins. Owner: the broker's Run.
class LayoutCheckThread {
 public:
  LayoutCheckThread(RedisConfig config, StoreLayoutOptions options);
  ~LayoutCheckThread();
  LayoutCheckThread(const LayoutCheckThread&) = delete;
  LayoutCheckThread& operator=(const LayoutCheckThread&) = delete;

  // True once the store holds this broker's layout; Store::SetGate reads it.
  const std::atomic<bool>& ok() const { return ok_; }
  // The error that ended the check (not a stop), once there is one.
  std::optional<Error> failure() const;

 private:
  std::atomic<bool> stop_{false};    // true iff the destructor asked the thread to end
  std::atomic<bool> ok_{false};      // true iff the layout is checked (and migrated)
  std::atomic<bool> failed_{false};  // true iff error_ is written
  Error error_;                      // written once by the thread before failed_
  std::thread thread_;
};

}  // namespace taskmill::broker
