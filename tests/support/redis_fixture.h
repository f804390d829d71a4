#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "redis/embedded_redis.h"
#include "redis/redis_connection.h"

namespace taskmill::testing {

// A loopback port that was free a moment ago (bind to 0, read it back, close).
Result<int> FreeLoopbackPort();

// A real redis-server in a fresh temp dir (AOF on), listening on a unix socket in that dir,
// or also on a random free loopback port. Supports kill -9 and restart on the same dir.
// Lifecycle: Start() blocks until it answers PING; the destructor stops it and deletes the
// dir. Thread: the test's thread. Owner: a test or a suite (RedisTest holds one per suite).
class RedisServer {
 public:
  struct Options {
    bool tcp = false;                      // also listen on 127.0.0.1:<random free port>
    std::string appendfsync = "everysec";  // AOF policy
  };
  static Result<std::unique_ptr<RedisServer>> Start(Options options);
  static Result<std::unique_ptr<RedisServer>> Start() { return Start(Options{}); }
  ~RedisServer();

  // Unix socket config, or TCP 127.0.0.1:port when started with tcp.
  broker::RedisConfig config() const;
  const std::string& dir() const { return dir_; }
  pid_t pid() const { return redis_->pid(); }
  broker::EmbeddedRedis& process() { return *redis_; }
  // SIGKILL (no shutdown, no final fsync by redis) and reap.
  void Kill9() { redis_->Kill(); }
  // Starts it again on the same dir and port; AOF is replayed.
  Result<void> Restart() { return redis_->Restart(); }

 private:
  RedisServer(std::string dir, std::unique_ptr<broker::EmbeddedRedis> redis)
      : dir_(std::move(dir)), redis_(std::move(redis)) {}
  std::string dir_;
  std::unique_ptr<broker::EmbeddedRedis> redis_;
};

// A key prefix no other test (or process) uses: "t<pid>.<suite>.<test>.<n>:".
std::string UniquePrefix();

// gtest base: one redis-server per suite, a unique key prefix and a ready RedisConnection
// per test. Tests wait with Until()/Await(), which drive the connection with poll() until a
// condition holds or a deadline passes; never a bare sleep.
class RedisTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;
  void TearDown() override;

  static RedisServer& server() { return *server_; }
  // Drives conn_ until pred() or the timeout; false on timeout.
  bool Until(const std::function<bool()>& pred, int64_t timeout_ms = 10000);
  // Starts an async call with a callback and waits for it (kTimeout if it never comes).
  template <typename T>
  Result<T> Await(const std::function<void(std::function<void(Result<T>)>)>& start,
                  int64_t timeout_ms = 20000) {
    std::optional<Result<T>> out;
    start([&out](Result<T> r) { out.emplace(std::move(r)); });
    if (!Until([&] { return out.has_value(); }, timeout_ms)) {
      return MakeError(ErrorCode::kTimeout, "no callback within the deadline");
    }
    return std::move(*out);
  }
  // A new connection to the suite's server, started and (by default) ready.
  std::unique_ptr<broker::RedisConnection> Connect(bool wait_ready = true);

  std::string prefix_;
  std::unique_ptr<broker::RedisConnection> conn_;

 private:
  static inline std::unique_ptr<RedisServer> server_;
};

}  // namespace taskmill::testing
