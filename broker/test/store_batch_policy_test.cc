// A batch's on_failure (issue 22): what a task that dies does to the rest of its batch, as
// the store records it (member_died in lib/prelude.lua, parent errors in claim.lua).
#include <algorithm>

#include "store/batch_resolver.h"
#include "store_test_util.h"

namespace taskmill::broker {
namespace {

using protocol::TaskState;

class StoreBatchPolicyTest : public StoreTest {
 protected:
  // a -> b -> d, a -> c -> d (d needs b and c), and e alone.
  ResolvedBatch Stored(const std::string& on_failure) {
    protocol::BatchSpec b;
    for (const char* n : {"d", "c", "b", "a", "e"}) {
      auto s = Spec();
      s.name = n;
      s.max_attempts = 2;
      s.backoff = BackoffPolicy{0, 0, 1.0, false};
      b.tasks.push_back(s);
    }
    b.tasks[0].depends_on = {"b", "c"};
    b.tasks[1].depends_on = {"a"};
    b.tasks[2].depends_on = {"a"};
    auto r = ResolveBatch(b);
    EXPECT_TRUE(r.has_value());
    BatchSettings settings;
    settings.on_failure = on_failure;
    auto e = Await<EnqueueResult>(
        [&](auto cb) { store_->EnqueueBatch(r->batch_id, settings, r->tasks, cb); });
    EXPECT_TRUE(e.has_value()) << e.error().ToString();
    return *r;
  }
  protocol::BatchStatus Batch(const std::string& id) {
    auto r =
        Await<std::optional<protocol::BatchStatus>>([&](auto cb) { store_->GetBatch(id, cb); });
    EXPECT_TRUE(r.has_value() && r->has_value());
    return r && *r ? **r : protocol::BatchStatus{};
  }
  // The claimed task named `name` among `tasks` (fails the test when absent).
  static protocol::TaskMsg Named(const std::vector<protocol::TaskMsg>& tasks,
                                 const std::string& name) {
    for (const auto& t : tasks) {
      if (t.name == name) return t;
    }
    ADD_FAILURE() << "no claimed task named " << name;
    return {};
  }
};

TEST_F(StoreBatchPolicyTest, TheDefaultIsCancelDependentsAndAStoredPolicyIsReadBack) {
  auto plain = Stored(protocol::kOnFailureCancelDependents);
  EXPECT_EQ(Batch(plain.batch_id).on_failure, "cancel_dependents");
  // Stored as nothing: batches from before issue 22 read the same.
  EXPECT_EQ(RawInt({"HEXISTS", prefix_ + "batch:" + plain.batch_id, "onf"}), 0);
  auto cont = Stored(protocol::kOnFailureContinue);
  EXPECT_EQ(Batch(cont.batch_id).on_failure, "continue");
  // A broker restart is a new Store on the same Redis: the policy is in the batch hash.
  Store restarted(*conn_, clock_, store_->options());
  ASSERT_TRUE(Until([&] { return conn_->in_flight() == 0; }));
  auto r = Await<std::optional<protocol::BatchStatus>>(
      [&](auto cb) { restarted.GetBatch(cont.batch_id, cb); });
  ASSERT_TRUE(r.has_value() && r->has_value());
  EXPECT_EQ((*r)->on_failure, "continue");
}

TEST_F(StoreBatchPolicyTest, ContinueRunsTheChildrenOfADeadTaskWithItsError) {
  auto b = Stored(protocol::kOnFailureContinue);
  const auto& id = b.ids_by_name;
  auto first = ClaimOk(10);
  ASSERT_EQ(first.size(), 2u);  // a and e
  auto a = Named(first, "a");
  // A retry is no death: nothing is released yet.
  auto retry = FinishOk({Fail(a, true)});
  ASSERT_EQ(retry.items.at(0).status, FinishStatus::kRetry);
  EXPECT_TRUE(retry.items[0].released.empty());
  EXPECT_EQ(GetOne(id.at("b")).state, TaskState::kBlocked);
  ASSERT_TRUE(Await<PromoteResult>([&](auto cb) { store_->Promote(10, cb); }).has_value());
  a = ClaimOk(10, {"default"}).at(0);
  ASSERT_EQ(a.name, "a");
  auto dead = FinishOk({Fail(a, true, "exit_status")});  // its last attempt
  ASSERT_EQ(dead.items.at(0).status, FinishStatus::kDead);
  EXPECT_TRUE(dead.items[0].cancelled.empty());
  EXPECT_EQ(dead.items[0].released.size(), 2u);
  auto mid = ClaimOk(10);
  ASSERT_EQ(mid.size(), 2u);
  for (const auto& t : mid) {
    EXPECT_TRUE(t.parents.empty()) << t.name << ": a dead parent has no output to give";
    ASSERT_EQ(t.parent_errors.size(), 1u) << t.name;
    EXPECT_EQ(t.parent_errors[0].name, "a");
    EXPECT_EQ(t.parent_errors[0].code, "exit_status");
    EXPECT_EQ(t.parent_errors[0].message, "it broke");
    EXPECT_TRUE(t.parent_errors[0].retryable);
  }
  FinishOk({Ok(Named(mid, "b"), "b-out")});
  FinishOk({Fail(Named(mid, "c"), false, "bad_input")});
  auto d = ClaimOk(10);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].name, "d");
  EXPECT_EQ(d[0].parents.at("b"), "b-out");
  ASSERT_EQ(d[0].parent_errors.size(), 1u);
  EXPECT_EQ(d[0].parent_errors[0].name, "c");
  EXPECT_EQ(d[0].parent_errors[0].code, "bad_input");
  EXPECT_FALSE(d[0].parent_errors[0].retryable);
  FinishOk({Ok(d[0])});
  FinishOk({Ok(Named(first, "e"))});
  auto st = Batch(b.batch_id);
  EXPECT_EQ(st.state, "partial");
  EXPECT_EQ(st.counts.at("failed"), 2u);
  EXPECT_EQ(st.counts.at("succeeded"), 3u);
  EXPECT_EQ(st.counts.count("cancelled"), 0u);
  EXPECT_EQ(StatsOf("default").blocked, 0u);
}

