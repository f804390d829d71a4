#pragma once

#include <hiredis/hiredis.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "redis/redis_config.h"
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

 private:
  struct ContextFree {
    void operator()(redisContext* c) const { redisFree(c); }
  };
  Result<redisReply*> Command(const std::vector<std::string>& args);  // mu_ held
  Result<void> Connect();                                             // mu_ held

  RedisConfig config_;
  std::string prefix_;
  int64_t timeout_ms_;
  int64_t cache_ms_;
  std::string stats_script_;  // stats.lua with its prelude
  std::mutex mu_;
  std::unique_ptr<redisContext, ContextFree> ctx_;  // null while disconnected; guarded by mu_
  int64_t cached_at_ms_ = -1;                       // monotonic ms of cached_; -1 none
  std::vector<QueueCounters> cached_;               // guarded by mu_
};

}  // namespace taskmill::broker
