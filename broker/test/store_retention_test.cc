// Finished tasks bounded by count as well as by age (issue 15): past max_finished_per_queue
// a queue's oldest succeeded or cancelled tasks are deleted; queued, running and
// dead-lettered tasks never are. Layout 5: no TTL per finished task, the trim of
// done:<queue> (on each finish and on the promote timer) deletes those past the retention.

#include <gtest/gtest.h>

#include "store_test_util.h"

namespace taskmill::broker {
namespace {

class StoreRetentionTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (HasFatalFailure()) return;
    StoreOptions o;
    o.prefix = prefix_;
    o.max_finished_per_queue = 3;
    store_ = std::make_unique<Store>(*conn_, clock_, o);
    ASSERT_TRUE(Until([&] { return conn_->in_flight() == 0; }));
  }
  bool Known(const std::string& id) {
    auto r = Await<std::vector<std::optional<protocol::TaskInfo>>>(
        [&](auto cb) { store_->Get({id}, cb); });
    EXPECT_TRUE(r.has_value());
    return r && r->size() == 1 && (*r)[0].has_value();
  }
};

TEST_F(StoreRetentionTest, TheOldestFinishedGoFirstAndNothingUnfinishedOrDeadEverGoes) {
  std::vector<std::string> done;
  for (int i = 0; i < 5; ++i) {
    std::string id = EnqueueOne(Spec("echo"));
    auto got = ClaimOk(1);
    ASSERT_EQ(got.size(), 1u);
    ASSERT_EQ(got[0].task_id, id);
    FinishOk({Ok(got[0])});
    done.push_back(id);
    clock_.Advance(10);
  }
  auto once = Spec("fails");
  once.max_attempts = 1;
  std::string dead = EnqueueOne(once);
  auto d = ClaimOk(1);
  ASSERT_EQ(d.size(), 1u);
  FinishOk({Fail(d[0], false)});
  std::string running = EnqueueOne(Spec("slow"));
  ASSERT_EQ(ClaimOk(1).size(), 1u);
  std::string queued = EnqueueOne(Spec("later"));

  // Five succeeded, cap three: the two oldest are gone, the rest stay.
  EXPECT_FALSE(Known(done[0]));
  EXPECT_FALSE(Known(done[1]));
  EXPECT_TRUE(Known(done[2]));
  EXPECT_TRUE(Known(done[3]));
  EXPECT_TRUE(Known(done[4]));
  EXPECT_TRUE(Known(dead));
  EXPECT_TRUE(Known(running));
  EXPECT_TRUE(Known(queued));
  EXPECT_EQ(RawInt({"LLEN", prefix_ + "done:default"}), 3);

  // A cancel finishes a task too: the next oldest goes.
  auto c = Await<CancelResult>([&](auto cb) { store_->Cancel({queued}, "test", cb); });
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(Known(queued));
  EXPECT_FALSE(Known(done[2]));
  EXPECT_TRUE(Known(dead));
  EXPECT_TRUE(Known(running));
  auto st = StatsOf("default");
  EXPECT_EQ(st.stats.succeeded, 5u);  // counters are not finished tasks: they stay
  EXPECT_EQ(st.stats.dead, 1u);
  EXPECT_EQ(st.stats.running, 1u);
}

