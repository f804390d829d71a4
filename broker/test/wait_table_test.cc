#include "service/wait_table.h"

#include <gtest/gtest.h>

namespace taskmill::broker {
namespace {

WaitTable::Waiter MakeWaiter(uint64_t req, std::vector<std::string> ids, int64_t deadline) {
  WaitTable::Waiter w;
  w.identity = "client";
  w.req_id = req;
  w.ids = ids;
  w.pending = {ids.begin(), ids.end()};
  w.deadline_ms = deadline;
  return w;
}

TEST(WaitTableTest, AnsweredWhenTheLastTaskEnds) {
  WaitTable t;
  t.Add(MakeWaiter(1, {"a", "b"}, 1000));
  EXPECT_TRUE(t.OnTerminal("a").empty());
  auto done = t.OnTerminal("b");
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].req_id, 1u);
  EXPECT_EQ(done[0].ids, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(t.size(), 0u);
  EXPECT_TRUE(t.TakeExpired(5000).empty());  // its deadline entry went with it
}

TEST(WaitTableTest, SeveralWaitersOnOneTask) {
  WaitTable t;
  t.Add(MakeWaiter(1, {"a"}, 1000));
  t.Add(MakeWaiter(2, {"a", "c"}, 1000));
  auto done = t.OnTerminal("a");
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].req_id, 1u);
  EXPECT_EQ(t.PendingIds(), std::vector<std::string>{"c"});
}

TEST(WaitTableTest, DeadlinesExpireInOrder) {
  WaitTable t;
  t.Add(MakeWaiter(1, {"a"}, 100));
  t.Add(MakeWaiter(2, {"b"}, 200));
  t.Add(MakeWaiter(3, {"c"}, 300));
  auto expired = t.TakeExpired(200);
  ASSERT_EQ(expired.size(), 2u);
  EXPECT_EQ(expired[0].req_id, 1u);
  EXPECT_EQ(expired[1].req_id, 2u);
  EXPECT_TRUE(t.OnTerminal("a").empty());  // already answered
  EXPECT_EQ(t.size(), 1u);
}

}  // namespace
}  // namespace taskmill::broker

namespace taskmill::broker {
namespace {

// WAIT progress: only waiters that asked get a task's progress, each client once, and only
// while the task is pending for them.
TEST(WaitTableTest, ProgressGoesToTheWaitersThatAskedForIt) {
  WaitTable t;
  auto asked = MakeWaiter(1, {"a", "b"}, 1000);
  asked.identity = "x";
  asked.progress = true;
  auto again = MakeWaiter(2, {"a"}, 1000);
  again.identity = "x";
  again.progress = true;
  auto silent = MakeWaiter(3, {"a"}, 1000);
  silent.identity = "y";
  t.Add(asked);
  t.Add(again);
  t.Add(silent);
  EXPECT_EQ(t.ProgressWatchers("a"), std::vector<std::string>{"x"});
  EXPECT_EQ(t.ProgressWatchers("b"), std::vector<std::string>{"x"});
  EXPECT_TRUE(t.ProgressWatchers("z").empty());
  t.OnTerminal("b");
  EXPECT_TRUE(t.ProgressWatchers("b").empty());
  t.TakeIdentity("x");
  EXPECT_TRUE(t.ProgressWatchers("a").empty()) << "y did not ask";
}

}  // namespace
}  // namespace taskmill::broker
