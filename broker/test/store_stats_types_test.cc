// STATS by type (issue 16): each queue's ready tasks per task type, the types with the most
// first and bounded, with a count of the types left out.

#include <gtest/gtest.h>

#include "store_test_util.h"

namespace taskmill::broker {
namespace {

TEST_F(StoreTest, StatsBreakReadyTasksDownByType) {
  std::vector<protocol::TaskSpec> specs;
  for (int i = 0; i < 5; ++i) specs.push_back(Spec("resize"));
  for (int i = 0; i < 2; ++i) specs.push_back(Spec("thumbnail"));
  specs.push_back(Spec("ocr", 0, "other"));
  EnqueueOk(specs);
  auto st = StatsOf("default");
  EXPECT_EQ(st.stats.ready, 7u);
  EXPECT_EQ(st.stats.ready_by_type,
            (std::map<std::string, uint32_t>{{"resize", 5}, {"thumbnail", 2}}));
  EXPECT_EQ(st.stats.more_types, 0u);
  EXPECT_EQ(StatsOf("other").stats.ready_by_type,
            (std::map<std::string, uint32_t>{{"ocr", 1}}));
  // A claimed task is no longer ready; a type whose last ready task is claimed drops out.
  auto claimed = Await<ClaimResult>([&](auto cb) {
    store_->Claim(ClaimRequest{"w1", {"other"}, {}, 1, 60000}, cb);
  });
  ASSERT_TRUE(claimed.has_value()) << claimed.error().ToString();
  EXPECT_TRUE(StatsOf("other").stats.ready_by_type.empty());
  // The pages (STATS without names) carry the breakdown too.
  auto page = Await<StatsPage>([&](auto cb) { store_->StatsPage("", 10, cb); });
  ASSERT_TRUE(page.has_value()) << page.error().ToString();
  bool seen = false;
  for (const auto& q : page->queues) {
    if (q.stats.queue != "default") continue;
    seen = true;
    EXPECT_EQ(q.stats.ready_by_type.at("resize"), 5u);
  }
  EXPECT_TRUE(seen);
}

TEST_F(StoreTest, StatsByTypeShowThe32BiggestAndCountTheRest) {
  std::vector<protocol::TaskSpec> specs;
  // 40 types; type tNN has NN + 1 ready tasks, so t08..t39 are the 32 biggest.
  for (int t = 0; t < 40; ++t) {
    char name[8];
    std::snprintf(name, sizeof name, "t%02d", t);
    for (int i = 0; i <= t; ++i) specs.push_back(Spec(name));
  }
  EnqueueOk(specs);
  auto st = StatsOf("default");
  ASSERT_EQ(st.stats.ready_by_type.size(), 32u);
  EXPECT_EQ(st.stats.more_types, 8u);
  EXPECT_FALSE(st.stats.ready_by_type.contains("t07"));
  EXPECT_EQ(st.stats.ready_by_type.at("t08"), 9u);
  EXPECT_EQ(st.stats.ready_by_type.at("t39"), 40u);
}

}  // namespace
}  // namespace taskmill::broker
