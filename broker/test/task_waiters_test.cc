#include "service/task_waiters.h"

#include <gtest/gtest.h>

namespace taskmill::broker {
namespace {

class TaskWaitersTest : public ::testing::Test {
 protected:
  TaskWaiters waiters_{[this](WaitTable::Waiter w) { settled_.push_back(std::move(w)); },
                       [this](const std::string& identity, protocol::TaskInfo task) {
                         pushed_.emplace_back(identity, task.id);
                       }};
  std::vector<WaitTable::Waiter> settled_;
  std::vector<std::pair<std::string, std::string>> pushed_;
};

TEST_F(TaskWaitersTest, EndsDuringAWaitReadAreRememberedUntilTheLastReadLands) {
  waiters_.TaskEnded("before", nullptr);
  EXPECT_FALSE(waiters_.EndedDuringReads("before")) << "no read in flight: nothing kept";
  waiters_.ReadStarted();
  waiters_.ReadStarted();
  waiters_.TaskEnded("a", nullptr);
  EXPECT_TRUE(waiters_.EndedDuringReads("a"));
  waiters_.ReadFinished();
  EXPECT_TRUE(waiters_.EndedDuringReads("a")) << "another read is still in flight";
  waiters_.ReadFinished();
  EXPECT_FALSE(waiters_.EndedDuringReads("a"));
}

TEST_F(TaskWaitersTest, AKnownResultIsPushedOnceAndAnUnknownOneIsReadBack) {
  ASSERT_TRUE(waiters_.Notify("t1", "c1"));
  ASSERT_TRUE(waiters_.Notify("t2", "c2"));
  EXPECT_TRUE(waiters_.WantsResult("t1"));
  protocol::TaskInfo known;
  known.id = "t1";
  waiters_.TaskEnded("t1", &known);
  waiters_.TaskEnded("t1", &known);  // a second end (re-read) pushes nothing more
  EXPECT_EQ(pushed_, (std::vector<std::pair<std::string, std::string>>{{"c1", "t1"}}));
  EXPECT_FALSE(waiters_.WantsResult("t1"));
  waiters_.TaskEnded("t2", nullptr);
  auto to_read = waiters_.TakeResultsToRead();
  ASSERT_EQ(to_read.size(), 1u);
  EXPECT_EQ(to_read[0], (std::pair<std::string, std::string>{"t2", "c2"}));
  EXPECT_TRUE(waiters_.TakeResultsToRead().empty());
  EXPECT_TRUE(waiters_.notified().empty());
}

TEST_F(TaskWaitersTest, AWaitIsSettledWhenItsLastTaskEnds) {
  WaitTable::Waiter w;
  w.identity = "c";
  w.req_id = 3;
  w.ids = {"x", "y"};
  w.pending = {"x", "y"};
  w.deadline_ms = 1000;
  waiters_.AddWait(std::move(w));
  waiters_.TaskEnded("x", nullptr);
  EXPECT_TRUE(settled_.empty());
  waiters_.TaskEnded("y", nullptr);
  ASSERT_EQ(settled_.size(), 1u);
  EXPECT_EQ(settled_[0].req_id, 3u);
}

}  // namespace
}  // namespace taskmill::broker
