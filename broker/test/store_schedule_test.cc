// The store's schedule scripts against a real redis-server: a tick is claimed at most once
// (the compare-and-set in enqueue.lua), a paused or removed schedule is never claimed, and a
// schedule's state lives in Redis (a second store on another connection sees it).

#include <string>

#include "store_test_util.h"

namespace taskmill::broker {
namespace {

class ScheduleStoreTest : public StoreTest {
 protected:
  static protocol::ScheduleInfo Every(std::string name, uint64_t every_ms) {
    protocol::ScheduleInfo s;
    s.name = std::move(name);
    s.every_ms = every_ms;
    s.task.type = "echo";
    s.task.queue = "sched";
    return s;
  }
  StoredSchedule PutOk(const protocol::ScheduleInfo& s, int64_t next_ms) {
    auto r = Await<StoredSchedule>([&](auto cb) { store_->SchedulePut(s, next_ms, "", cb); });
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? *r : StoredSchedule{};
  }
  Result<TickOutcome> Tick(const TickClaim& claim) {
    protocol::TaskSpec spec = Spec("echo", 0, "sched");
    spec.idempotency_key = "sched:" + claim.name + ":" + std::to_string(claim.at_ms);
    return Await<TickOutcome>([&](auto cb) { store_->EnqueueTick(spec, "", claim, cb); });
  }
  protocol::ScheduleInfo Read(const std::string& name) {
    auto r = Await<ScheduleListing>([&](auto cb) { store_->ScheduleList({name}, "", 10, cb); });
    EXPECT_TRUE(r.has_value() && r->items.size() == 1);
    return r && !r->items.empty() ? r->items[0].info : protocol::ScheduleInfo{};
  }
  uint64_t Queued() {
    auto c = Await<std::vector<QueueCounters>>([&](auto cb) { store_->Stats({"sched"}, cb); });
    return c && !c->empty() ? (*c)[0].stats.ready : 0;
  }
};

TEST_F(ScheduleStoreTest, ATickIsClaimedOnceHoweverManyTry) {
  int64_t t0 = clock_.NowMs() / 1000 * 1000;
  PutOk(Every("hb", 1000), t0);
  TickClaim claim{"hb", t0, t0 + 1000, t0, true, 0};
  auto first = Tick(claim);
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  EXPECT_EQ(first->status, TickStatus::kClaimed);
  EXPECT_FALSE(first->task_id.empty());
  // Two more brokers read the same next_run and try the same tick: both lose, nothing stored.
  for (int i = 0; i < 2; ++i) {
    auto again = Tick(claim);
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->status, TickStatus::kLost);
  }
  protocol::ScheduleInfo s = Read("hb");
  EXPECT_EQ(s.fired, 1u);
  EXPECT_EQ(s.next_run_ms, t0 + 1000);
  EXPECT_EQ(s.last_task_id, first->task_id);
  EXPECT_EQ(s.last_run_ms, t0);
  EXPECT_EQ(Queued(), 1u);
  // The next tick is claimable from the new next_run.
  auto next = Tick(TickClaim{"hb", t0 + 1000, t0 + 2000, t0 + 1000, true, 0});
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->status, TickStatus::kClaimed);
  EXPECT_EQ(Queued(), 2u);
}

