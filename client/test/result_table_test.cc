// The client's table of pushed results, alone: bounds, early arrivals, deadlines, reconnects.

#include "result_table.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>

namespace taskmill::client {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

protocol::TaskInfo Done(const std::string& id) {
  protocol::TaskInfo t;
  t.id = id;
  t.state = protocol::TaskState::kSucceeded;
  return t;
}

TEST(ResultTableTest, AnArrivedResultIsHandedOutOnce) {
  ResultTable table(10);
  table.Expect({"a"});
  table.OnResult(Done("a"));
  table.OnResult(Done("a"));  // a repeated push is one result
  EXPECT_EQ(table.size(), 1u);
  auto got = table.Await({"a"}, NowMs());
  ASSERT_TRUE(got.tasks[0]);
  EXPECT_EQ(got.tasks[0]->id, "a");
  EXPECT_FALSE(table.Await({"a"}, NowMs()).tasks[0]);  // not held any more: ask the broker
  EXPECT_EQ(table.size(), 0u);
}

TEST(ResultTableTest, ArrivedResultsAndExpectedIdsAreBoundedOldestFirst) {
  ResultTable table(2);
  for (std::string id : {"a", "b", "c"}) table.OnResult(Done(id));
  EXPECT_EQ(table.size(), 2u);
  auto got = table.Await({"a", "b", "c"}, NowMs());
  EXPECT_FALSE(got.tasks[0]);
  EXPECT_TRUE(got.tasks[1]);
  EXPECT_TRUE(got.tasks[2]);
  std::vector<std::string> ids;
  for (int i = 0; i < 21; ++i) ids.push_back("e" + std::to_string(i));
  table.Expect(ids);
  EXPECT_EQ(table.size(), 20u);  // ten times the arrived bound
}

TEST(ResultTableTest, AnIdStillExpectedAtTheDeadlineStaysForALaterAwait) {
  ResultTable table(10);
  table.Expect({"a"});
  auto first = table.Await({"a"}, NowMs() + 20);
  EXPECT_TRUE(first.timed_out);
  EXPECT_FALSE(first.tasks[0]);
  table.OnResult(Done("a"));
  EXPECT_TRUE(table.Await({"a"}, NowMs()).tasks[0]);
}

TEST(ResultTableTest, APushWakesItsWaiterAndAReconnectReleasesTheRest) {
  ResultTable table(10);
  table.Expect({"a", "b"});
  auto waiting = std::async(std::launch::async, [&] {
    return table.Await({"a", "b"}, NowMs() + 60'000);
  });
  table.OnResult(Done("a"));
  EXPECT_EQ(waiting.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  table.OnReconnect();  // b's push went to the old connection
  ASSERT_EQ(waiting.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto got = waiting.get();
  EXPECT_FALSE(got.timed_out);
  EXPECT_TRUE(got.tasks[0]);
  EXPECT_FALSE(got.tasks[1]);
  EXPECT_EQ(table.size(), 0u);
}

}  // namespace
}  // namespace taskmill::client
