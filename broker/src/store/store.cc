#include "store/store.h"

#include <cassert>
#include <cmath>
#include <limits>
#include <unordered_set>

#include "lua/scripts.h"
#include "store/fencing_token.h"
#include "store/store_wire.h"
#include "taskmill/shared/ids.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::broker {
namespace {

constexpr const char* kScriptNames[] = {
    "enqueue", "claim", "finish",    "promote", "reap",      "extend",     "release_worker",
    "cancel",  "get",   "get_batch", "stats",   "dead_list", "dead_retry", "dead_purge",
    "bind_workers", "progress", "limit", "schedule_put", "schedule_list", "schedule_state",
    "schedule_due", "list", "update", "queue_pause", "worker_quiet"};

constexpr size_t kMaxKeyLength = 256;  // label keys, cost names

}  // namespace

const char* FinishStatusName(FinishStatus s) {
  switch (s) {
    case FinishStatus::kSucceeded:
      return "succeeded";
    case FinishStatus::kRetry:
      return "retry";
    case FinishStatus::kDead:
      return "dead";
    case FinishStatus::kCancelled:
      return "cancelled";
    case FinishStatus::kStale:
      return "stale";
    case FinishStatus::kNotFound:
      return "not_found";
    case FinishStatus::kAwaiting:
      return "awaiting";
    case FinishStatus::kNotAwaiting:
      return "not_awaiting";
    case FinishStatus::kBadToken:
      return "bad_token";
    case FinishStatus::kPoll:
      return "poll";
  }
  return "unknown";
}

Result<protocol::Done> CompletionDone(protocol::Complete complete) {
  if (auto ok = protocol::ValidateName(complete.task_id, "task_id"); !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = protocol::ValidateCompletionToken(complete.token, "token"); !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = protocol::ValidateCosts(complete.cost, "cost"); !ok) {
    return std::unexpected(ok.error());
  }
  if (!complete.ok && (!complete.error || complete.error->code.empty())) {
    return MakeError(ErrorCode::kInvalidArgument, "error: a failed completion needs a code");
  }
  if (complete.error && (complete.error->code.size() > protocol::kMaxNameLength ||
                         complete.error->message.size() > kMaxCompletionMessageBytes)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "error: code at most 128 bytes, message at most 4096");
  }
  protocol::Done d;
  d.task_id = std::move(complete.task_id);
  d.ok = complete.ok;
  d.output = std::move(complete.output);
  if (!complete.ok) d.error = std::move(complete.error);
  d.cost = std::move(complete.cost);
  d.completion_token = std::move(complete.token);
  return d;
}

Result<void> CompletionVerdict(const FinishOutcome& outcome) {
  switch (outcome.status) {
    case FinishStatus::kBadToken:
      return MakeError(ErrorCode::kStaleToken, "task " + outcome.task_id +
                                                   ": the completion token does not match; "
                                                   "nothing changed");
    case FinishStatus::kNotAwaiting:
      return MakeError(ErrorCode::kConflict,
                       "task " + outcome.task_id + " is " +
                           protocol::TaskStateName(outcome.state) +
                           ", not awaiting completion (its token was used, its wait ended, or "
                           "its handler has not handed it over yet); nothing changed");
    case FinishStatus::kNotFound:
      return MakeError(ErrorCode::kNotFound, "no task " + outcome.task_id);
    case FinishStatus::kStale:
      return MakeError(ErrorCode::kStaleToken, "task " + outcome.task_id + ": not completed");
    default:
      return {};
  }
}

Store::Store(RedisConnection& conn, const Clock& clock, StoreOptions options)
    : Store(conn, clock, std::move(options), {}) {}

Store::Store(RedisConnection& conn, const Clock& clock, StoreOptions options,
             std::span<const LuaScript> scripts)
    : conn_(conn), clock_(clock), options_(std::move(options)), rng_(std::random_device{}()) {
  static_assert(std::size(kScriptNames) == kScriptCount);
  for (size_t i = 0; i < kScriptCount; ++i) {
    const LuaScript* chosen = nullptr;
    for (const LuaScript& s : scripts) {
      if (s.name == kScriptNames[i]) chosen = &s;
    }
    for (const LuaScript& s : AllScripts()) {
      if (chosen == nullptr && s.name == kScriptNames[i]) chosen = &s;
    }
    if (chosen != nullptr) {
      handles_[i] = conn_.AddScript(std::string(chosen->name), std::string(chosen->body));
    }
  }
  jitter_ = [this] { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); };
}