TEST_F(ScheduleStoreTest, APausedScheduleIsNeverClaimedAndResumesWhereTold) {
  int64_t t0 = clock_.NowMs();
  PutOk(Every("p", 1000), t0);
  auto paused = Await<std::optional<StoredSchedule>>(
      [&](auto cb) { store_->ScheduleState("p", protocol::ScheduleOp::kPause, 0, cb); });
  ASSERT_TRUE(paused.has_value() && *paused);
  // A ticker that read it just before the pause still tries: refused.
  auto tick = Tick(TickClaim{"p", t0, t0 + 1000, t0, true, 0});
  ASSERT_TRUE(tick.has_value());
  EXPECT_EQ(tick->status, TickStatus::kLost);
  EXPECT_TRUE((*paused)->info.paused);
  // Not due while paused.
  clock_.Advance(10'000);
  auto due = Await<ScheduleListing>([&](auto cb) { store_->ScheduleDue(10, cb); });
  ASSERT_TRUE(due.has_value());
  EXPECT_TRUE(due->items.empty());
  EXPECT_EQ(due->total, 1u);
  // Re-adding keeps it paused (a deploy does not undo an operator's pause).
  EXPECT_TRUE(PutOk(Every("p", 2000), t0).info.paused);
  int64_t resume_at = clock_.NowMs() + 500;
  auto resumed = Await<std::optional<StoredSchedule>>(
      [&](auto cb) { store_->ScheduleState("p", protocol::ScheduleOp::kResume, resume_at, cb); });
  ASSERT_TRUE(resumed.has_value() && *resumed);
  EXPECT_FALSE((*resumed)->info.paused);
  EXPECT_EQ((*resumed)->info.next_run_ms, resume_at);
  EXPECT_EQ((*resumed)->info.every_ms, 2000u);
  EXPECT_EQ(Queued(), 0u);
}

TEST_F(ScheduleStoreTest, CatchUpSkipMovesOnWithoutATaskAndCountsTheMisses) {
  int64_t t0 = clock_.NowMs();
  PutOk(Every("c", 1000), t0);
  auto skip = Tick(TickClaim{"c", t0, t0 + 5000, t0 + 3000, false, 4});
  ASSERT_TRUE(skip.has_value());
  EXPECT_EQ(skip->status, TickStatus::kSkipped);
  protocol::ScheduleInfo s = Read("c");
  EXPECT_EQ(s.missed, 4u);
  EXPECT_EQ(s.fired, 0u);
  EXPECT_EQ(s.next_run_ms, t0 + 5000);
  EXPECT_EQ(Queued(), 0u);
}

TEST_F(ScheduleStoreTest, RemovedSchedulesAreGoneAndUnknownNamesAreNotFound) {
  int64_t t0 = clock_.NowMs();
  PutOk(Every("r", 1000), t0);
  auto removed = Await<std::optional<StoredSchedule>>(
      [&](auto cb) { store_->ScheduleState("r", protocol::ScheduleOp::kRemove, 0, cb); });
  ASSERT_TRUE(removed.has_value());
  EXPECT_FALSE(removed->has_value());
  auto tick = Tick(TickClaim{"r", t0, t0 + 1000, t0, true, 0});
  ASSERT_TRUE(tick.has_value());
  EXPECT_EQ(tick->status, TickStatus::kLost);
  auto gone = Await<std::optional<StoredSchedule>>(
      [&](auto cb) { store_->ScheduleState("r", protocol::ScheduleOp::kPause, 0, cb); });
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  auto list = Await<ScheduleListing>([&](auto cb) { store_->ScheduleList({}, "", 10, cb); });
  ASSERT_TRUE(list.has_value());
  EXPECT_EQ(list->total, 0u);
}

TEST_F(ScheduleStoreTest, ASecondStoreOnAnotherConnectionSeesTheSameSchedules) {
  int64_t t0 = clock_.NowMs();
  protocol::ScheduleInfo s = Every("shared", 60'000);
  s.cron = "*/5 * * * *";
  s.every_ms = 0;
  s.tz = "Europe/Paris";
  s.catch_up = "once";
  PutOk(s, t0);
  auto conn = Connect();
  StoreOptions o;
  o.prefix = prefix_;
  Store other(*conn, clock_, o);
  std::optional<Result<ScheduleListing>> got;
  other.ScheduleList({}, "", 10, [&](Result<ScheduleListing> r) { got.emplace(std::move(r)); });
  ASSERT_TRUE(RunUntil(*conn, [&] { return got.has_value(); }, 10000));
  ASSERT_TRUE(got->has_value());
  ASSERT_EQ((*got)->items.size(), 1u);
  const auto& back = (*got)->items[0].info;
  EXPECT_EQ(back.cron, "*/5 * * * *");
  EXPECT_EQ(back.tz, "Europe/Paris");
  EXPECT_EQ(back.catch_up, "once");
  EXPECT_EQ(back.task.queue, "sched");
  EXPECT_EQ(back.next_run_ms, t0);
}

}  // namespace
}  // namespace taskmill::broker