TEST_F(StoreRetentionTest, FinishedTasksPastTheRetentionAreDeletedByTheTrimWithoutATtl) {
  StoreOptions o;
  o.prefix = prefix_;
  o.retention_ms = 60'000;  // and no count cap
  store_ = std::make_unique<Store>(*conn_, clock_, o);
  ASSERT_TRUE(Until([&] { return conn_->in_flight() == 0; }));
  auto run = [&](const std::string& type) {
    std::string id = EnqueueOne(Spec(type));
    auto got = ClaimOk(1, {"default"}, {type});
    EXPECT_EQ(got.size(), 1u);
    if (!got.empty()) FinishOk({Ok(got[0])});
    return id;
  };
  auto retried = Spec("flaky");  // a success after a failed attempt: it has a history too
  retried.backoff = BackoffPolicy{0, 0, 1.0, false};
  std::string first = EnqueueOne(retried);
  auto a1 = ClaimOk(1, {"default"}, {"flaky"});
  ASSERT_EQ(a1.size(), 1u);
  FinishOk({Fail(a1[0], true)});  // due again at once (no backoff): promoted
  ASSERT_TRUE(Await<PromoteResult>([&](auto cb) { store_->Promote(100, cb); }).has_value());
  auto a2 = ClaimOk(1, {"default"}, {"flaky"});
  ASSERT_EQ(a2.size(), 1u);
  FinishOk({Ok(a2[0])});
  EXPECT_EQ(RawInt({"PTTL", prefix_ + "task:" + first}), -1);
  ASSERT_EQ(RawInt({"EXISTS", prefix_ + "hist:" + first}), 1);
  clock_.Advance(30'000);
  std::string second = run("echo");
  std::string slow = EnqueueOne(Spec("slow"));
  ASSERT_EQ(ClaimOk(1, {"default"}, {"slow"}).size(), 1u);  // running past the retention
  EXPECT_TRUE(Known(first));
  EXPECT_EQ(RawInt({"LLEN", prefix_ + "done:default"}), 2);

  // Past the first's retention, nothing finishing: the promote timer's sweep deletes it and
  // its history, not the younger one nor the running task.
  clock_.Advance(30'001);
  ASSERT_TRUE(Await<PromoteResult>([&](auto cb) { store_->Promote(100, cb); }).has_value());
  EXPECT_FALSE(Known(first));
  EXPECT_EQ(RawInt({"EXISTS", prefix_ + "hist:" + first}), 0);
  EXPECT_TRUE(Known(second));
  EXPECT_TRUE(Known(slow));
  EXPECT_EQ(RawInt({"LLEN", prefix_ + "done:default"}), 1);
  // A finish trims too: the second is past its retention by the time a third finishes.
  clock_.Advance(30'000);
  std::string third = run("echo");
  EXPECT_FALSE(Known(second));
  EXPECT_TRUE(Known(third));
  EXPECT_TRUE(Known(slow));
  EXPECT_EQ(RawInt({"LLEN", prefix_ + "done:default"}), 1);
}

// done:<queue> may list an id whose task is gone (a layout 4 task that expired by its TTL)
// and was then reused by a new task: the trim drops the entry and never deletes the live task.
TEST_F(StoreRetentionTest, AListedIdReusedByALiveTaskIsNeverDeletedByTheTrim) {
  auto first = Spec("echo");
  first.id = "reused";
  ASSERT_EQ(EnqueueOne(first), "reused");
  auto got = ClaimOk(1);
  ASSERT_EQ(got.size(), 1u);
  FinishOk({Ok(got[0])});
  ASSERT_EQ(RawInt({"DEL", prefix_ + "task:reused"}), 1);  // gone, still listed
  auto again = Spec("later");
  again.id = "reused";
  ASSERT_EQ(EnqueueOne(again), "reused");
  for (int i = 0; i < 3; ++i) {  // cap 3: the head entry ("reused") is trimmed
    EnqueueOne(Spec("echo"));
    auto m = ClaimOk(1, {"default"}, {"echo"});
    ASSERT_EQ(m.size(), 1u);
    FinishOk({Ok(m[0])});
  }
  EXPECT_EQ(RawInt({"LLEN", prefix_ + "done:default"}), 3);
  EXPECT_EQ(RawInt({"LPOS", prefix_ + "done:default", "reused"}), -1);  // nil: not listed
  EXPECT_EQ(GetOne("reused").state, protocol::TaskState::kQueued);
}

}  // namespace
}  // namespace taskmill::broker