Result<void> Store::ValidateSpec(const protocol::TaskSpec& s, std::string_view where) {
  // The broker's edge checks (service/request_checks.h) apply the same rules with its own
  // caps first; here they guard the keys and fields whoever calls the store.
  if (auto r = protocol::ValidateTaskSpec(s, where); !r) return r;
  std::string w(where);
  if (auto r = protocol::ValidateName(s.id, w + ".id"); !r) return r;
  for (const auto& d : s.depends_on) {
    if (auto r = protocol::ValidateName(d, w + ".depends_on (task id)"); !r) return r;
  }
  return {};
}

double Store::JitterUnit(double seed, uint32_t i) {
  double u = seed + static_cast<double>(i) * 0.6180339887498949;
  return u - std::floor(u);
}

template <typename T>
void Store::Send(Script s, int64_t now_ms, std::string packed_args, Callback<T> cb,
                 std::function<Result<T>(const redisReply*)> parse) {
  if (gate_ != nullptr && !gate_->load(std::memory_order_acquire)) {
    cb(MakeError(ErrorCode::kStoreUnavailable,
                 "the store's layout version is not checked yet (Redis unreachable at start)"));
    return;
  }
  std::vector<std::string> args = {wire::LayoutKey(options_),
                                   wire::Header(options_, now_ms, jitter_()),
                                   std::move(packed_args)};
  auto send = [this, s, args = std::move(args), cb = std::move(cb),
               parse = std::move(parse)]() mutable {
    ++in_flight_;
    conn_.Eval(
        handles_[s], std::move(args),
        [this, cb = std::move(cb), parse = std::move(parse)](Result<const redisReply*> r) {
          --in_flight_;
          if (!r) {
            cb(std::unexpected(r.error()));
          } else {
            cb(parse(*r));
          }
          RunDeferred();
        },
        1);
  };
  if (options_.max_in_flight != 0 && (in_flight_ >= options_.max_in_flight || !deferred_.empty())) {
    deferred_.push_back(std::move(send));
    return;
  }
  send();
}

// The schedule verbs live in schedule_store.cc.
template void Store::Send<StoredSchedule>(Script, int64_t, std::string, Callback<StoredSchedule>,
                                          std::function<Result<StoredSchedule>(const redisReply*)>);
template void Store::Send<ScheduleListing>(
    Script, int64_t, std::string, Callback<ScheduleListing>,
    std::function<Result<ScheduleListing>(const redisReply*)>);
template void Store::Send<std::optional<StoredSchedule>>(
    Script, int64_t, std::string, Callback<std::optional<StoredSchedule>>,
    std::function<Result<std::optional<StoredSchedule>>(const redisReply*)>);
// Used by admin_store.cc.
template void Store::Send<bool>(Script, int64_t, std::string, Callback<bool>,
                                std::function<Result<bool>(const redisReply*)>);
template void Store::Send<std::vector<std::string>>(
    Script, int64_t, std::string, Callback<std::vector<std::string>>,
    std::function<Result<std::vector<std::string>>(const redisReply*)>);
template void Store::Send<TickOutcome>(Script, int64_t, std::string, Callback<TickOutcome>,
                                       std::function<Result<TickOutcome>(const redisReply*)>);
// LIST and UPDATE live in list_store.cc.
template void Store::Send<ListPage>(Script, int64_t, std::string, Callback<ListPage>,
                                    std::function<Result<ListPage>(const redisReply*)>);
template void Store::Send<protocol::TaskInfo>(
    Script, int64_t, std::string, Callback<protocol::TaskInfo>,
    std::function<Result<protocol::TaskInfo>(const redisReply*)>);

