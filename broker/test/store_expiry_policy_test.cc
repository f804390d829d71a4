// Issue 22: a batch task that expires (never started by its expires_in_ms) acts on its batch
// exactly as a task that died does, by the batch's on_failure (expiry_item and member_died in
// lib/prelude.lua), whether the expiry sweep (promote.lua) or a claim (claim.lua) ends it; a
// claim acts only after its scans and writes, so the tasks it leased in the same call are
// stopped with their real fencing tokens.

#include <algorithm>
#include <optional>

#include "store/batch_resolver.h"
#include "store_test_util.h"

namespace taskmill::broker {
namespace {

using protocol::TaskState;

class StoreExpiryPolicyTest : public StoreTest {
 protected:
  // Stores `tasks` (named, depends_on by name) as one batch under `on_failure`.
  // `finally`: the batch's finally task, if any.
  ResolvedBatch Stored(const std::string& on_failure, std::vector<protocol::TaskSpec> tasks,
                       std::optional<protocol::TaskSpec> finally = std::nullopt) {
    protocol::BatchSpec b;
    b.tasks = std::move(tasks);
    auto r = ResolveBatch(b);
    EXPECT_TRUE(r.has_value());
    BatchSettings settings;
    settings.on_failure = on_failure;
    settings.finally = std::move(finally);
    auto e = Await<EnqueueResult>(
        [&](auto cb) { store_->EnqueueBatch(r->batch_id, settings, r->tasks, cb); });
    EXPECT_TRUE(e.has_value()) << e.error().ToString();
    return *r;
  }
  static protocol::TaskSpec Named(const std::string& name, std::vector<std::string> deps = {},
                                  const std::string& queue = "default") {
    auto s = Spec();
    s.name = name;
    s.queue = queue;
    s.depends_on = std::move(deps);
    return s;
  }
  static protocol::TaskSpec Late(const std::string& name, std::vector<std::string> deps = {},
                                 const std::string& queue = "default") {
    auto s = Named(name, std::move(deps), queue);
    s.expires_in_ms = 100;
    return s;
  }
  PromoteResult Promote() {
    auto r = Await<PromoteResult>([&](auto cb) { store_->Promote(1000, cb); });
    EXPECT_TRUE(r.has_value());
    return r ? std::move(*r) : PromoteResult{};
  }
  // One claim call serving `requests` (n tasks each, worker w<i>) from the default queue.
  ClaimsResult ClaimMany(std::vector<uint32_t> requests) {
    std::vector<ClaimRequest> reqs;
    for (size_t i = 0; i < requests.size(); ++i) {
      ClaimRequest req;
      req.worker_id = "w" + std::to_string(i + 1);
      req.queues = {"default"};
      req.n = requests[i];
      reqs.push_back(std::move(req));
    }
    auto r = Await<ClaimsResult>([&](auto cb) { store_->ClaimMany(reqs, cb); });
    EXPECT_TRUE(r.has_value());
    return r ? std::move(*r) : ClaimsResult{};
  }
  protocol::BatchStatus Batch(const std::string& id) {
    auto r =
        Await<std::optional<protocol::BatchStatus>>([&](auto cb) { store_->GetBatch(id, cb); });
    EXPECT_TRUE(r.has_value() && r->has_value());
    return r && *r ? **r : protocol::BatchStatus{};
  }
  static std::vector<std::string> Sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  }
};

TEST_F(StoreExpiryPolicyTest, ContinueReleasesTheChildrenOfATaskTheSweepExpired) {
  // late never runs (no worker claims queue "nowhere"); child needs late and ok.
  auto b = Stored(protocol::kOnFailureContinue,
                  {Late("late", {}, "nowhere"), Named("ok"), Named("child", {"late", "ok"})});
  const auto& id = b.ids_by_name;
  auto ok = ClaimOk(10);
  ASSERT_EQ(ok.size(), 1u);
  FinishOk({Ok(ok[0], "ok-out")});
  EXPECT_EQ(GetOne(id.at("child")).state, TaskState::kBlocked);
  clock_.Advance(100);
  auto p = Promote();
  ASSERT_EQ(p.expired.size(), 1u);
  const auto& item = p.expired[0];
  EXPECT_EQ(item.task_id, id.at("late"));
  EXPECT_EQ(item.status, FinishStatus::kExpired);
  EXPECT_EQ(item.batch_id, b.batch_id);
  EXPECT_EQ(item.released, std::vector<std::string>{id.at("child")});
  EXPECT_TRUE(item.cancelled.empty());
  // The child runs, given the expiry in parent_errors and ok's output in parents.
  auto child = ClaimOk(10);
  ASSERT_EQ(child.size(), 1u);
  EXPECT_EQ(child[0].task_id, id.at("child"));
  EXPECT_EQ(child[0].parents.at("ok"), "ok-out");
  ASSERT_EQ(child[0].parent_errors.size(), 1u);
  EXPECT_EQ(child[0].parent_errors[0].name, "late");
  EXPECT_EQ(child[0].parent_errors[0].code, "expired");
  EXPECT_EQ(child[0].parent_errors[0].message,
            "not started before its deadline (expires_in_ms)");
  EXPECT_FALSE(child[0].parent_errors[0].retryable);
  FinishOk({Ok(child[0])});
  auto st = Batch(b.batch_id);
  EXPECT_EQ(st.state, "partial");
  EXPECT_EQ(st.counts.at("expired"), 1u);
  EXPECT_EQ(st.counts.at("succeeded"), 2u);
  EXPECT_EQ(StatsOf("default").blocked, 0u);
}

TEST_F(StoreExpiryPolicyTest, ContinueReleasesTheChildrenOfATaskAClaimExpired) {
  auto b = Stored(protocol::kOnFailureContinue, {Late("late"), Named("child", {"late"})});
  const auto& id = b.ids_by_name;
  clock_.Advance(100);
  auto r = ClaimMany({5});
  ASSERT_TRUE(r.claims.at(0).has_value());
  EXPECT_TRUE(r.claims[0]->tasks.empty());
  ASSERT_EQ(r.expired.size(), 1u);
  EXPECT_EQ(r.expired[0].task_id, id.at("late"));
  EXPECT_EQ(r.expired[0].released, std::vector<std::string>{id.at("child")});
  EXPECT_EQ(GetOne(id.at("child")).state, TaskState::kQueued);
  auto child = ClaimOk(5);
  ASSERT_EQ(child.size(), 1u);
  ASSERT_EQ(child[0].parent_errors.size(), 1u);
  EXPECT_EQ(child[0].parent_errors[0].code, "expired");
  EXPECT_EQ(StatsOf("default").stats.ready, 0u);
}

TEST_F(StoreExpiryPolicyTest, FailFastExpiryBySweepCancelsTheRestAndStopsTheRunningOnes) {
  auto b = Stored(protocol::kOnFailureFailFast,
                  {Late("late", {}, "nowhere"), Named("run"), Named("after_run", {"run"}),
                   Named("idle", {}, "nowhere")});
  const auto& id = b.ids_by_name;
  auto run = ClaimOk(10);
  ASSERT_EQ(run.size(), 1u);
  clock_.Advance(100);
  auto p = Promote();
  ASSERT_EQ(p.expired.size(), 1u);
  const auto& item = p.expired[0];
  EXPECT_EQ(item.task_id, id.at("late"));
  std::vector<std::string> rest = Sorted({id.at("after_run"), id.at("idle")});
  EXPECT_EQ(Sorted(item.cancelled), rest);
  EXPECT_EQ(Sorted(item.fail_fast_cancelled), rest);
  for (const char* n : {"after_run", "idle"}) {
    auto t = GetOne(id.at(n));
    EXPECT_EQ(t.state, TaskState::kCancelled) << n;
    ASSERT_TRUE(t.error.has_value()) << n;
    EXPECT_EQ(t.error->message, "batch_failed") << n;
  }
  ASSERT_EQ(item.cancel_requests.size(), 1u);
  EXPECT_EQ(item.cancel_requests[0].task_id, run[0].task_id);
  EXPECT_EQ(item.cancel_requests[0].worker_id, "w1");
  EXPECT_EQ(item.cancel_requests[0].token, run[0].token);
  // Its worker stops it: the attempt ends cancelled, and the batch with it.
  auto stopped = FinishOk({Fail(run[0], true, "cancelled")});
  EXPECT_EQ(stopped.items.at(0).status, FinishStatus::kCancelled);
  auto st = Batch(b.batch_id);
  EXPECT_EQ(st.state, "failed");
  EXPECT_EQ(st.counts.at("expired"), 1u);
  EXPECT_EQ(st.counts.at("cancelled"), 3u);
  EXPECT_EQ(StatsOf("nowhere").stats.ready, 0u);
}

TEST_F(StoreExpiryPolicyTest, FailFastExpiryByAClaimStopsWhatThatClaimLeasedWithItsTokens) {
  // late (prio 9) is met first; the same call then leases one task for request 1 and two for
  // request 2 (read past what request 1 took): the policy acts after the call's writes, so
  // their cancels carry their real tokens, and the one left queued is cancelled.
  auto late = Late("late");
  late.priority = 9;
  auto b = Stored(protocol::kOnFailureFailFast,
                  {late, Named("a"), Named("c"), Named("d"), Named("e"), Named("z", {"a"})});
  const auto& id = b.ids_by_name;
  clock_.Advance(100);
  auto r = ClaimMany({2, 2});
  ASSERT_EQ(r.claims.size(), 2u);
  ASSERT_TRUE(r.claims[0].has_value() && r.claims[1].has_value());
  std::vector<protocol::TaskMsg> leased = r.claims[0]->tasks;
  for (const auto& t : r.claims[1]->tasks) leased.push_back(t);
  ASSERT_EQ(leased.size(), 3u);
  ASSERT_EQ(r.expired.size(), 1u);
  const auto& item = r.expired[0];
  EXPECT_EQ(item.task_id, id.at("late"));
  ASSERT_EQ(item.cancel_requests.size(), 3u);
  for (const auto& t : leased) {
    auto it = std::find_if(item.cancel_requests.begin(), item.cancel_requests.end(),
                           [&](const auto& c) { return c.task_id == t.task_id; });
    ASSERT_NE(it, item.cancel_requests.end()) << t.name;
    EXPECT_EQ(it->token, t.token) << t.name << ": the lease's own fencing token";
    EXPECT_NE(it->token, 0u) << t.name;
    EXPECT_EQ(GetOne(t.task_id).state, TaskState::kRunning) << t.name;
  }
  // Every other member, the one left queued and the blocked z, is cancelled at once.
  std::vector<std::string> rest;
  for (const auto& [name, tid] : id) {
    bool was_leased = std::any_of(leased.begin(), leased.end(),
                                  [&](const auto& t) { return t.task_id == tid; });
    if (name != "late" && !was_leased) rest.push_back(tid);
  }
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(Sorted(item.fail_fast_cancelled), Sorted(rest));
  for (const auto& tid : rest) {
    auto t = GetOne(tid);
    EXPECT_EQ(t.state, TaskState::kCancelled) << tid;
    EXPECT_EQ(t.error ? t.error->message : "", "batch_failed") << tid;
  }
  EXPECT_EQ(StatsOf("default").stats.ready, 0u);
  EXPECT_EQ(RawInt({"EXISTS", prefix_ + "q:default:echo"}), 0);
  EXPECT_TRUE(ClaimOk(10).empty());
}

TEST_F(StoreExpiryPolicyTest, AFailFastExpiryAtAClaimEndsTheBatchAndStartsItsFinallyTask) {
  // Everything left is queued: the claim's expiry cancels it all, the batch ends in that
  // same call, and its finally task is stored with the summary (late's error included).
  auto fin = Spec("wrap-up", 0, "ops");
  fin.payload.clear();
  fin.id = "fin-expiry";
  fin.name = "finally";
  auto late = Late("late");
  late.priority = 9;
  auto b = Stored(protocol::kOnFailureFailFast, {late, Named("a", {}, "nowhere")}, fin);
  clock_.Advance(100);
  auto r = ClaimMany({1});
  ASSERT_EQ(r.expired.size(), 1u);
  EXPECT_EQ(r.expired[0].fail_fast_cancelled, std::vector<std::string>{b.ids_by_name.at("a")});
  ASSERT_EQ(r.batches.size(), 1u);
  EXPECT_EQ(r.batches[0].state, "failed");
  auto wrap = ClaimOk(10, {"ops"});
  ASSERT_EQ(wrap.size(), 1u);
  EXPECT_EQ(wrap[0].task_id, "fin-expiry");
  std::string summary(wrap[0].payload.begin(), wrap[0].payload.end());
  EXPECT_NE(summary.find("\"code\":\"expired\""), std::string::npos) << summary;
  EXPECT_NE(summary.find("\"cancelled\":1"), std::string::npos) << summary;
}

TEST_F(StoreExpiryPolicyTest, CancelDependentsExpiryCancelsOnlyTheDescendants) {
  auto b = Stored(protocol::kOnFailureCancelDependents,
                  {Late("late", {}, "nowhere"), Named("child", {"late"}),
                   Named("grandchild", {"child"}), Named("other")});
  const auto& id = b.ids_by_name;
  clock_.Advance(100);
  auto p = Promote();
  ASSERT_EQ(p.expired.size(), 1u);
  const auto& item = p.expired[0];
  EXPECT_EQ(Sorted(item.cancelled), Sorted({id.at("child"), id.at("grandchild")}));
  EXPECT_TRUE(item.fail_fast_cancelled.empty());
  EXPECT_TRUE(item.cancel_requests.empty());
  EXPECT_TRUE(item.released.empty());
  EXPECT_EQ(GetOne(id.at("child")).error->message, "dependency_failed");
  auto other = ClaimOk(10);
  ASSERT_EQ(other.size(), 1u);
  EXPECT_EQ(other[0].task_id, id.at("other"));
}

}  // namespace
}  // namespace taskmill::broker
