#include "taskmill/shared/endpoints.h"

#include <gtest/gtest.h>

#include <set>

namespace taskmill {
namespace {

TEST(EndpointListTest, SingleEndpointIsAListOfOne) {
  auto list = ParseEndpointList("tcp://127.0.0.1:5555");
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_EQ(*list, std::vector<std::string>{"tcp://127.0.0.1:5555"});
}

TEST(EndpointListTest, SplitsOnCommasAndTrimsSpaces) {
  auto list = ParseEndpointList(" tcp://a:5555 ,tcp://b:5555,\tipc:///tmp/c ");
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_EQ(*list, (std::vector<std::string>{"tcp://a:5555", "tcp://b:5555", "ipc:///tmp/c"}));
}

TEST(EndpointListTest, EmptyItemIsAnError) {
  for (const char* bad : {"", ",", "tcp://a:1,", ",tcp://a:1", "tcp://a:1,,tcp://b:2", "  "}) {
    auto list = ParseEndpointList(bad);
    ASSERT_FALSE(list) << "'" << bad << "'";
    EXPECT_EQ(list.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(list.error().message.find("empty endpoint"), std::string::npos) << bad;
  }
}

TEST(EndpointListTest, BadSchemeIsAnErrorNamingTheItem) {
  for (const char* bad : {"tcp://a:1,http://b:2", "a:5555", "udp://x:1", "tcp://"}) {
    auto list = ParseEndpointList(bad);
    ASSERT_FALSE(list) << bad;
    EXPECT_EQ(list.error().code, ErrorCode::kInvalidArgument);
  }
  auto list = ParseEndpointList("tcp://a:1, http://b:2");
  ASSERT_FALSE(list);
  EXPECT_NE(list.error().message.find("'http://b:2'"), std::string::npos) << list.error().message;
}

TEST(EndpointRingTest, MovesRoundRobinFromItsStart) {
  EndpointRing ring({"a", "b", "c"}, 4);  // start taken modulo the size
  EXPECT_EQ(ring.current(), "b");
  EXPECT_EQ(ring.Next(), "c");
  EXPECT_EQ(ring.Next(), "a");
  EXPECT_EQ(ring.Next(), "b");
}

TEST(EndpointRingTest, OneEndpointMovesToItself) {
  EndpointRing ring({"a"}, 0);
  EXPECT_EQ(ring.Next(), "a");
  EXPECT_TRUE(ring.Failed());  // a whole cycle of one
}

TEST(EndpointRingTest, BacksOffOnlyAfterAWholeCycleFailed) {
  EndpointRing ring({"a", "b", "c"}, 0);
  EXPECT_FALSE(ring.Failed());
  EXPECT_FALSE(ring.Failed());
  EXPECT_TRUE(ring.Failed());
  EXPECT_FALSE(ring.Failed());  // a new cycle
  ring.Answered();
  EXPECT_FALSE(ring.Failed());
  EXPECT_FALSE(ring.Failed());
  EXPECT_TRUE(ring.Failed());
}

TEST(EndpointRingTest, ParseBuildsTheRingOfAListOrSaysWhatIsWrong) {
  auto ring = EndpointRing::Parse("tcp://a:1, tcp://b:2");
  ASSERT_TRUE(ring) << ring.error().message;
  EXPECT_EQ(ring->all(), (std::vector<std::string>{"tcp://a:1", "tcp://b:2"}));
  EXPECT_LT(ring->index(), 2u);
  EXPECT_EQ(ring->current(), ring->all()[ring->index()]);
  auto bad = EndpointRing::Parse("tcp://a:1,a:2");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST(EndpointRingTest, RandomStartSpreadsOverTheList) {
  std::set<size_t> seen;
  for (int i = 0; i < 200 && seen.size() < 3; ++i) {
    size_t s = RandomStart(3);
    ASSERT_LT(s, 3u);
    seen.insert(s);
  }
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(RandomStart(1), 0u);
}

}  // namespace
}  // namespace taskmill