void Store::RunDeferred() {
  // A call that fails at once (Redis unreachable) answers inside send(): the loop, not
  // recursion, moves on to the next one.
  if (running_deferred_) return;
  running_deferred_ = true;
  while (!deferred_.empty() &&
         (options_.max_in_flight == 0 || in_flight_ < options_.max_in_flight)) {
    auto send = std::move(deferred_.front());
    deferred_.pop_front();
    send();
  }
  running_deferred_ = false;
}

void Store::Enqueue(const std::vector<protocol::TaskSpec>& specs, Callback<EnqueueResult> cb,
                    const std::vector<std::string>& owners,
                    const std::vector<RequestKey>& requests) {
  for (const auto& spec : specs) {
    if (spec.id.empty()) {
      // Rare (tests, tools): the broker gives every spec its id before it calls.
      std::vector<protocol::TaskSpec> with_ids = specs;
      for (auto& s : with_ids) {
        if (s.id.empty()) s.id = NewId();
      }
      return EnqueueSpecs("", {}, with_ids, owners, requests, std::move(cb));
    }
  }
  EnqueueSpecs("", {}, specs, owners, requests, std::move(cb));
}

void Store::EnqueueBatch(std::string batch_id, BatchSettings budget,
                         std::vector<protocol::TaskSpec> specs, Callback<EnqueueResult> cb,
                         std::string owner, RequestKey request) {
  if (!batch_id.empty()) {
    if (auto r = protocol::ValidateName(batch_id, "batch id"); !r) {
      return cb(std::unexpected(r.error()));
    }
    if (specs.empty()) {
      return cb(MakeError(ErrorCode::kInvalidArgument, "a batch needs at least one task"));
    }
  }
  for (auto& s : specs) {
    if (s.id.empty()) s.id = NewId();
  }
  std::vector<std::string> owners;
  if (!owner.empty()) owners.assign(specs.size(), owner);
  std::vector<RequestKey> requests;
  if (!request.id.empty()) {
    request.first = 0;
    request.count = specs.size();
    requests.push_back(std::move(request));
  }
  EnqueueSpecs(batch_id, budget, specs, owners, requests, std::move(cb));
}

void Store::EnqueueSpecs(const std::string& batch_id, const BatchSettings& budget,
                         const std::vector<protocol::TaskSpec>& specs,
                         const std::vector<std::string>& owners,
                         const std::vector<RequestKey>& requests, Callback<EnqueueResult> cb) {
  std::unordered_set<std::string> names;
  for (size_t i = 0; i < specs.size(); ++i) {
    const auto& s = specs[i];
    // Validated once, where the request entered (service/request_checks.h): the store trusts
    // its caller and only re-checks in debug builds.
    assert(ValidateSpec(s, "tasks[" + std::to_string(i) + "]").has_value());
    if (!batch_id.empty() && (s.name.empty() || !names.insert(s.name).second)) {
      return cb(MakeError(ErrorCode::kInvalidArgument, "tasks[" + std::to_string(i) +
                                                           "].name: batch tasks need a unique name"));
    }
  }
  int64_t now = clock_.NowMs();  // the scripts' clock, and every spec's creation time
  std::string args =
      wire::EnqueueArgs(options_.max_queue_depth, batch_id, budget, specs, owners, requests, now);
  Send<EnqueueResult>(kEnqueue, now, std::move(args), std::move(cb), wire::ParseEnqueue);
}

namespace {

Result<void> ValidateClaim(const ClaimRequest& req) {
  if (auto r = protocol::ValidateName(req.worker_id, "worker id"); !r) return r;
  for (const auto& q : req.queues) {
    if (auto r = protocol::ValidateName(q, "queue"); !r) return r;
  }
  for (const auto& t : req.types) {
    if (auto r = protocol::ValidateName(t, "task type"); !r) return r;
  }
  return {};
}

}  // namespace

