#pragma once

// The store's side of the script contracts (broker/src/lua/*.lua): items flattened into
// ARGV (store_args.cc) and script replies read back into typed results (store_parse.cc).
// Private to the store.

#include <hiredis/hiredis.h>

#include <optional>
#include <string>
#include <vector>

#include "store/store_types.h"
#include "taskmill/shared/protocol/messages.h"

namespace taskmill::broker::wire {

// Shortest round-trip decimal form (costs, multipliers).
std::string Num(double v);
// ARGV[1..7] of every script (lib/prelude.lua): prefix, now, retention, dead letters kept
// (",finished kept" when capped), jitter seed, idempotency TTL, lease grace.
std::vector<std::string> PreludeArgs(const StoreOptions& options, int64_t now_ms, double jitter);
// One enqueue.lua item.
void AppendSpec(std::vector<std::string>& args, const protocol::TaskSpec& spec,
                const std::string& owner);
// One finish.lua item.
void AppendDone(std::vector<std::string>& args, const protocol::Done& done);

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
