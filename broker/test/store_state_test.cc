// State that shrinks (issue 13): types:<queue> lists only types with ready tasks, queues
// idle past the retention leave the index with their counters, the depth cap reads O(1)
// gauges, and STATS pages the queue index by name. None of it may lose a task.

#include <gtest/gtest.h>

#include <algorithm>

#include "store_test_util.h"

namespace taskmill::broker {
namespace {

using protocol::TaskState;

class StoreStateTest : public StoreTest {
 protected:
  int64_t Types(const std::string& queue) { return RawInt({"SCARD", prefix_ + "types:" + queue}); }
  int64_t Exists(const std::string& key) { return RawInt({"EXISTS", prefix_ + key}); }
  std::vector<std::string> Cancel(std::vector<std::string> ids) {
    auto r = Await<CancelResult>([&](auto cb) { store_->Cancel(std::move(ids), "test", cb); });
    EXPECT_TRUE(r.has_value());
    std::vector<std::string> out;
    if (r) {
      for (const auto& i : r->items) out.push_back(i.task_id);
    }
    return out;
  }
  void Promote() {
    auto r = Await<PromoteResult>([&](auto cb) { store_->Promote(1000, cb); });
    ASSERT_TRUE(r.has_value());
  }
  // ZSCORE answers a bulk string: 1 if the member is there, else -1 (RawInt's "not an int").
  int64_t InIndex(const std::string& queue) {
    auto r = Await<bool>([&](auto cb) {
      conn_->Command({"ZSCORE", prefix_ + "qindex", queue}, [cb](Result<const redisReply*> rr) {
        cb(rr && (*rr)->type == REDIS_REPLY_STRING);
      });
    });
    return r && *r ? 1 : 0;
  }
};

TEST_F(StoreStateTest, OneOffTypesLeaveTheTypeSetWhenCancelledOrClaimed) {
  std::vector<protocol::TaskSpec> specs;
  for (int i = 0; i < 200; ++i) specs.push_back(Spec("one-off-" + std::to_string(i)));
  auto r = EnqueueOk(std::move(specs));
  EXPECT_EQ(Types("default"), 200);
  std::vector<std::string> ids;
  for (const auto& item : r.items) ids.push_back(item.id);
  std::vector<std::string> cancel(ids.begin(), ids.begin() + 150);
  Cancel(cancel);
  EXPECT_EQ(Types("default"), 50);
  // Claiming the rest (any type) empties their zsets: the set follows.
  EXPECT_EQ(ClaimOk(100).size(), 50u);
  EXPECT_EQ(Types("default"), 0);
  // A type with two ready tasks stays until the second one leaves.
  EnqueueOk({Spec("twice"), Spec("twice")});
  EXPECT_EQ(ClaimOk(1).size(), 1u);
  EXPECT_EQ(Types("default"), 1);
  EXPECT_EQ(ClaimOk(1).size(), 1u);
  EXPECT_EQ(Types("default"), 0);
}

TEST_F(StoreStateTest, APrunedTypeComesBackWithItsNextReadyTaskSoNothingIsLost) {
  // One ready and one delayed task of the same type: the ready one is claimed (the type
  // leaves the set), then the delayed one is promoted and must be claimable by a worker of
  // any type, which finds types only through the set.
  auto later = Spec("rare");
  later.not_before_ms = clock_.NowMs() + 1000;
  std::string delayed = EnqueueOne(later);
  EnqueueOne(Spec("rare"));
  ASSERT_EQ(ClaimOk(10).size(), 1u);
  EXPECT_EQ(Types("default"), 0);
  clock_.Advance(1001);
  Promote();
  EXPECT_EQ(Types("default"), 1);
  auto got = ClaimOk(10);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].task_id, delayed);
  // A retry goes through delayed too; a failure with backoff 0 is due at once.
  auto spec = Spec("flaky");
  spec.backoff.base_ms = 0;
  std::string flaky = EnqueueOne(spec);
  auto run = ClaimOk(1).at(0);
  EXPECT_EQ(Types("default"), 0);
  protocol::Done fail;
  fail.task_id = run.task_id;
  fail.token = run.token;
  fail.ok = false;
  fail.error = protocol::TaskError{"boom", "boom", true};
  FinishOk({fail});
  Promote();
  auto again = ClaimOk(10);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].task_id, flaky);
}

TEST_F(StoreStateTest, TheQueuedGaugeMatchesTheReadyZsetsThroughEveryTransition) {
  auto later = Spec("b");
  later.not_before_ms = clock_.NowMs() + 10;
  std::string parent = EnqueueOne(Spec("a"));
  auto child = Spec("b");
  child.depends_on = {parent};
  EnqueueOk({Spec("a"), Spec("b"), later, child});
  auto count_ready = [&] {
    return RawInt({"ZCARD", prefix_ + "q:default:a"}) + RawInt({"ZCARD", prefix_ + "q:default:b"});
  };
  auto gauge = [&] { return static_cast<int64_t>(StatsOf("default").stats.ready); };
  EXPECT_EQ(gauge(), 3);
  EXPECT_EQ(gauge(), count_ready());
  auto run = ClaimOk(1, {"default"}, {"a"}).at(0);  // the parent (first in)
  EXPECT_EQ(gauge(), count_ready());
  FinishOk({Ok(run)});  // releases the child
  EXPECT_EQ(gauge(), 3);
  EXPECT_EQ(gauge(), count_ready());
  clock_.Advance(20);
  Promote();
  EXPECT_EQ(gauge(), 4);
  EXPECT_EQ(gauge(), count_ready());
  auto r = EnqueueOk({Spec("c")});
  Cancel({r.items[0].id});
  EXPECT_EQ(gauge(), 4);
  EXPECT_EQ(gauge(), count_ready());
}

