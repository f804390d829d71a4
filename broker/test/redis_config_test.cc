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
