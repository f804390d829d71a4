#pragma once

// The store's side of the script contracts (broker/src/lua/*.lua; the convention is in
// lib/prelude.lua): the header and arguments encoded as msgpack (store_args.cc) and script
// replies read back into typed results (store_parse.cc). Private to the store.

#include <hiredis/hiredis.h>

#include <optional>
#include <string>
#include <vector>

#include "store/store_types.h"
#include "taskmill/shared/protocol/messages.h"

namespace taskmill::broker::wire {

// Shortest round-trip decimal form (costs, multipliers).
std::string Num(double v);
// KEYS[1] of every script: <prefix>layout, the one declared key every other is derived from.
std::string LayoutKey(const StoreOptions& options);
// ARGV[1] of every script (lib/prelude.lua), a msgpack map: now, retention, dead_max,
// finished_max, jitter, idem_ttl, grace.
std::string Header(const StoreOptions& options, int64_t now_ms, double jitter);
// ARGV[2] of the verbs read in order (arg()/argn()): a msgpack array of strings.
std::string ArgsArray(const std::vector<std::string>& args);
// ARGV[2] of enqueue.lua: every spec encoded as the record's spec (task_record.h), stamped
// with `now_ms` as its creation time.
std::string EnqueueArgs(uint64_t max_depth, const std::string& batch_id,
                        const protocol::CostMap& budget,
                        const std::vector<protocol::TaskSpec>& specs,
                        const std::vector<std::string>& owners, int64_t now_ms);
// ARGV[2] of claim.lua, with one fencing token per task it may lease.
std::string ClaimArgs(const ClaimRequest& request, const std::vector<uint64_t>& tokens);
// ARGV[2] of finish.lua.
std::string FinishArgs(const std::string& worker_id, const std::vector<protocol::Done>& done);

protocol::TaskState StateFromName(std::string_view name);

Result<EnqueueResult> ParseEnqueue(const redisReply* r);
Result<ClaimResult> ParseClaim(const redisReply* r);
// finish.lua, release_worker.lua; reap.lua also carries the next deadline.
Result<FinishResult> ParseFinish(const redisReply* r, bool with_next_deadline);
Result<PromoteResult> ParsePromote(const redisReply* r);
Result<ExtendResult> ParseExtend(const redisReply* r);
Result<CancelResult> ParseCancel(const redisReply* r);
// get.lua / dead_list.lua items.
Result<std::vector<std::optional<protocol::TaskInfo>>> ParseTasks(const redisReply* r);
// One page of get_batch.lua: the status with this page's names, and the next names cursor.
struct BatchPage {
  std::optional<protocol::BatchStatus> status;  // nullopt: no such batch
  std::string next = "0";                       // "0": the last page
};
Result<BatchPage> ParseBatch(const redisReply* r);
Result<StatsPage> ParseStats(const redisReply* r);
// An array of ids, optionally followed by batch snapshots ({ids, batches}).
Result<std::vector<std::string>> ParseIds(const redisReply* r, bool with_batches);

}  // namespace taskmill::broker::wire
