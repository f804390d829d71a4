// Issue 22, task options in the store: delay_ms (the broker's clock), expires_in_ms (the
// terminal state expired: claim never leases a task past its start deadline, the promote
// timer's sweep expires queued, delayed and blocked ones, only the first start counts) and
// idempotency_ttl_ms (a key's own TTL, else the broker's default).

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "store_test_util.h"

namespace taskmill::broker {
namespace {

using protocol::TaskState;

class StoreExpiryTest : public StoreTest {
 protected:
  PromoteResult Promote() {
    auto r = Await<PromoteResult>([&](auto cb) { store_->Promote(1000, cb); });
    EXPECT_TRUE(r.has_value());
    return r ? std::move(*r) : PromoteResult{};
  }
  ClaimsResult ClaimAll(uint32_t n) {
    ClaimRequest req;
    req.worker_id = "w1";
    req.queues = {"default"};
    req.n = n;
    auto r = Await<ClaimsResult>([&](auto cb) { store_->ClaimMany({req}, cb); });
    EXPECT_TRUE(r.has_value());
    return r ? std::move(*r) : ClaimsResult{};
  }
  static size_t Tasks(const ClaimsResult& r) {
    return r.claims.empty() || !r.claims[0] ? 0 : r.claims[0]->tasks.size();
  }
  int64_t Expiring() { return RawInt({"ZCARD", prefix_ + "expiring"}); }
  static protocol::TaskSpec Expiring(int64_t ms) {
    auto s = Spec();
    s.expires_in_ms = static_cast<uint64_t>(ms);
    return s;
  }
};

TEST_F(StoreExpiryTest, DelayCountsFromTheBrokersClockAtEnqueue) {
  auto s = Spec();
  s.delay_ms = 5000;
  std::string id = EnqueueOne(s);
  EXPECT_EQ(GetOne(id).state, TaskState::kDelayed);
  clock_.Advance(4999);
  Promote();
  EXPECT_EQ(GetOne(id).state, TaskState::kDelayed);
  EXPECT_TRUE(ClaimOk(1).empty());
  clock_.Advance(1);
  Promote();
  auto tasks = ClaimOk(1);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].task_id, id);
}

TEST_F(StoreExpiryTest, ClaimExpiresATaskPastItsDeadlineInsteadOfLeasingIt) {
  std::string late = EnqueueOne(Expiring(100));
  std::string fine = EnqueueOne(Spec());
  EXPECT_EQ(Expiring(), 1);
  clock_.Advance(100);
  auto r = ClaimAll(2);
  ASSERT_EQ(Tasks(r), 1u);
  EXPECT_EQ(r.claims[0]->tasks[0].task_id, fine);
  ASSERT_EQ(r.expired.size(), 1u);
  EXPECT_EQ(r.expired[0].task_id, late);
  auto info = GetOne(late);
  EXPECT_EQ(info.state, TaskState::kExpired);
  EXPECT_EQ(info.attempts, 0u);
  ASSERT_TRUE(info.error.has_value());
  EXPECT_EQ(info.error->code, "expired");
  EXPECT_FALSE(info.error->retryable);
  EXPECT_EQ(info.finished_ms, clock_.NowMs());
  auto st = StatsOf("default");
  EXPECT_EQ(st.stats.expired, 1u);
  EXPECT_EQ(st.stats.ready, 0u);
  EXPECT_EQ(Expiring(), 0);
  EXPECT_EQ(RawInt({"EXISTS", prefix_ + "q:default:echo"}), 0);
}

TEST_F(StoreExpiryTest, ATaskClaimedBeforeItsDeadlineLeavesTheIndex) {
  std::string id = EnqueueOne(Expiring(100));
  clock_.Advance(99);
  auto r = ClaimAll(1);
  ASSERT_EQ(Tasks(r), 1u);
  EXPECT_TRUE(r.expired.empty());
  EXPECT_EQ(Expiring(), 0);
  EXPECT_EQ(GetOne(id).state, TaskState::kRunning);
}

TEST_F(StoreExpiryTest, SweepExpiresQueuedDelayedAndBlockedTasks) {
  std::string parent = EnqueueOne(Spec());
  auto running = ClaimOk(1);  // running: its child stays blocked
  ASSERT_EQ(running.size(), 1u);
  std::string queued = EnqueueOne(Expiring(1000));
  auto d = Expiring(1000);
  d.delay_ms = 5000;  // due after its deadline
  std::string delayed = EnqueueOne(d);
  auto b = Expiring(1000);
  b.depends_on = {parent};
  std::string blocked = EnqueueOne(b);
  EXPECT_EQ(GetOne(delayed).state, TaskState::kDelayed);
  EXPECT_EQ(GetOne(blocked).state, TaskState::kBlocked);
  clock_.Advance(999);
  EXPECT_TRUE(Promote().expired.empty());
  EXPECT_EQ(Expiring(), 3);
  clock_.Advance(1);
  auto p = Promote();
  EXPECT_EQ(p.expired.size(), 3u);
  for (const auto& id : {queued, delayed, blocked}) {
    EXPECT_EQ(GetOne(id).state, TaskState::kExpired) << id;
  }
  EXPECT_EQ(Expiring(), 0);
  EXPECT_EQ(RawInt({"ZCARD", prefix_ + "delayed"}), 0);
  auto st = StatsOf("default");
  EXPECT_EQ(st.stats.expired, 3u);
  EXPECT_EQ(st.stats.ready, 0u);
  EXPECT_EQ(st.stats.delayed, 0u);
  EXPECT_EQ(st.blocked, 0u);
  // Its parent succeeding later never releases the expired child.
  FinishOk({Ok(running[0])});
  EXPECT_EQ(GetOne(parent).state, TaskState::kSucceeded);
  EXPECT_TRUE(ClaimOk(5).empty());
  EXPECT_EQ(GetOne(blocked).state, TaskState::kExpired);
}