void Store::ClaimMany(std::vector<ClaimRequest> requests, Callback<ClaimsResult> cb) {
  ClaimsResult answer;
  answer.claims.reserve(requests.size());
  std::vector<size_t> sent;  // index in `requests` of each request the call carries
  std::vector<ClaimRequest> to_send;
  size_t leasable = 0;  // tasks the call may lease: one fencing token each
  for (size_t i = 0; i < requests.size(); ++i) {
    ClaimRequest& req = requests[i];
    if (auto r = ValidateClaim(req); !r) {
      answer.claims.emplace_back(std::unexpected(r.error()));
      continue;
    }
    answer.claims.emplace_back(ClaimResult{});
    if (req.n == 0 || req.queues.empty()) continue;
    leasable += req.n;
    sent.push_back(i);
    to_send.push_back(std::move(req));
  }
  if (to_send.empty()) return cb(std::move(answer));
  // Fresh random tokens for the whole call in one draw (one getrandom, not one per worker).
  std::string args = wire::ClaimArgs(to_send, NewFencingTokens(leasable));
  Send<ClaimsResult>(
      kClaim, clock_.NowMs(), std::move(args),
      [cb = std::move(cb), answer = std::move(answer),
       sent = std::move(sent)](Result<ClaimsResult> r) mutable {
        if (!r) return cb(std::move(r));
        if (r->claims.size() != sent.size()) {
          return cb(MakeError(ErrorCode::kInternal,
                              "claim reply: " + std::to_string(r->claims.size()) +
                                  " results for " + std::to_string(sent.size()) + " requests"));
        }
        for (size_t i = 0; i < sent.size(); ++i) answer.claims[sent[i]] = std::move(r->claims[i]);
        answer.batches = std::move(r->batches);
        answer.expired = std::move(r->expired);
        cb(std::move(answer));
      },
      wire::ParseClaims);
}

void Store::Claim(ClaimRequest req, Callback<ClaimResult> cb) {
  std::vector<ClaimRequest> one;
  one.push_back(std::move(req));
  ClaimMany(std::move(one), [cb = std::move(cb)](Result<ClaimsResult> r) {
    if (!r) return cb(std::unexpected(r.error()));
    if (r->claims.size() != 1) return cb(MakeError(ErrorCode::kInternal, "claim: no result"));
    Result<ClaimResult>& claim = r->claims[0];
    if (claim) claim->batches = std::move(r->batches);
    cb(std::move(claim));
  });
}

void Store::FinishMany(const std::vector<DoneGroup>& groups,
                       const std::vector<protocol::Done>& done, Callback<FinishResult> cb) {
  size_t total = 0;
  for (const auto& g : groups) total += g.count;
  if (total != done.size()) {
    return cb(MakeError(ErrorCode::kInvalidArgument,
                        "finish: the groups hold " + std::to_string(total) + " DONEs, not " +
                            std::to_string(done.size())));
  }
  for (const auto& d : done) {
    if (auto r = protocol::ValidateName(d.task_id, "task id"); !r) {
      return cb(std::unexpected(r.error()));
    }
    for (const auto& [k, v] : d.cost) {
      if (k.empty() || k.size() > kMaxKeyLength || !std::isfinite(v)) {
        return cb(MakeError(ErrorCode::kInvalidArgument,
                            "cost names must be 1-256 bytes and amounts finite"));
      }
    }
  }
  // The lease must be the group's worker's as well as this token's: a connection cannot record
  // results for tasks another worker holds ("" matches no lease: the broker drops DONEs
  // from connections that have not registered before they get here).
  std::string args = wire::FinishArgs(groups, done);
  Send<FinishResult>(kFinish, clock_.NowMs(), std::move(args), std::move(cb),
                     [](const redisReply* r) { return wire::ParseFinish(r, false); });
}

void Store::Finish(const std::string& worker_id, const std::vector<protocol::Done>& done,
                   Callback<FinishResult> cb) {
  FinishMany({DoneGroup{worker_id, done.size()}}, done, std::move(cb));
}

void Store::Promote(uint32_t limit, Callback<PromoteResult> cb) {
  Send<PromoteResult>(kPromote, clock_.NowMs(), wire::LimitArgs(limit), std::move(cb),
                      wire::ParsePromote);
}

void Store::Reap(uint32_t limit, Callback<FinishResult> cb) {
  Send<FinishResult>(kReap, clock_.NowMs(), wire::LimitArgs(limit), std::move(cb),
                     [](const redisReply* r) { return wire::ParseFinish(r, true); });
}

