// The broker's per-task PROGRESS throttle on a fake clock: how many reports go on (each is a
// Redis write and a publish), and that the latest one always does.

#include "service/progress_throttle.h"

#include <gtest/gtest.h>

namespace taskmill::broker {
namespace {

ProgressWrite Report(const std::string& task, double fraction, std::string message = "") {
  return ProgressWrite{"w1", task, 7, fraction, std::move(message)};
}

// A handler sending 10,000 reports within one interval costs two writes: the first at once,
// the last when the interval ends; the 9,998 between are coalesced.
TEST(ProgressThrottleTest, TenThousandReportsInOneIntervalPassTwoAndKeepTheLast) {
  ProgressThrottle t(250);
  int64_t now = 1000;
  size_t passed = 0;
  for (int i = 1; i <= 10'000; ++i) {
    if (t.Offer(Report("t1", i / 10'000.0, "step " + std::to_string(i)), now)) ++passed;
  }
  EXPECT_EQ(passed, 1u);
  EXPECT_TRUE(t.TakeDue(now + 249).empty()) << "not before the interval ends";
  auto due = t.TakeDue(now + 250);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_DOUBLE_EQ(due[0].fraction, 1.0);
  EXPECT_EQ(due[0].message, "step 10000");
  EXPECT_EQ(t.counters().passed, 2u);
  EXPECT_EQ(t.counters().coalesced, 9'998u);
  // Quiet for a whole interval: forgotten, and the next report goes on at once.
  EXPECT_TRUE(t.TakeDue(now + 500).empty());
  EXPECT_EQ(t.tracked(), 0u);
  EXPECT_TRUE(t.Offer(Report("t1", 0.5), now + 501).has_value());
}

// A steady stream: at most one report per task per interval, whatever the rate.
TEST(ProgressThrottleTest, AChattyTaskPassesAtMostOnePerInterval) {
  ProgressThrottle t(250);
  size_t passed = 0;
  for (int64_t ms = 0; ms < 10'000; ++ms) {  // one report per ms for 10 s
    if (t.Offer(Report("t1", ms / 10'000.0), ms)) ++passed;
    if (ms % 50 == 0) passed += t.TakeDue(ms).size();  // the broker's 50 ms tick
  }
  EXPECT_LE(passed, 10'000u / 250u + 1u);
  EXPECT_GE(passed, 10'000u / 300u);
  EXPECT_EQ(t.counters().passed, passed);
}

TEST(ProgressThrottleTest, TheAttemptsEndHandsOverItsPendingReport) {
  ProgressThrottle t(250);
  ASSERT_TRUE(t.Offer(Report("t1", 0.1), 0));
  ASSERT_FALSE(t.Offer(Report("t1", 0.9, "last"), 10));
  auto last = t.TakeEnded("t1");
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->message, "last");
  EXPECT_EQ(t.tracked(), 0u);
  EXPECT_FALSE(t.TakeEnded("t1").has_value());
  EXPECT_TRUE(t.TakeDue(1000).empty()) << "handed over once";
}

TEST(ProgressThrottleTest, TasksAreThrottledApartAndTheTableIsBounded) {
  ProgressThrottle t(250, 2);
  EXPECT_TRUE(t.Offer(Report("a", 0.1), 0));
  EXPECT_TRUE(t.Offer(Report("b", 0.1), 0));
  EXPECT_FALSE(t.Offer(Report("c", 0.1), 0)) << "past max_tasks: dropped";
  EXPECT_EQ(t.counters().dropped, 1u);
  EXPECT_FALSE(t.Offer(Report("a", 0.2), 1));
  EXPECT_EQ(t.TakeDue(250).size(), 1u);  // a's pending; b was quiet
}

}  // namespace
}  // namespace taskmill::broker
