#pragma once

#include <hiredis/hiredis.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "redis/redis_config.h"
#include "taskmill/shared/error.h"

namespace taskmill::broker {

struct RedisReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using RedisReplyPtr = std::unique_ptr<redisReply, RedisReplyFree>;

// A blocking Redis connection for work off the reactor thread: the store layout check at
// start, the HTTP threads' reads. Connects lazily (to LocateRedis's node: with Sentinel, the
// current master; then AUTH and SELECT from the config),
// every command under `timeout_ms`, and reconnects on the next command after an I/O error.
// Thread: one caller at a time (the owner serialises). Not for the hot path: the reactor
// uses the asynchronous RedisConnection.
class SyncRedis {
 public:
  SyncRedis(RedisConfig config, int64_t timeout_ms);
  ~SyncRedis();
  SyncRedis(const SyncRedis&) = delete;
  SyncRedis& operator=(const SyncRedis&) = delete;

  // The reply, or kStoreUnavailable: unreachable, an I/O error (the connection is dropped),
  // or an error reply (its first line; the connection is kept).
  Result<RedisReplyPtr> Command(const std::vector<std::string>& args);
  // Drops the connection; the next command connects again.
  void Disconnect() { ctx_.reset(); }

 private:
  struct ContextFree {
    void operator()(redisContext* c) const { redisFree(c); }
  };
  Result<void> Connect();
  Result<RedisReplyPtr> Send(const std::vector<std::string>& args);

  RedisConfig config_;
  int64_t timeout_ms_;
  std::unique_ptr<redisContext, ContextFree> ctx_;  // null while disconnected
};

}  // namespace taskmill::broker
