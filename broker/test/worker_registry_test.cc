#include "dispatch/worker_registry.h"

#include <gtest/gtest.h>

#include "dispatch/held_results.h"

namespace taskmill::broker {
namespace {

protocol::Ready MakeReady(const std::string& id, uint32_t concurrency = 2) {
  return protocol::Ready{id, {"default", "images"}, {"echo"}, concurrency, {}, {}};
}

TEST(WorkerRegistryTest, RegisterFindAndCredit) {
  WorkerRegistry reg;
  EXPECT_FALSE(reg.Register("ident-a", MakeReady("w1", 3), 100));
  WorkerState* w = reg.Find("ident-a");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(reg.FindById("w1"), w);
  EXPECT_EQ(w->FreeSlots(), 3u);
  w->in_flight["t1"] = 1;
  w->claiming = 1;
  EXPECT_EQ(w->FreeSlots(), 1u);
  w->claiming = 5;  // never negative
  EXPECT_EQ(w->FreeSlots(), 0u);
  EXPECT_TRUE(w->Serves("images"));
  EXPECT_FALSE(w->Serves("other"));
}

TEST(WorkerRegistryTest, SameIdFromANewConnectionReplacesTheOld) {
  WorkerRegistry reg;
  reg.Register("ident-a", MakeReady("w1"), 100);
  reg.Find("ident-a")->in_flight["t1"] = 1;
  auto replaced = reg.Register("ident-b", MakeReady("w1"), 200);
  ASSERT_TRUE(replaced);
  EXPECT_EQ(replaced->identity, "ident-a");
  EXPECT_EQ(replaced->in_flight.count("t1"), 1u);
  EXPECT_EQ(reg.Find("ident-a"), nullptr);
  EXPECT_EQ(reg.FindById("w1")->identity, "ident-b");
  EXPECT_EQ(reg.size(), 1u);
}

TEST(WorkerRegistryTest, ReRegisteringKeepsInFlightTasks) {
  WorkerRegistry reg;
  reg.Register("ident-a", MakeReady("w1"), 100);
  reg.Find("ident-a")->in_flight["t1"] = 1;
  EXPECT_FALSE(reg.Register("ident-a", MakeReady("w1", 4), 150));
  EXPECT_EQ(reg.Find("ident-a")->in_flight.size(), 1u);
  EXPECT_EQ(reg.Find("ident-a")->concurrency, 4u);
}

TEST(WorkerRegistryTest, SilentWorkersAreTaken) {
  WorkerRegistry reg;
  reg.Register("a", MakeReady("w1"), 100);
  reg.Register("b", MakeReady("w2"), 100);
  reg.Touch("b", 500);
  auto silent = reg.TakeSilentSince(400);
  ASSERT_EQ(silent.size(), 1u);
  EXPECT_EQ(silent[0].id, "w1");
  EXPECT_EQ(reg.size(), 1u);
  EXPECT_EQ(reg.FindById("w1"), nullptr);
}

// A worker that goes silent while it holds tasks is taken with them, so its leases are
// released at once instead of waiting for them to expire; one that keeps talking is kept.
TEST(WorkerRegistryTest, ASilentWorkerHoldingTasksIsTakenWithThem) {
  WorkerRegistry reg;
  reg.Register("a", MakeReady("w1", 4), 100);
  reg.Register("b", MakeReady("w2", 4), 100);
  reg.Find("a")->in_flight = {{"t1", 1}, {"t2", 3}};
  reg.Find("b")->in_flight = {{"t3", 1}};
  reg.Touch("b", 450);
  auto silent = reg.TakeSilentSince(400);
  ASSERT_EQ(silent.size(), 1u);
  EXPECT_EQ(silent[0].id, "w1");
  EXPECT_EQ(silent[0].in_flight.size(), 2u);
  EXPECT_EQ(silent[0].in_flight.at("t2"), 3u);
  EXPECT_EQ(reg.FindById("w1"), nullptr);
  ASSERT_NE(reg.FindById("w2"), nullptr);
  EXPECT_EQ(reg.FindById("w2")->in_flight.size(), 1u);
  // Silent exactly at the deadline is not yet silent; one ms past it is.
  EXPECT_TRUE(reg.TakeSilentSince(450).empty());
  EXPECT_EQ(reg.TakeSilentSince(451).size(), 1u);
  EXPECT_EQ(reg.size(), 0u);
}

TEST(WorkerRegistryTest, WakeQueueClearsIdleOnlyForServingWorkers) {
  WorkerRegistry reg;
  reg.Register("a", MakeReady("w1"), 0);
  protocol::Ready other{"w2", {"other"}, {}, 1, {}, {}};
  reg.Register("b", other, 0);
  reg.Find("a")->idle = true;
  reg.Find("b")->idle = true;
  reg.WakeQueue("images");
  EXPECT_FALSE(reg.Find("a")->idle);
  EXPECT_TRUE(reg.Find("b")->idle);
  reg.WakeQueue("");
  EXPECT_FALSE(reg.Find("b")->idle);
  auto described = reg.Describe();
  ASSERT_EQ(described.size(), 2u);
  EXPECT_EQ(described[0].id, "w1");
}

TEST(WorkerRegistryTest, EmptyQueueListMeansDefault) {
  WorkerRegistry reg;
  reg.Register("a", protocol::Ready{"w1", {}, {}, 0, {}, {}}, 0);
  EXPECT_TRUE(reg.Find("a")->Serves("default"));
  EXPECT_EQ(reg.Find("a")->concurrency, 1u);
}

}  // namespace
}  // namespace taskmill::broker

