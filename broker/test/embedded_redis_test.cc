// The embedded redis-server and an earlier one still serving the same data dir (a broker
// killed a moment ago, whose Redis is still flushing its AOF): the new one must not start
// beside it, nor take its socket away.

#include "redis/embedded_redis.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

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
  // The second start waits while the first still serves, then runs on the same AOF. The
  // stop, not the start, runs on the other thread: a server gets SIGTERM when the thread
  // that started it exits (PR_SET_PDEATHSIG follows the thread), which made this test fail
  // now and then when the second server was started on a thread that then ended.
  auto stopping = std::async(std::launch::async, [&] { return first->Stop(); });
  auto started = EmbeddedRedis::Start(InDir(dir));
  ASSERT_TRUE(stopping.get().has_value());
  ASSERT_TRUE(started.has_value()) << started.error().message;
  EXPECT_EQ(Command(started->socket_path(), "GET handover"), "yes");
  std::filesystem::remove_all(dir);
}

// A server that has closed its socket but not yet exited (it unlinks the socket path last)
// still holds redis.lock: a new one waits for the lock, not just for the socket to go quiet,
// or the old one's unlink would take the new one's socket away.
TEST(EmbeddedRedisTest, ANewServerWaitsForTheLockOfOneThatHasNotExitedYet) {
  std::string dir = TempDir();
  int held = open((dir + "/redis.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(held, 0);
  ASSERT_EQ(flock(held, LOCK_EX | LOCK_NB), 0);
  EmbeddedRedisOptions o = InDir(dir);
  o.previous_exit_timeout_ms = 200;
  auto refused = EmbeddedRedis::Start(o);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("holds redis.lock"), std::string::npos)
      << refused.error().message;
  close(held);  // the earlier server has exited
  auto started = EmbeddedRedis::Start(o);
  ASSERT_TRUE(started.has_value()) << started.error().message;
  EXPECT_EQ(Command(started->socket_path(), "PING"), "PONG");
  // While it runs, its redis-server (not this process) holds the lock.
  int probe = open((dir + "/redis.lock").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(probe, 0);
  EXPECT_NE(flock(probe, LOCK_EX | LOCK_NB), 0);
  ASSERT_TRUE(started->Stop().has_value());
  EXPECT_EQ(flock(probe, LOCK_EX | LOCK_NB), 0) << "released when redis-server exited";
  close(probe);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace taskmill::broker