TEST_F(StoreExpiryTest, AStartedTaskNeverExpires) {
  auto s = Expiring(100);
  s.max_attempts = 3;
  s.backoff = BackoffPolicy{1000, 1000, 1.0, false};
  std::string id = EnqueueOne(s);
  auto tasks = ClaimOk(1);
  ASSERT_EQ(tasks.size(), 1u);
  FinishOk({Fail(tasks[0], true)});
  EXPECT_EQ(GetOne(id).state, TaskState::kDelayed);  // its retry, in backoff
  clock_.Advance(5000);                              // well past the deadline
  auto p = Promote();
  EXPECT_TRUE(p.expired.empty());
  auto r = ClaimAll(1);
  ASSERT_EQ(Tasks(r), 1u);
  EXPECT_EQ(r.claims[0]->tasks[0].attempt, 2u);
  EXPECT_TRUE(r.expired.empty());
}

TEST_F(StoreExpiryTest, ChildrenOfAnExpiredTaskAreCancelledLikeAFailedOnes) {
  std::string parent = EnqueueOne(Expiring(100));
  auto c = Spec();
  c.depends_on = {parent};
  std::string child = EnqueueOne(c);
  clock_.Advance(100);
  auto p = Promote();
  ASSERT_EQ(p.expired.size(), 1u);
  EXPECT_EQ(p.expired[0].task_id, parent);
  EXPECT_EQ(p.expired[0].cancelled, std::vector<std::string>{child});
  auto info = GetOne(child);
  EXPECT_EQ(info.state, TaskState::kCancelled);
  ASSERT_TRUE(info.error.has_value());
  EXPECT_EQ(info.error->message, "dependency_failed");
  // A new child of an expired parent is doomed at once, as a failed parent's is.
  auto late = Spec();
  late.depends_on = {parent};
  EXPECT_EQ(GetOne(EnqueueOne(late)).state, TaskState::kCancelled);
}

TEST_F(StoreExpiryTest, AnExpiredTaskEndsItsBatchLikeAFailedOne) {
  auto a = Expiring(100);
  a.name = "a";
  a.id = "batch-exp-a";
  auto r = Await<EnqueueResult>(
      [&](auto cb) { store_->EnqueueBatch("batch-exp", {}, {a}, cb); });
  ASSERT_TRUE(r.has_value());
  clock_.Advance(100);
  auto p = Promote();
  ASSERT_EQ(p.expired.size(), 1u);
  ASSERT_EQ(p.batches.size(), 1u);
  EXPECT_EQ(p.batches[0].state, "failed");
  EXPECT_EQ(p.batches[0].counts.at("expired"), 1u);
}

TEST_F(StoreExpiryTest, ExpiryIsStoredInRedisNotInTheBroker) {
  std::string id = EnqueueOne(Expiring(100));
  // A second store on the same Redis (a restarted broker) sees the same deadline.
  StoreOptions o;
  o.prefix = prefix_;
  store_ = std::make_unique<Store>(*conn_, clock_, o);
  ASSERT_TRUE(Until([&] { return conn_->in_flight() == 0; }));
  clock_.Advance(100);
  EXPECT_EQ(Promote().expired.size(), 1u);
  EXPECT_EQ(GetOne(id).state, TaskState::kExpired);
}

TEST_F(StoreExpiryTest, IdempotencyKeyHasItsTasksTtlThenIsForgotten) {
  auto s = Spec();
  s.idempotency_key = "short-lived";
  s.idempotency_ttl_ms = 1000;
  std::string first = EnqueueOne(s);
  int64_t ttl = RawInt({"PTTL", prefix_ + "idem:short-lived"});
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 1000);
  // Redis expires it on its own clock: poll for that (Until wakes only on connection
  // events), every 20 ms for at most 5 s.
  bool gone = false;
  for (int i = 0; i < 250 && !gone; ++i) {
    gone = RawInt({"EXISTS", prefix_ + "idem:short-lived"}) == 0;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(gone);
  auto again = EnqueueOk({s});
  ASSERT_EQ(again.items.size(), 1u);
  EXPECT_FALSE(again.items[0].duplicate);
  EXPECT_NE(again.items[0].id, first);
}

TEST_F(StoreExpiryTest, IdempotencyKeyWithoutItsOwnTtlGetsTheBrokersDefault) {
  StoreOptions o;
  o.prefix = prefix_;
  o.idempotency_ttl_ms = 3'600'000;
  store_ = std::make_unique<Store>(*conn_, clock_, o);
  ASSERT_TRUE(Until([&] { return conn_->in_flight() == 0; }));
  auto s = Spec();
  s.idempotency_key = "default-ttl";
  EnqueueOne(s);
  int64_t ttl = RawInt({"PTTL", prefix_ + "idem:default-ttl"});
  EXPECT_GT(ttl, 3'500'000);
  EXPECT_LE(ttl, 3'600'000);
}

}  // namespace
}  // namespace taskmill::broker