void Store::Extend(std::string worker_id, uint32_t lease_ms, Callback<ExtendResult> cb) {
  if (auto r = protocol::ValidateName(worker_id, "worker id"); !r) {
    return cb(std::unexpected(r.error()));
  }
  Send<ExtendResult>(kExtend, clock_.NowMs(), wire::ExtendArgs(worker_id, lease_ms),
                     std::move(cb), wire::ParseExtend);
}

void Store::SaveProgress(std::vector<ProgressWrite> writes, Callback<ProgressSaved> cb) {
  if (writes.empty()) return cb(ProgressSaved{});
  Send<ProgressSaved>(kProgress, clock_.NowMs(), wire::ProgressArgs(writes), std::move(cb),
                      wire::ParseProgress);
}

void Store::ReleaseWorker(std::string worker_id, Callback<FinishResult> cb,
                          std::vector<std::string> keep) {
  if (auto r = protocol::ValidateName(worker_id, "worker id"); !r) {
    return cb(std::unexpected(r.error()));
  }
  Send<FinishResult>(kReleaseWorker, clock_.NowMs(), wire::WorkerArgs(worker_id, keep),
                     std::move(cb),
                     [](const redisReply* r) { return wire::ParseFinish(r, false); });
}

void Store::Cancel(std::vector<std::string> ids, std::string reason, Callback<CancelResult> cb,
                   std::string owner, std::string batch) {
  for (const auto& id : ids) {
    if (auto r = protocol::ValidateName(id, "task id"); !r) {
      return cb(std::unexpected(r.error()));
    }
  }
  if (reason.empty()) reason = "cancelled";
  Send<CancelResult>(kCancel, clock_.NowMs(), wire::CancelArgs(reason, owner, ids, batch),
                     std::move(cb), wire::ParseCancel);
}

void Store::Get(std::vector<std::string> ids,
                Callback<std::vector<std::optional<protocol::TaskInfo>>> cb, std::string owner) {
  for (const auto& id : ids) {
    if (auto r = protocol::ValidateName(id, "task id"); !r) {
      return cb(std::unexpected(r.error()));
    }
  }
  Send<std::vector<std::optional<protocol::TaskInfo>>>(kGet, clock_.NowMs(),
                                                       wire::GetArgs(owner, ids), std::move(cb),
                                                       wire::ParseTasks);
}

void Store::GetBatch(std::string batch_id, Callback<std::optional<protocol::BatchStatus>> cb,
                     std::string owner) {
  GetOwnedBatch(
      std::move(batch_id),
      [cb = std::move(cb)](Result<std::optional<OwnedBatch>> r) {
        if (!r) return cb(std::unexpected(r.error()));
        if (!*r) return cb(std::optional<protocol::BatchStatus>());
        cb(std::move((*r)->status));
      },
      std::move(owner));
}

void Store::GetOwnedBatch(std::string batch_id, Callback<std::optional<OwnedBatch>> cb,
                          std::string owner) {
  if (auto r = protocol::ValidateName(batch_id, "batch id"); !r) {
    return cb(std::unexpected(r.error()));
  }
  auto gather = std::make_shared<BatchGather>();  // co-owned by the page in flight
  gather->batch_id = std::move(batch_id);
  gather->cb = std::move(cb);
  gather->owner = std::move(owner);
  GetBatchPage(std::move(gather), "0");
}

void Store::GetBatchPage(std::shared_ptr<BatchGather> gather, std::string cursor) {
  std::string args =
      wire::GetBatchArgs(gather->batch_id, gather->owner, cursor, kBatchNamesPerPage);
  // One page at a time: Redis serves other connections between the pages of a large batch.
  Send<wire::BatchPage>(
      kGetBatch, clock_.NowMs(), std::move(args),
      [this, gather](Result<wire::BatchPage> r) {
        if (!r) return gather->cb(std::unexpected(r.error()));
        if (!r->status) return gather->cb(std::optional<OwnedBatch>());
        if (!gather->batch) {
          gather->batch = OwnedBatch{std::move(*r->status), std::move(r->owner)};
        } else {
          gather->batch->status.tasks.merge(r->status->tasks);
        }
        // A hash can only be scanned so many times: the page bound stops a cursor that
        // never returns to 0 (a batch's name map grows only by appends, bounded per call).
        if (r->next == "0" || ++gather->pages >= kMaxBatchPages) {
          return gather->cb(std::move(gather->batch));
        }
        GetBatchPage(gather, r->next);
      },
      wire::ParseBatch);
}