TEST_F(StoreStateTest, TheDepthCapReadsGaugesNotTheTypeSet) {
  StoreOptions o;
  o.prefix = prefix_;
  o.max_queue_depth = 2;
  store_ = std::make_unique<Store>(*conn_, clock_, o);
  ASSERT_TRUE(Until([&] { return conn_->in_flight() == 0; }));
  EnqueueOk({Spec("x"), Spec("y")});
  // Without the type set a walk over it would see an empty queue; the gauge does not.
  ASSERT_EQ(RawInt({"DEL", prefix_ + "types:default"}), 1);
  auto r = Await<EnqueueResult>([&](auto cb) { store_->Enqueue({Spec("z")}, cb); });
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kQueueFull);
  EXPECT_EQ(r.error().message,
            "queue default holds 2 waiting tasks, its cap is 2; this request would add 1");
}

TEST_F(StoreStateTest, AQueueIdlePastTheRetentionLeavesTheIndexWithItsCounters) {
  StoreOptions o;
  o.prefix = prefix_;
  o.retention_ms = 60'000;
  store_ = std::make_unique<Store>(*conn_, clock_, o);
  ASSERT_TRUE(Until([&] { return conn_->in_flight() == 0; }));
  // "done": its only task succeeded. "busy": one task still queued. "dead": a dead letter.
  EnqueueOne(Spec("t", 0, "done"));
  FinishOk({Ok(ClaimOk(1, {"done"}).at(0))});
  EnqueueOne(Spec("t", 0, "busy"));
  auto spec = Spec("t", 0, "dead");
  spec.max_attempts = 1;
  EnqueueOne(spec);
  auto run = ClaimOk(1, {"dead"}).at(0);
  protocol::Done fail;
  fail.task_id = run.task_id;
  fail.token = run.token;
  fail.error = protocol::TaskError{"boom", "boom", false};
  FinishOk({fail});
  for (const char* q : {"done", "busy", "dead"}) EXPECT_EQ(InIndex(q), 1) << q;

  clock_.Advance(30'000);
  Promote();
  EXPECT_EQ(InIndex("done"), 1) << "idle for less than the retention";
  clock_.Advance(31'000);
  Promote();
  EXPECT_EQ(InIndex("done"), 0);
  EXPECT_EQ(Exists("stats:done"), 0);
  EXPECT_EQ(Exists("types:done"), 0);
  EXPECT_EQ(InIndex("busy"), 1);
  EXPECT_EQ(InIndex("dead"), 1);
  // The busy queue's task is still there, and the forgotten queue works again from zero.
  EXPECT_EQ(ClaimOk(1, {"busy"}).size(), 1u);
  EnqueueOne(Spec("t", 0, "done"));
  EXPECT_EQ(InIndex("done"), 1);
  EXPECT_EQ(StatsOf("done").stats.submitted, 1u);
  EXPECT_EQ(ClaimOk(1, {"done"}).size(), 1u);
}

TEST_F(StoreStateTest, AQueueThatGetsATaskAgainIsNotForgotten) {
  StoreOptions o;
  o.prefix = prefix_;
  o.retention_ms = 60'000;
  store_ = std::make_unique<Store>(*conn_, clock_, o);
  ASSERT_TRUE(Until([&] { return conn_->in_flight() == 0; }));
  EnqueueOne(Spec("t", 0, "q1"));
  FinishOk({Ok(ClaimOk(1, {"q1"}).at(0))});
  clock_.Advance(59'000);
  // Busy again just before the retention: a delayed task keeps it.
  auto later = Spec("t", 0, "q1");
  later.not_before_ms = clock_.NowMs() + 3'600'000;
  EnqueueOne(later);
  clock_.Advance(10'000);
  Promote();
  EXPECT_EQ(InIndex("q1"), 1);
  EXPECT_EQ(StatsOf("q1").stats.submitted, 2u);
}

TEST_F(StoreStateTest, StatsPagesTheQueueIndexByName) {
  std::vector<protocol::TaskSpec> specs;
  for (int i = 0; i < 25; ++i) {
    char name[8];
    std::snprintf(name, sizeof name, "q%02d", i);
    specs.push_back(Spec("t", 0, name));
  }
  EnqueueOk(std::move(specs));
  std::vector<std::string> seen;
  std::string after;
  int pages = 0;
  do {
    auto r = Await<StatsPage>([&](auto cb) { store_->StatsPage(after, 10, cb); });
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    EXPECT_EQ(r->known, 25u);
    EXPECT_LE(r->queues.size(), 10u);
    for (const auto& q : r->queues) {
      seen.push_back(q.stats.queue);
      EXPECT_EQ(q.stats.ready, 1u);
    }
    after = r->next_after;
    ++pages;
  } while (!after.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), 25u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(seen.front(), "q00");
  EXPECT_EQ(seen.back(), "q24");
}

}  // namespace
}  // namespace taskmill::broker