TEST_F(StoreBatchPolicyTest, CancelDependentsStillCancelsOnlyTheDescendants) {
  auto b = Stored(protocol::kOnFailureCancelDependents);
  auto first = ClaimOk(10);
  auto r = FinishOk({Fail(Named(first, "a"), false)});
  ASSERT_EQ(r.items.at(0).status, FinishStatus::kDead);
  EXPECT_EQ(r.items[0].cancelled.size(), 3u);  // b, c, d; e runs on
  EXPECT_TRUE(r.items[0].fail_fast_cancelled.empty());
  EXPECT_TRUE(r.items[0].cancel_requests.empty());
  EXPECT_EQ(GetOne(b.ids_by_name.at("e")).state, TaskState::kRunning);
}

TEST_F(StoreBatchPolicyTest, FailFastCancelsEveryUnfinishedTaskAndStopsTheRunningOnes) {
  auto b = Stored(protocol::kOnFailureFailFast);
  const auto& id = b.ids_by_name;
  auto first = ClaimOk(10);
  ASSERT_EQ(first.size(), 2u);
  auto e = Named(first, "e");
  auto r = FinishOk({Fail(Named(first, "a"), false)});
  ASSERT_EQ(r.items.at(0).status, FinishStatus::kDead);
  const auto& item = r.items[0];
  std::vector<std::string> want = {id.at("b"), id.at("c"), id.at("d")};
  auto got = item.cancelled;
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
  auto fast = item.fail_fast_cancelled;
  std::sort(fast.begin(), fast.end());
  EXPECT_EQ(fast, want);
  for (const char* n : {"b", "c", "d"}) {
    auto t = GetOne(id.at(n));
    EXPECT_EQ(t.state, TaskState::kCancelled) << n;
    EXPECT_EQ(t.error->message, "batch_failed") << n;
  }
  // The running one is asked to stop, as a CANCEL would: its worker and lease token.
  ASSERT_EQ(item.cancel_requests.size(), 1u);
  EXPECT_EQ(item.cancel_requests[0].task_id, e.task_id);
  EXPECT_EQ(item.cancel_requests[0].worker_id, "w1");
  EXPECT_EQ(item.cancel_requests[0].token, e.token);
  EXPECT_EQ(GetOne(e.task_id).state, TaskState::kRunning);
  EXPECT_EQ(Batch(b.batch_id).state, "running");
  // Its worker stops it: the attempt ends cancelled, and with it the batch.
  auto stopped = FinishOk({Fail(e, true, "cancelled")});
  EXPECT_EQ(stopped.items.at(0).status, FinishStatus::kCancelled);
  auto st = Batch(b.batch_id);
  EXPECT_EQ(st.state, "failed");
  EXPECT_EQ(st.counts.at("failed"), 1u);
  EXPECT_EQ(st.counts.at("cancelled"), 4u);
  EXPECT_EQ(StatsOf("default").blocked, 0u);
  EXPECT_EQ(StatsOf("default").stats.ready, 0u);
}

TEST_F(StoreBatchPolicyTest, FailFastFiresOnALostLeaseTooAndTheSurvivorMakesItPartial) {
  auto b = Stored(protocol::kOnFailureFailFast);
  auto first = ClaimOk(10, {"default"}, {}, "w1", 1000);
  auto e = Named(first, "e");
  FinishOk({Ok(e)});  // e succeeds before anything dies
  // a's lease runs out on both attempts: its death comes from reap.lua, not a DONE.
  clock_.Advance(2000);
  auto reaped = Await<FinishResult>([&](auto cb) { store_->Reap(100, cb); });
  ASSERT_TRUE(reaped.has_value());
  ASSERT_TRUE(Await<PromoteResult>([&](auto cb) { store_->Promote(10, cb); }).has_value());
  auto again = ClaimOk(10, {"default"}, {}, "w1", 1000);
  ASSERT_EQ(again.size(), 1u);
  clock_.Advance(2000);
  auto dead = Await<FinishResult>([&](auto cb) { store_->Reap(100, cb); });
  ASSERT_TRUE(dead.has_value());
  ASSERT_EQ(dead->items.size(), 1u);
  EXPECT_EQ(dead->items[0].status, FinishStatus::kDead);
  EXPECT_EQ(dead->items[0].fail_fast_cancelled.size(), 3u);
  auto st = Batch(b.batch_id);
  EXPECT_EQ(st.state, "partial");
  EXPECT_EQ(st.counts.at("succeeded"), 1u);
  EXPECT_EQ(st.counts.at("failed"), 1u);
  EXPECT_EQ(st.counts.at("cancelled"), 3u);
}

}  // namespace
}  // namespace taskmill::broker
