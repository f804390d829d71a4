// The per-queue depth cap (StoreOptions::max_queue_depth, enqueue.lua's check_queue_depth):
// waiting tasks = queued (every ready zset of the queue) + delayed + blocked.

#include <gtest/gtest.h>

#include "store_test_util.h"

namespace taskmill::broker {
namespace {

using protocol::TaskState;

class QueueDepthTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (HasFatalFailure()) return;
    StoreOptions o;
    o.prefix = prefix_;
    o.max_queue_depth = 3;
    store_ = std::make_unique<Store>(*conn_, clock_, o);
    ASSERT_TRUE(Until([&] { return conn_->in_flight() == 0; }));
  }

  Result<EnqueueResult> TryEnqueue(std::vector<protocol::TaskSpec> specs) {
    return Await<EnqueueResult>([&](auto cb) { store_->Enqueue(std::move(specs), cb); });
  }
  static protocol::TaskSpec In(std::string queue, std::string type = "echo") {
    return Spec(std::move(type), 0, std::move(queue));
  }
};

TEST_F(QueueDepthTest, ACallPastTheCapIsRefusedWholeWithAClearMessage) {
  // Two types: the depth counts every ready zset of the queue.
  EnqueueOk({In("a", "echo"), In("a", "exec")});
  auto r = TryEnqueue({In("b"), In("a"), In("a")});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kQueueFull);
  EXPECT_EQ(r.error().message,
            "queue a holds 2 waiting tasks, its cap is 3; this request would add 2");
  // Nothing was written: not the task for b, not the ones for a.
  EXPECT_EQ(StatsOf("b").stats.submitted, 0u);
  EXPECT_EQ(StatsOf("a").stats.ready, 2u);
  // Exactly up to the cap is fine; one more is not.
  EnqueueOk({In("a"), In("b")});
  EXPECT_EQ(StatsOf("a").stats.ready, 3u);
  r = TryEnqueue({In("a")});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kQueueFull);
}

TEST_F(QueueDepthTest, DelayedAndBlockedTasksCountButRunningOnesDoNot) {
  auto delayed = In("default");
  delayed.not_before_ms = clock_.NowMs() + 60000;
  std::string parent = EnqueueOne(In("default"));
  auto child = In("default");
  child.depends_on = {parent};
  EXPECT_EQ(GetOne(EnqueueOne(child)).state, TaskState::kBlocked);
  EXPECT_EQ(GetOne(EnqueueOne(delayed)).state, TaskState::kDelayed);
  auto r = TryEnqueue({In("default")});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kQueueFull);
  EXPECT_NE(r.error().message.find("holds 3 waiting tasks"), std::string::npos);
  // The parent leaves the queue when claimed: room for one more.
  ASSERT_EQ(ClaimOk(1).size(), 1u);
  EnqueueOne(In("default"));
}

TEST_F(QueueDepthTest, ABatchPastTheCapIsNotCreated) {
  std::vector<protocol::TaskSpec> specs;
  for (const char* name : {"s1", "s2", "s3", "s4"}) {
    auto s = In("default");
    s.name = name;
    s.id = std::string("t-") + name;
    specs.push_back(s);
  }
  auto r =
      Await<EnqueueResult>([&](auto cb) { store_->EnqueueBatch("b1", {}, std::move(specs), cb); });
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kQueueFull);
  EXPECT_NE(r.error().message.find("would add 4"), std::string::npos);
  EXPECT_EQ(RawInt({"EXISTS", prefix_ + "batch:b1"}), 0);
  EXPECT_EQ(RawInt({"EXISTS", prefix_ + "task:t-s1"}), 0);
}

TEST_F(QueueDepthTest, AResubmitOfASeenIdempotencyKeyIsADuplicateEvenWhenFull) {
  auto keyed = In("default");
  keyed.idempotency_key = "k1";
  std::string id = EnqueueOne(keyed);
  EnqueueOk({In("default"), In("default")});
  auto again = EnqueueOk({keyed});
  ASSERT_EQ(again.items.size(), 1u);
  EXPECT_TRUE(again.items[0].duplicate);
  EXPECT_EQ(again.items[0].id, id);
}

TEST_F(StoreTest, NoDepthCapByDefault) {
  std::vector<protocol::TaskSpec> specs(50, Spec());
  EnqueueOk(std::move(specs));
  EXPECT_EQ(StatsOf("default").stats.ready, 50u);
}

}  // namespace
}  // namespace taskmill::broker