void Store::Stats(std::vector<std::string> queues, Callback<std::vector<QueueCounters>> cb) {
  for (const auto& q : queues) {
    if (auto r = protocol::ValidateName(q, "queue"); !r) {
      return cb(std::unexpected(r.error()));
    }
  }
  // No queues: every known queue, one page as large as the index (tools and tests; STATS
  // pages).
  std::string args =
      wire::StatsArgs(queues, "", static_cast<uint32_t>(std::numeric_limits<int32_t>::max()));
  Send<std::vector<QueueCounters>>(
      kStats, clock_.NowMs(), std::move(args), std::move(cb),
      [](const redisReply* r) -> Result<std::vector<QueueCounters>> {
        auto page = wire::ParseStats(r);
        if (!page) return std::unexpected(page.error());
        return std::move(page->queues);
      });
}

void Store::StatsPage(std::string after, uint32_t limit, Callback<broker::StatsPage> cb) {
  if (!after.empty()) {
    if (auto r = protocol::ValidateName(after, "stats cursor"); !r) {
      return cb(std::unexpected(r.error()));
    }
  }
  Send<broker::StatsPage>(kStats, clock_.NowMs(),
                          wire::StatsArgs({}, after, std::max<uint32_t>(limit, 1)),
                          std::move(cb), wire::ParseStats);
}

void Store::DeadList(std::string queue, uint32_t limit,
                     Callback<std::vector<protocol::TaskInfo>> cb) {
  if (!queue.empty()) {
    if (auto r = protocol::ValidateName(queue, "queue"); !r) {
      return cb(std::unexpected(r.error()));
    }
  }
  Send<std::vector<protocol::TaskInfo>>(
      kDeadList, clock_.NowMs(), wire::DeadListArgs(queue, limit), std::move(cb),
      [](const redisReply* r) -> Result<std::vector<protocol::TaskInfo>> {
        auto tasks = wire::ParseTasks(r);
        if (!tasks) return std::unexpected(tasks.error());
        std::vector<protocol::TaskInfo> out;
        for (auto& t : *tasks) {
          if (t) out.push_back(std::move(*t));
        }
        return out;
      });
}

void Store::DeadRetry(std::string queue, std::vector<std::string> ids, uint32_t limit,
                      Callback<std::vector<std::string>> cb) {
  Send<std::vector<std::string>>(kDeadRetry, clock_.NowMs(),
                                 wire::DeadArgs(queue, limit, ids), std::move(cb),
                                 wire::ParseIds);
}

void Store::DeadPurge(std::string queue, std::vector<std::string> ids, uint32_t limit,
                      Callback<std::vector<std::string>> cb) {
  Send<std::vector<std::string>>(kDeadPurge, clock_.NowMs(),
                                 wire::DeadArgs(queue, limit, ids), std::move(cb),
                                 wire::ParseIds);
}

void Store::SetLimit(std::string queue, bool clear, const QueueLimits& limits,
                     Callback<std::string> cb) {
  if (auto r = protocol::ValidateName(queue, "queue"); !r) return cb(std::unexpected(r.error()));
  Send<std::string>(kLimit, clock_.NowMs(), wire::SetLimitArgs(queue, clear, limits),
                    std::move(cb), wire::ParseLimit);
}

void Store::BindWorkers(std::vector<std::pair<std::string, std::string>> bindings,
                        int64_t ttl_ms, Callback<std::vector<std::string>> cb) {
  for (const auto& [worker_id, key] : bindings) {
    if (auto r = protocol::ValidateName(worker_id, "worker id"); !r) {
      return cb(std::unexpected(r.error()));
    }
  }
  if (bindings.empty()) return cb(std::vector<std::string>{});
  Send<std::vector<std::string>>(kBindWorkers, clock_.NowMs(),
                                 wire::BindWorkersArgs(ttl_ms, bindings),
                                 std::move(cb), wire::ParseBound);
}

}  // namespace taskmill::broker
