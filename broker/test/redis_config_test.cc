#include "redis/redis_config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace taskmill::broker {
namespace {

TEST(RedisUrlTest, ParsesTcpUrls) {
  auto c = ParseRedisUrl("redis://:pw@redis.example:6380/2");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->host, "redis.example");
  EXPECT_EQ(c->port, 6380);
  EXPECT_EQ(c->password, "pw");
  EXPECT_EQ(c->db, 2);
  EXPECT_EQ(c->Describe(), "redis://:***@redis.example:6380/2");
  auto d = ParseRedisUrl("redis://localhost");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->port, 6379);
  EXPECT_EQ(d->db, 0);
  EXPECT_TRUE(d->password.empty());
  auto u = ParseRedisUrl("redis://app:p@ss:w@[::1]:7000");
  ASSERT_TRUE(u.has_value()) << u.error().ToString();
  EXPECT_EQ(u->username, "app");
  EXPECT_EQ(u->password, "p@ss:w");
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 7000);
}

TEST(RedisUrlTest, ParsesUnixUrls) {
  auto c = ParseRedisUrl("unix:///var/run/redis.sock?db=4");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->unix_path, "/var/run/redis.sock");
  EXPECT_EQ(c->db, 4);
}

TEST(RedisUrlTest, RejectsBadUrlsWithoutEchoingSecrets) {
  for (const char* bad :
       {"http://x", "redis://", "redis://h:0", "redis://h:99999", "redis://h:12x", "redis://h/abc",
        "unix://relative.sock", "rediss://h:1", "redis://user@h", "unix:///s?x=1"}) {
    EXPECT_FALSE(ParseRedisUrl(bad).has_value()) << bad;
  }
  auto e = ParseRedisUrl("redis://:topsecret@h:notaport");
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(e.error().message.find("topsecret"), std::string::npos);
}

TEST(RedisUrlTest, ParsesSentinelUrls) {
  auto c = ParseRedisUrl("redis+sentinel://app:pw@10.0.0.1:26379, s2 ,[::1]:26380/mymaster/3");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_TRUE(c->sentinel_mode());
  ASSERT_EQ(c->sentinels.size(), 3u);
  EXPECT_EQ(c->sentinels[0], (RedisEndpoint{"10.0.0.1", 26379}));
  EXPECT_EQ(c->sentinels[1], (RedisEndpoint{"s2", 26379}));  // the Sentinel default port
  EXPECT_EQ(c->sentinels[2], (RedisEndpoint{"::1", 26380}));
  EXPECT_EQ(c->master_name, "mymaster");
  EXPECT_EQ(c->db, 3);
  EXPECT_EQ(c->username, "app");
  EXPECT_EQ(c->password, "pw");
  EXPECT_TRUE(c->host.empty());
  EXPECT_EQ(c->Describe(),
            "redis+sentinel://app:***@10.0.0.1:26379,s2:26379,[::1]:26380/mymaster/3");
  auto d = ParseRedisUrl("redis+sentinel://127.0.0.1:5000/m");
  ASSERT_TRUE(d.has_value()) << d.error().ToString();
  EXPECT_EQ(d->db, 0);
  EXPECT_TRUE(d->password.empty());
  EXPECT_EQ(d->Describe(), "redis+sentinel://127.0.0.1:5000/m/0");
  // A plain URL is not Sentinel mode.
  EXPECT_FALSE(ParseRedisUrl("redis://h:1")->sentinel_mode());
}

TEST(RedisUrlTest, RejectsBadSentinelUrlsWithoutEchoingSecrets) {
  for (const char* bad :
       {"redis+sentinel://h:1", "redis+sentinel://h:1/", "redis+sentinel://h:1,/m",
        "redis+sentinel://,h:1/m", "redis+sentinel:///m", "redis+sentinel://h:0/m",
        "redis+sentinel://h:1/m/x", "redis+sentinel://h:1/m a", "redis+sentinel://h:x/m",
        "redis+sentinel://user@h:1/m"}) {
    EXPECT_FALSE(ParseRedisUrl(bad).has_value()) << bad;
  }
  std::string many = "redis+sentinel://";
  for (int i = 0; i < 17; ++i) many += (i ? ",h:" : "h:") + std::to_string(1000 + i);
  EXPECT_FALSE(ParseRedisUrl(many + "/m").has_value());
  auto e = ParseRedisUrl("redis+sentinel://:topsecret@h:1");
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().message.find("topsecret"), std::string::npos);
}

TEST(RedisUrlTest, ReadsPasswordFiles) {
  std::string path = ::testing::TempDir() + "/tm_redis_pw";
  std::ofstream(path) << "from-file\n";
  auto pw = ReadPasswordFile(path);
  ASSERT_TRUE(pw.has_value());
  EXPECT_EQ(*pw, "from-file");
  std::ofstream(path, std::ios::trunc).flush();
  EXPECT_FALSE(ReadPasswordFile(path).has_value());
  EXPECT_FALSE(ReadPasswordFile(path + ".missing").has_value());
  std::remove(path.c_str());
}

}  // namespace
}  // namespace taskmill::broker
