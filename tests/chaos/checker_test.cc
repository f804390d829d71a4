// The checker on synthetic logs: each kind of broken promise is reported, and a clean run
// with at-least-once re-runs is not.

#include "chaos/checker.h"

#include <gtest/gtest.h>

namespace taskmill::chaos {
namespace {

using protocol::TaskState;

Submission Acked(const std::string& id) { return {id, 1000, 1001}; }
FinalTask Done(uint32_t attempts = 1, double usd = 0.001, int64_t finished = 2000) {
  return {TaskState::kSucceeded, attempts, usd, finished, std::nullopt, ""};
}

CheckInput CleanRun() {
  CheckInput in;
  in.submissions = {Acked("a"), Acked("b"), {"c", 1000, std::nullopt}};
  in.executions = {{"a", 1, "w1", 1100, 1200}, {"b", 1, "w1", 1100, 1300}};
  in.final_tasks = {{"a", Done()}, {"b", Done()}};
  in.queue_succeeded = 2;
  in.queue_usd = 0.002;
  return in;
}

TEST(ChaosChecker, CleanRunIsClean) {
  auto r = Check(CleanRun());
  EXPECT_TRUE(r.Clean()) << r.Summary();
  EXPECT_EQ(r.submitted, 3u);
  EXPECT_EQ(r.acknowledged, 2u);
  EXPECT_EQ(r.duplicate_executions, 0u);
}

TEST(ChaosChecker, AcknowledgedButMissingOrStuckIsLost) {
  auto in = CleanRun();
  in.final_tasks.erase("a");
  in.final_tasks["b"].state = TaskState::kRunning;
  in.final_tasks["b"].usd = 0;
  in.queue_succeeded = 0;
  in.queue_usd = 0;
  auto r = Check(in);
  EXPECT_EQ(r.lost, 2u) << r.Summary();
  EXPECT_FALSE(r.Clean());
}

TEST(ChaosChecker, UnacknowledgedSubmitIsNotLost) {
  auto in = CleanRun();
  in.submissions.push_back({"d", 1000, std::nullopt});
  EXPECT_EQ(Check(in).lost, 0u);
}

TEST(ChaosChecker, ReRunOfACutLeaseIsADuplicateExecutionNotAnError) {
  auto in = CleanRun();
  in.executions.push_back({"a", 2, "w2", 1500, 1600});
  in.final_tasks["a"].attempts = 2;
  auto r = Check(in);
  EXPECT_TRUE(r.Clean()) << r.Summary();
  EXPECT_EQ(r.duplicate_executions, 1u);
}

TEST(ChaosChecker, SameAttemptRunTwiceOrBeyondTheStoreIsUnexpected) {
  auto in = CleanRun();
  in.executions.push_back({"a", 1, "w2", 1500, 1600});   // one lease, two runs
  in.executions.push_back({"b", 3, "w2", 1500, 1600});   // attempt never handed out
  in.executions.push_back({"zz", 1, "w2", 1500, 1600});  // never submitted
  auto r = Check(in);
  EXPECT_EQ(r.unexpected, 3u) << r.Summary();
}

TEST(ChaosChecker, SecondRecordedSuccessIsADuplicatedResult) {
  auto in = CleanRun();
  in.queue_succeeded = 3;
  auto r = Check(in);
  EXPECT_EQ(r.duplicated_results, 1u) << r.Summary();
}

TEST(ChaosChecker, CostOfTwoRunsOnOneTaskIsDoubleCounted) {
  auto in = CleanRun();
  in.final_tasks["a"].usd = 0.002;
  in.queue_usd = 0.003;
  auto r = Check(in);
  EXPECT_EQ(r.double_counted_costs, 1u) << r.Summary();
  in.queue_usd = 0.004;  // and a queue total that disagrees with its tasks
  EXPECT_EQ(Check(in).double_counted_costs, 2u);
}

// w1's attempt 1 was fenced off (frozen past its lease) and attempt 2 re-ran on w2: the
// store must hold attempt 2's result. Holding w1's late one is a fencing failure even
// though the cost and the success count look right.
TEST(ChaosChecker, AResultFromAFencedOffAttemptIsMisattributed) {
  auto in = CleanRun();
  in.executions.push_back({"a", 2, "w2", 1500, 1600});
  in.final_tasks["a"].attempts = 2;
  ASSERT_TRUE(ParseRecordedRun("2 w2\n", in.final_tasks["a"]));
  ASSERT_TRUE(ParseRecordedRun("1 w1\n", in.final_tasks["b"]));
  EXPECT_TRUE(Check(in).Clean()) << Check(in).Summary();

  ASSERT_TRUE(ParseRecordedRun("1 w1\n", in.final_tasks["a"]));
  auto r = Check(in);
  EXPECT_EQ(r.misattributed_results, 1u) << r.Summary();
  EXPECT_FALSE(r.Clean());
  // The right attempt number, but not a run that happened (another worker's claim).
  ASSERT_TRUE(ParseRecordedRun("2 w9\n", in.final_tasks["a"]));
  EXPECT_EQ(Check(in).misattributed_results, 1u);
  // Output that names no run is not judged.
  FinalTask untouched;
  EXPECT_FALSE(ParseRecordedRun("", untouched));
  EXPECT_FALSE(untouched.recorded_attempt.has_value());
}

TEST(ChaosChecker, RecoveryFiguresCountFromTheFault) {
  CheckInput in;
  in.submissions = {Acked("a"), Acked("b"), Acked("c")};
  in.executions = {{"a", 1, "w1", 900, 1900},  // in flight at the fault (1000)
                   {"a", 2, "w2", 1400, 1500},
                   {"b", 1, "w2", 1100, 1200},
                   {"c", 1, "w2", 1250, 1300}};
  in.final_tasks = {
      {"a", Done(2, 0.001, 1500)}, {"b", Done(1, 0.001, 1200)}, {"c", Done(1, 0.001, 1300)}};
  in.queue_succeeded = 3;
  in.queue_usd = 0.003;
  in.fault_ms = 1000;
  auto r = Check(in);
  EXPECT_TRUE(r.Clean()) << r.Summary();
  EXPECT_EQ(r.detection_ms, 400);
  EXPECT_EQ(r.recovery_ms, 500);
  EXPECT_EQ(r.max_gap_ms, 200);
}

TEST(ChaosChecker, ParsesTheExecutionLogAndSkipsTornLines) {
  auto e = ParseExecutionLog("a 1 w1 100 200\ngarbage\nb 2 w2 300 400\nc 1 w");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[1].id, "b");
  EXPECT_EQ(e[1].attempt, 2u);
  EXPECT_EQ(e[1].worker, "w2");
  EXPECT_EQ(e[1].end_ms, 400);
}

}  // namespace
}  // namespace taskmill::chaos
