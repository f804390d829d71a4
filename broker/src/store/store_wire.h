#pragma once

// The store's side of the script contracts (broker/src/lua/*.lua; the convention is in
// lib/prelude.lua): the header and arguments encoded as msgpack (store_args.cc) and script
// replies read back into typed results (store_parse.cc). Private to the store.

#include <hiredis/hiredis.h>

#include <msgpack.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/store_types.h"
#include "taskmill/shared/limit_spec.h"
#include "taskmill/shared/protocol/messages.h"

namespace taskmill::broker::wire {

// Shortest round-trip decimal form (costs, multipliers).
std::string Num(double v);
// KEYS[1] of every script: <prefix>layout, the one declared key every other is derived from.
std::string LayoutKey(const StoreOptions& options);
// ARGV[1] of every script (lib/prelude.lua), a msgpack map: now, retention, dead_max,
// finished_max, jitter, idem_ttl, grace.
std::string Header(const StoreOptions& options, int64_t now_ms, double jitter);
// ARGV[2] of the other scripts: a msgpack map with the field names each script's header
// names (broker/src/lua/<verb>.lua).
std::string LimitArgs(uint32_t limit);                  // promote, reap
std::string WorkerArgs(const std::string& worker_id,
                       const std::vector<std::string>& keep = {});  // release_worker
std::string ExtendArgs(const std::string& worker_id, uint32_t lease_ms);
std::string ProgressArgs(const std::vector<ProgressWrite>& writes);
std::string CancelArgs(const std::string& reason, const std::string& owner,
                       const std::vector<std::string>& ids, const std::string& batch = "");
std::string GetArgs(const std::string& owner, const std::vector<std::string>& ids);
std::string GetBatchArgs(const std::string& batch_id, const std::string& owner,
                         const std::string& cursor, uint32_t per_page);
// stats.lua: these queues, or (none) one page of the known queues after `after`.
std::string StatsArgs(const std::vector<std::string>& queues, const std::string& after,
                      uint32_t limit);
std::string DeadListArgs(const std::string& queue, uint32_t limit);
// dead_retry.lua, dead_purge.lua (no ids: the oldest `limit` of the queue, "" = every queue).
std::string DeadArgs(const std::string& queue, uint32_t limit,
                     const std::vector<std::string>& ids);
std::string BindWorkersArgs(int64_t ttl_ms,
                            const std::vector<std::pair<std::string, std::string>>& bindings);
// limit.lua: the queue's new setting (ignored with clear).
std::string SetLimitArgs(const std::string& queue, bool clear, const QueueLimits& limits);
std::string LayoutProbeArgs(int64_t want, const std::string& token, int64_t ttl_ms);
std::string LayoutStepArgs(const std::string& token, int64_t ttl_ms, uint32_t budget);
// ARGV[2] of enqueue.lua: every spec encoded as the record's spec (task_record.h), stamped
// with `now_ms` as its creation time; the request ids (`requests`, those with an id) too.
std::string EnqueueArgs(uint64_t max_depth, const std::string& batch_id,
                        const BatchSettings& batch,
                        const std::vector<protocol::TaskSpec>& specs,
                        const std::vector<std::string>& owners,
                        const std::vector<RequestKey>& requests, int64_t now_ms,
                        const TickClaim* tick = nullptr);
// ARGV[2] of claim.lua: the requests in order, with one fencing token per task each may
// lease (`tokens`: request 1's n, then request 2's, ...).
std::string ClaimArgs(const std::vector<ClaimRequest>& requests,
                      const std::vector<uint64_t>& tokens);
// ARGV[2] of finish.lua: `done` split into per-worker groups.
std::string FinishArgs(const std::vector<DoneGroup>& groups,
                       const std::vector<protocol::Done>& done);

protocol::TaskState StateFromName(std::string_view name);

// The msgpack value of a script's reply (reply() in lib/prelude.lua), kept alive with its
// zone; its strings refer to the reply, which outlives the parse. Not msgpack: kInternal
// naming `what`.
struct Packed {
  msgpack::object_handle handle;
  const msgpack::object& get() const { return handle.get(); }
};
Result<Packed> Unpack(const redisReply* r, std::string_view what);

Result<EnqueueResult> ParseEnqueue(const redisReply* r);
// claim.lua: one ClaimResult per request sent, in order.
Result<ClaimsResult> ParseClaims(const redisReply* r);
// finish.lua, release_worker.lua; reap.lua also carries the next deadline.
Result<FinishResult> ParseFinish(const redisReply* r, bool with_next_deadline);
Result<PromoteResult> ParsePromote(const redisReply* r);
Result<ExtendResult> ParseExtend(const redisReply* r);
Result<ProgressSaved> ParseProgress(const redisReply* r);
Result<CancelResult> ParseCancel(const redisReply* r);
// get.lua / dead_list.lua items as stored: the record's fields, its error history, its id
// (the broker reads them with record::TaskFromFields, the HTTP API with api::TaskRecordFrom).
struct StoredTask {
  std::map<std::string, std::string> fields;
  std::vector<std::string> history;  // code, message, retryable triples
  std::string id;
};
Result<std::vector<std::optional<StoredTask>>> ParseStoredTasks(const redisReply* r);
Result<std::vector<std::optional<protocol::TaskInfo>>> ParseTasks(const redisReply* r);
// One page of get_batch.lua as stored: the batch hash, this page's name -> id pairs, the
// critical path (0 while the batch runs) and the next names cursor ("0": the last page).
struct StoredBatchPage {
  std::map<std::string, std::string> fields;
  std::vector<std::pair<std::string, std::string>> names;
  uint64_t critical_path_ms = 0;
  std::string next = "0";
};
// nullopt: no such batch (or another owner's).
Result<std::optional<StoredBatchPage>> ParseStoredBatch(const redisReply* r);
// One page of get_batch.lua: the status with this page's names, and the next names cursor.
struct BatchPage {
  std::optional<protocol::BatchStatus> status;  // nullopt: no such batch
  std::string next = "0";                       // "0": the last page
  std::string owner;                            // the key that owns it ("": nobody)
};
Result<BatchPage> ParseBatch(const redisReply* r);
Result<StatsPage> ParseStats(const redisReply* r);
// The ids of dead_retry.lua / dead_purge.lua ({ids, ...}).
Result<std::vector<std::string>> ParseIds(const redisReply* r);
// list.lua's arguments, and its page.
std::string ListArgs(const protocol::List& req, const std::string& owner, uint32_t scan);
Result<ListPage> ParseList(const redisReply* r);
// update.lua's arguments.
std::string UpdateArgs(const protocol::Update& req, const std::string& owner);
// limit.lua: the queue's setting as text now ("" = none).
Result<std::string> ParseLimit(const redisReply* r);
// bind_workers.lua: per pair "" (bound) or the key the worker id belongs to.
Result<std::vector<std::string>> ParseBound(const redisReply* r);

// ---- schedules (schedule_wire.cc) ----
// schedule_put.lua: the definition encoded as a SCHEDULE add body.
std::string SchedulePutArgs(const protocol::ScheduleInfo& def, int64_t next_ms,
                            const std::string& owner);
// schedule_list.lua: `names` (exactly those) or the page after `after`.
std::string ScheduleListArgs(const std::vector<std::string>& names, const std::string& after,
                             uint32_t limit);
// schedule_state.lua: op pause | resume | remove; next_ms for resume.
std::string ScheduleStateArgs(const std::string& name, std::string_view op, int64_t next_ms);
// schedule_put.lua's and schedule_state.lua's {hash} (nullopt: an empty hash, removed).
Result<std::optional<StoredSchedule>> ParseScheduleHash(const redisReply* r);
// schedule_list.lua's and schedule_due.lua's {items, total}.
Result<ScheduleListing> ParseScheduleListing(const redisReply* r);
// enqueue.lua's reply to a call with a tick.
Result<TickOutcome> ParseTick(const redisReply* r);

}  // namespace taskmill::broker::wire
