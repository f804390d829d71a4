#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "redis/redis_config.h"
#include "redis/sync_redis.h"
#include "store/store_types.h"
#include "taskmill/shared/error.h"

namespace taskmill::broker {

// The HTTP threads' own synchronous Redis connection, for the queue-wide figures and the
// readiness probe: the reactor's connection is never borrowed. Every call has a timeout,
// reconnects lazily after a failure, and the queue figures are cached for `cache_ms` so a
// flood of scrapes costs Redis at most one read per period.
// Thread: any; calls are serialised by a mutex. Owner: the broker's HTTP wiring.
class StoreReader {
 public:
  StoreReader(RedisConfig config, std::string prefix, int64_t timeout_ms = 1000,
              int64_t cache_ms = 1000);
  ~StoreReader();
  StoreReader(const StoreReader&) = delete;
  StoreReader& operator=(const StoreReader&) = delete;

  // PING: ok when Redis answers PONG; an error when unreachable or LOADING.
  Result<void> Ping();
  // Every queue's depths and counters (stats.lua), at most `cache_ms` old.
  Result<std::vector<QueueCounters>> QueueFigures();
  // The prelude arguments of scripts that write (retention, dead letters kept, lease grace,
  // idempotency TTL): the broker's own, so a write here acts as the reactor's would.
  void UseStoreOptions(const StoreOptions& options);
  // Runs broker/src/lua/<name>.lua with the prelude header and `packed_args` (ARGV[2], from a
  // wire::*Args builder, store_wire.h): the dashboard's reads and its admin writes. Loaded
  // once (SCRIPT LOAD) and run by EVALSHA, so a page does not resend ~20 KB of Lua per call; loaded again after a NOSCRIPT (Redis
  // restarted). An error for an unknown script, a Redis error or a lost connection.
  Result<RedisReplyPtr> Script(std::string_view name, std::string packed_args);

 private:
  // Script with mu_ held (QueueFigures holds it across its pages).
  Result<RedisReplyPtr> ScriptLocked(std::string_view name, std::string packed_args);

  std::string prefix_;
  int64_t cache_ms_;
  std::map<std::string, std::string, std::less<>> scripts_;  // every script by name
  std::map<std::string, std::string> shas_;  // name -> SHA1 once SCRIPT LOADed; guarded by mu_
  StoreOptions store_options_;                               // guarded by mu_
  std::mutex mu_;
  SyncRedis redis_;                                 // guarded by mu_
  int64_t cached_at_ms_ = -1;                       // monotonic ms of cached_; -1 none
  std::vector<QueueCounters> cached_;               // guarded by mu_
};

}  // namespace taskmill::broker