namespace taskmill::broker {
namespace {

// Issue 13: DONEs of a connection that has not registered wait for its READY, bounded.
TEST(HeldResultsTest, HoldsUntilTakenExpiresAndStaysBounded) {
  HeldResults held;
  protocol::Done d;
  d.task_id = "t1";
  EXPECT_TRUE(held.Hold("conn-a", d, 0));
  d.task_id = "t2";
  EXPECT_TRUE(held.Hold("conn-a", d, 10));
  EXPECT_TRUE(held.Hold("conn-b", d, 20));
  EXPECT_EQ(held.size(), 3u);
  auto a = held.Take("conn-a");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].task_id, "t1");  // oldest first
  EXPECT_TRUE(held.Take("conn-a").empty());
  EXPECT_EQ(held.Expire(1000, 2000), 0u);
  EXPECT_EQ(held.Expire(3000, 2000), 1u);  // conn-b's, held since 20
  EXPECT_EQ(held.size(), 0u);
  // Bounded in bytes: a 64 MiB output cannot be held.
  d.output.assign(HeldResults::kMaxHeldBytes, 'x');
  EXPECT_FALSE(held.Hold("conn-c", d, 0));
  d.output.clear();
  for (size_t i = 0; i < HeldResults::kMaxHeld; ++i) ASSERT_TRUE(held.Hold("conn-d", d, 0));
  EXPECT_FALSE(held.Hold("conn-d", d, 0));
}

}  // namespace
}  // namespace taskmill::broker

namespace taskmill::broker {
namespace {

// Idle workers (their last claim came back short), `free` slots each, serving default/echo.
WorkerRegistry IdleWorkers(int n, uint32_t free) {
  WorkerRegistry reg;
  for (int i = 0; i < n; ++i) {
    std::string id = "w" + std::to_string(i);
    reg.Register("ident-" + id, MakeReady(id, free), 100);
    reg.FindById(id)->idle = true;
  }
  return reg;
}

int Woken(WorkerRegistry& reg) {
  int n = 0;
  for (WorkerState* w : reg.All()) n += w->idle ? 0 : 1;
  return n;
}

TEST(WorkerRegistryWakeTest, AnEnqueueWakesOnlyAsManyIdleWorkersAsItsTasksNeed) {
  WorkerRegistry reg = IdleWorkers(3, 2);
  reg.WakeFor({{"default", "echo", 1}});
  EXPECT_EQ(Woken(reg), 1) << "one task: one claim";
  for (WorkerState* w : reg.All()) w->promised = 0;  // the turn's claims went out
  reg.WakeFor({{"default", "echo", 3}});
  EXPECT_EQ(Woken(reg), 2) << "three tasks: two workers of two free slots";
  // Nobody serves these: nobody is woken for them.
  WorkerRegistry other = IdleWorkers(2, 2);
  other.WakeFor({{"default", "resize", 5}, {"elsewhere", "echo", 5}});
  EXPECT_EQ(Woken(other), 0);
}

TEST(WorkerRegistryWakeTest, WorkersThatClaimAnywayAreCountedFirst) {
  WorkerRegistry reg = IdleWorkers(2, 2);
  reg.FindById("w1")->idle = false;  // its last claim came back full: it claims this turn
  reg.WakeFor({{"default", "echo", 2}});
  EXPECT_TRUE(reg.FindById("w0")->idle) << "w1's two free slots take both tasks";
}

TEST(WorkerRegistryWakeTest, SlotsPromisedToOneQueueAreNotCountedForAnother) {
  WorkerRegistry reg = IdleWorkers(2, 1);
  // One enqueue into each of two queues both workers serve, in one turn.
  reg.WakeFor({{"default", "echo", 1}});
  reg.WakeFor({{"images", "echo", 1}});
  EXPECT_EQ(Woken(reg), 2) << "one free slot each: two tasks need both";
}

TEST(WorkerRegistryWakeTest, TasksEnqueuedWhileEveryWorkerIsBusyAreClaimedWhenASlotFrees) {
  WorkerRegistry reg = IdleWorkers(3, 1);
  for (WorkerState* w : reg.All()) w->in_flight["running-" + w->id] = 1;  // all slots busy
  reg.WakeFor({{"default", "echo", 1}});
  // No free slot now: every worker serving it is woken, and whichever frees a slot first
  // claims then (not idle, a free slot: ClaimsDue claims for it).
  for (WorkerState* w : reg.All()) {
    EXPECT_FALSE(w->idle) << w->id;
    EXPECT_EQ(w->FreeSlots(), 0u);
  }
  WorkerState* done = reg.FindById("w2");
  done->in_flight.clear();  // its DONE
  EXPECT_TRUE(!done->idle && done->FreeSlots() > 0) << "claims at the end of this turn";
}

TEST(WorkerRegistryWakeTest, EveryWakeIsCountedSoThatAnOlderShortClaimCannotIdleAWorker) {
  WorkerRegistry reg = IdleWorkers(1, 2);
  WorkerState* w = reg.FindById("w0");
  uint64_t at_claim = w->wakes;  // a claim goes out, then the queue gets work
  reg.WakeQueue("default");
  EXPECT_NE(w->wakes, at_claim);
  uint64_t again = w->wakes;
  reg.WakeFor({{"default", "echo", 1}});
  EXPECT_NE(w->wakes, again);
}

}  // namespace
}  // namespace taskmill::broker
