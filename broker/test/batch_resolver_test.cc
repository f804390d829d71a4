#include "store/batch_resolver.h"

#include <gtest/gtest.h>

#include <map>

namespace taskmill::broker {
namespace {

protocol::TaskSpec Named(std::string name, std::vector<std::string> deps = {}) {
  protocol::TaskSpec s;
  s.type = "t";
  s.name = std::move(name);
  s.depends_on = std::move(deps);
  return s;
}

TEST(BatchResolverTest, OrdersParentsFirstAndMapsNamesToIds) {
  protocol::BatchSpec b;
  b.tasks = {Named("report", {"fetch", "parse"}), Named("parse", {"fetch"}), Named("fetch"),
             Named("other")};
  auto r = ResolveBatch(b);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ASSERT_EQ(r->tasks.size(), 4u);
  std::vector<std::string> order;
  for (const auto& t : r->tasks) {
    order.push_back(t.name);
    EXPECT_EQ(t.batch_id, r->batch_id);
    EXPECT_FALSE(t.id.empty());
  }
  EXPECT_EQ(order, (std::vector<std::string>{"fetch", "parse", "report", "other"}));
  EXPECT_EQ(r->tasks[2].depends_on,
            (std::vector<std::string>{r->ids_by_name.at("fetch"), r->ids_by_name.at("parse")}));
}

TEST(BatchResolverTest, NamesTheCycle) {
  protocol::BatchSpec b;
  b.tasks = {Named("a", {"c"}), Named("b", {"a"}), Named("c", {"b"}), Named("d")};
  auto r = ResolveBatch(b);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kCycle);
  EXPECT_NE(r.error().message.find("a -> c -> b -> a"), std::string::npos) << r.error().message;
}

TEST(BatchResolverTest, RejectsUnknownDuplicateAndMissingNames) {
  protocol::BatchSpec unknown;
  unknown.tasks = {Named("a", {"ghost"})};
  auto r = ResolveBatch(unknown);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("ghost"), std::string::npos);
  protocol::BatchSpec dup;
  dup.tasks = {Named("a"), Named("a")};
  EXPECT_FALSE(ResolveBatch(dup).has_value());
  protocol::BatchSpec unnamed;
  unnamed.tasks = {Named("")};
  EXPECT_FALSE(ResolveBatch(unnamed).has_value());
  EXPECT_FALSE(ResolveBatch(protocol::BatchSpec{}).has_value());
  protocol::BatchSpec self;
  self.tasks = {Named("a", {"a"})};
  EXPECT_EQ(ResolveBatch(self).error().code, ErrorCode::kCycle);
}

TEST(BatchResolverTest, AnAppendNamesStoredParentsByTheirIdsAndKeepsNamesUnique) {
  std::map<std::string, std::string> stored = {{"fetch", "ID-F"}, {"parse", "ID-P"}};
  protocol::BatchSpec b;
  b.append_to = "B1";
  b.tasks = {Named("report", {"summary", "fetch"}), Named("summary", {"parse"})};
  auto r = ResolveBatch(b, stored);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->batch_id, "B1");
  ASSERT_EQ(r->tasks.size(), 2u);
  EXPECT_EQ(r->tasks[0].name, "summary");
  EXPECT_EQ(r->tasks[0].depends_on, std::vector<std::string>{"ID-P"});
  EXPECT_EQ(r->tasks[1].depends_on,
            (std::vector<std::string>{r->ids_by_name.at("summary"), "ID-F"}));
  EXPECT_EQ(r->ids_by_name.size(), 2u);  // the new tasks only
  for (const auto& t : r->tasks) EXPECT_EQ(t.batch_id, "B1");

  protocol::BatchSpec taken;
  taken.append_to = "B1";
  taken.tasks = {Named("fetch")};
  auto c = ResolveBatch(taken, stored);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::kConflict);
  EXPECT_EQ(c.error().message, "batch task name 'fetch' is already in batch B1");
  protocol::BatchSpec unknown;
  unknown.append_to = "B1";
  unknown.tasks = {Named("x", {"ghost"})};
  EXPECT_EQ(ResolveBatch(unknown, stored).error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace taskmill::broker
