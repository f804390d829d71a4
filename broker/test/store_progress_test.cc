// progress.lua: PROGRESS stored on the task record, fenced by the live lease's token like a
// DONE, shown (TaskInfo progress, progress_message) only for the attempt that reported it.

#include "store_test_util.h"

namespace taskmill::broker {
namespace {

ProgressWrite Report(const protocol::TaskMsg& m, const std::string& worker, double fraction,
                     std::string message) {
  return ProgressWrite{worker, m.task_id, m.token, fraction, std::move(message)};
}

class StoreProgressTest : public StoreTest {
 protected:
  ProgressSaved Save(std::vector<ProgressWrite> writes) {
    auto r = Await<ProgressSaved>([&](auto cb) { store_->SaveProgress(std::move(writes), cb); });
    EXPECT_TRUE(r.has_value());
    return r.value_or(ProgressSaved{});
  }
};

TEST_F(StoreProgressTest, ProgressOfTheLiveAttemptIsStoredAndShown) {
  std::string id = EnqueueOne(Spec());
  auto m = ClaimOk(1, {"default"}, {}, "w1").at(0);
  auto saved = Save({Report(m, "w1", 0.25, "reading"), Report(m, "w1", 0.5, "half")});
  EXPECT_EQ(saved.stored, 2u);
  EXPECT_EQ(saved.refused, 0u);
  auto info = GetOne(id);
  EXPECT_DOUBLE_EQ(info.progress, 0.5);
  EXPECT_EQ(info.progress_message, "half");
}

TEST_F(StoreProgressTest, ProgressWithAStaleTokenOrWorkerIsRefused) {
  std::string id = EnqueueOne(Spec());
  auto m = ClaimOk(1, {"default"}, {}, "w1").at(0);
  auto forged = Report(m, "w1", 0.9, "forged");
  forged.token ^= 1;
  auto other = Report(m, "w2", 0.8, "not its worker");
  auto saved = Save({forged, other, Report(m, "", 0.7, "no worker")});
  EXPECT_EQ(saved.stored, 0u);
  EXPECT_EQ(saved.refused, 3u);
  auto info = GetOne(id);
  EXPECT_DOUBLE_EQ(info.progress, 0);
  EXPECT_EQ(info.progress_message, "");
}

TEST_F(StoreProgressTest, ProgressOfAnEndedOrUnknownTaskIsRefusedAndCreatesNothing) {
  std::string id = EnqueueOne(Spec());
  auto m = ClaimOk(1, {"default"}, {}, "w1").at(0);
  ASSERT_EQ(Save({Report(m, "w1", 0.5, "half")}).stored, 1u);
  FinishOk({Ok(m, "out")}, "w1");
  auto late = Save({Report(m, "w1", 0.75, "late")});
  EXPECT_EQ(late.refused, 1u);
  EXPECT_EQ(GetOne(id).progress_message, "half") << "the last stored value stays";
  protocol::TaskMsg ghost = m;
  ghost.task_id = "01JD0000000000000000GHOST1";
  EXPECT_EQ(Save({Report(ghost, "w1", 0.5, "")}).refused, 1u);
  EXPECT_EQ(RawInt({"EXISTS", prefix_ + "task:" + ghost.task_id}), 0);
}

TEST_F(StoreProgressTest, ARetryShowsNoProgressUntilItReportsItsOwn) {
  auto s = Spec();
  s.max_attempts = 2;
  s.backoff = BackoffPolicy{0, 0, 1.0, false};
  std::string id = EnqueueOne(s);
  auto first = ClaimOk(1, {"default"}, {}, "w1").at(0);
  ASSERT_EQ(Save({Report(first, "w1", 0.9, "almost")}).stored, 1u);
  auto failed = Ok(first, "");
  failed.ok = false;
  failed.error = protocol::TaskError{"boom", "x", true};
  FinishOk({failed}, "w1");
  ASSERT_TRUE(Await<PromoteResult>([&](auto cb) { store_->Promote(10, cb); }).has_value());
  auto second = ClaimOk(1, {"default"}, {}, "w1").at(0);
  ASSERT_EQ(second.attempt, 2u);
  auto info = GetOne(id);
  EXPECT_DOUBLE_EQ(info.progress, 0);
  EXPECT_EQ(info.progress_message, "");
  ASSERT_EQ(Save({Report(second, "w1", 0.1, "again")}).stored, 1u);
  EXPECT_EQ(GetOne(id).progress_message, "again");
}

}  // namespace
}  // namespace taskmill::broker
