// The embedded redis-server and an earlier one still serving the same data dir (a broker
// killed a moment ago, whose Redis is still flushing its AOF): the new one must not start
// beside it, nor take its socket away.

#include "redis/embedded_redis.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>

#include <filesystem>
#include <future>
#include <string>

namespace taskmill::broker {
namespace {

EmbeddedRedisOptions InDir(const std::string& dir) {
  EmbeddedRedisOptions o;
  o.data_dir = dir;
  return o;
}

std::string TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "tm-embedded-XXXXXX").string();
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

// Runs one command on the server at `socket`; its reply as a string ("" if none).
std::string Command(const std::string& socket, const std::string& cmd) {
  redisContext* c = redisConnectUnix(socket.c_str());
  if (c == nullptr || c->err) {
    if (c) redisFree(c);
    return "";
  }
  auto* r = static_cast<redisReply*>(redisCommand(c, cmd.c_str()));
  std::string out;
  if (r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)) {
    out.assign(r->str, r->len);
  }
  if (r) freeReplyObject(r);
  redisFree(c);
  return out;
}

TEST(EmbeddedRedisTest, ASecondServerOnAServedDirWaitsThenRefusesAndLeavesTheFirstAlone) {
  std::string dir = TempDir();
  auto first = EmbeddedRedis::Start(InDir(dir));
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EmbeddedRedisOptions o = InDir(dir);
  o.previous_exit_timeout_ms = 300;
  auto second = EmbeddedRedis::Start(o);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, ErrorCode::kStoreUnavailable);
  EXPECT_NE(second.error().message.find("another redis-server still serves"), std::string::npos)
      << second.error().message;
  // The first server kept its socket.
  EXPECT_EQ(Command(first->socket_path(), "PING"), "PONG");
  std::filesystem::remove_all(dir);
}

TEST(EmbeddedRedisTest, ANewServerStartsOnceTheEarlierOneHasGoneAndKeepsItsData) {
  std::string dir = TempDir();
  auto first = EmbeddedRedis::Start(InDir(dir));
  ASSERT_TRUE(first.has_value()) << first.error().message;
  ASSERT_EQ(Command(first->socket_path(), "SET handover yes"), "OK");
  // The second start waits while the first still serves, then runs on the same AOF.
  auto second = std::async(std::launch::async, [&] { return EmbeddedRedis::Start(InDir(dir)); });
  ASSERT_TRUE(first->Stop().has_value());
  auto started = second.get();
  ASSERT_TRUE(started.has_value()) << started.error().message;
  EXPECT_EQ(Command(started->socket_path(), "GET handover"), "yes");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace taskmill::broker
