// Sentinel discovery against a fake network: which Sentinel is asked, in what order, and
// which answers are believed.
#include "redis/master_locator.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace taskmill::broker {
namespace {

class FakeProbe : public MasterProbe {
 public:
  // Sentinel port -> the master it names (absent: that Sentinel is down).
  std::map<int, RedisEndpoint> names;
  // Node port -> its ROLE (absent: unreachable).
  std::map<int, std::string> roles;
  std::vector<std::string> asked;  // "s:<port>" and "role:<port>", in order

  Result<RedisEndpoint> AskSentinel(const RedisEndpoint& sentinel,
                                    const RedisConfig& config) override {
    asked.push_back("s:" + std::to_string(sentinel.port));
    EXPECT_EQ(config.master_name, "mymaster");
    auto it = names.find(sentinel.port);
    if (it == names.end()) return MakeError(ErrorCode::kStoreUnavailable, "Connection refused");
    return it->second;
  }
  Result<std::string> Role(const RedisEndpoint& node, const RedisConfig&) override {
    asked.push_back("role:" + std::to_string(node.port));
    auto it = roles.find(node.port);
    if (it == roles.end()) return MakeError(ErrorCode::kStoreUnavailable, "Connection refused");
    return it->second;
  }
};

RedisConfig ThreeSentinels() {
  auto c = ParseRedisUrl("redis+sentinel://:secret@127.0.0.1:1,127.0.0.1:2,127.0.0.1:3/mymaster");
  EXPECT_TRUE(c.has_value());
  return *c;
}

TEST(MasterLocatorTest, TheFirstSentinelsMasterWins) {
  FakeProbe probe;
  probe.names = {{1, {"127.0.0.1", 7001}}, {2, {"127.0.0.1", 7002}}};
  probe.roles = {{7001, "master"}, {7002, "master"}};
  auto m = DiscoverMaster(ThreeSentinels(), probe);
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(*m, (RedisEndpoint{"127.0.0.1", 7001}));
  EXPECT_EQ(probe.asked, (std::vector<std::string>{"s:1", "role:7001"}));
}

TEST(MasterLocatorTest, ADownSentinelIsSkipped) {
  FakeProbe probe;
  probe.names = {{2, {"127.0.0.1", 7002}}};
  probe.roles = {{7002, "master"}};
  auto m = DiscoverMaster(ThreeSentinels(), probe);
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(m->port, 7002);
  EXPECT_EQ(probe.asked, (std::vector<std::string>{"s:1", "s:2", "role:7002"}));
}

// Mid-failover: one Sentinel still names the dead (or demoted) old master; only a node whose
// ROLE says master is believed.
TEST(MasterLocatorTest, AStaleAnswerIsCheckedWithRole) {
  FakeProbe probe;
  probe.names = {{1, {"127.0.0.1", 7001}}, {2, {"127.0.0.1", 7001}}, {3, {"127.0.0.1", 7002}}};
  probe.roles = {{7001, "slave"}, {7002, "master"}};
  auto m = DiscoverMaster(ThreeSentinels(), probe);
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(m->port, 7002);
  EXPECT_EQ(probe.asked, (std::vector<std::string>{"s:1", "role:7001", "s:2", "role:7001", "s:3",
                                                   "role:7002"}));
}

TEST(MasterLocatorTest, NoMasterIsStoreUnavailableSayingWhyWithoutSecrets) {
  FakeProbe probe;
  probe.names = {{1, {"127.0.0.1", 7001}}, {3, {"127.0.0.1", 7003}}};
  probe.roles = {{7003, "slave"}};  // 7001 unreachable
  auto m = DiscoverMaster(ThreeSentinels(), probe);
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().code, ErrorCode::kStoreUnavailable);
  const std::string& why = m.error().message;
  EXPECT_NE(why.find("mymaster"), std::string::npos) << why;
  EXPECT_NE(why.find("127.0.0.1:1 named 127.0.0.1:7001: Connection refused"), std::string::npos)
      << why;
  EXPECT_NE(why.find("127.0.0.1:2: Connection refused"), std::string::npos) << why;
  EXPECT_NE(why.find("its ROLE is slave"), std::string::npos) << why;
  EXPECT_EQ(why.find("secret"), std::string::npos) << why;
}

TEST(MasterLocatorTest, APlainConfigIsDialledAsIs) {
  auto c = ParseRedisUrl("redis://127.0.0.1:6390/2");
  ASSERT_TRUE(c.has_value());
  auto t = LocateRedis(*c, 100);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, 6390);
  EXPECT_EQ(t->db, 2);
}

TEST(MasterLocatorTest, FindMasterAgainOnDemotionLoadingAndMasterDown) {
  EXPECT_TRUE(MeansFindMasterAgain("READONLY You can't write against a read only replica."));
  EXPECT_TRUE(MeansFindMasterAgain("LOADING Redis is loading the dataset in memory"));
  EXPECT_TRUE(MeansFindMasterAgain("MASTERDOWN Link with MASTER is down"));
  EXPECT_FALSE(MeansFindMasterAgain("TM_NOT_FOUND no such task"));
  EXPECT_FALSE(MeansFindMasterAgain("OOM command not allowed"));
}

}  // namespace
}  // namespace taskmill::broker
