// Finished tasks bounded by count as well as by age (issue 15): past max_finished_per_queue
// a queue's oldest succeeded or cancelled tasks are deleted; queued, running and
// dead-lettered tasks never are.

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
  EXPECT_EQ(RawInt({"ZCARD", prefix_ + "done:default"}), 3);

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

}  // namespace
}  // namespace taskmill::broker
