#pragma once

#include <cstdint>
#include <string>

#include "redis/redis_config.h"
#include "taskmill/shared/error.h"

namespace taskmill::broker {

// The network questions Sentinel discovery asks. SentinelNetProbe (blocking hiredis, short
// timeouts) is the real one; the unit tests use a fake.
class MasterProbe {
 public:
  virtual ~MasterProbe() = default;
  // SENTINEL get-master-addr-by-name <config.master_name> on one Sentinel.
  virtual Result<RedisEndpoint> AskSentinel(const RedisEndpoint& sentinel,
                                            const RedisConfig& config) = 0;
  // ROLE's first element on a data node ("master", "slave"), with the data credentials.
  virtual Result<std::string> Role(const RedisEndpoint& node, const RedisConfig& config) = 0;
};

// Finds the master: asks each Sentinel in the configured order; the first answer whose ROLE
// says "master" wins. A Sentinel that is down, does not know the name, or names a node that
// is unreachable or not (yet, or no longer) a master is skipped. None: kStoreUnavailable
// naming what each one said (no secrets), so the caller retries with its backoff.
Result<RedisEndpoint> DiscoverMaster(const RedisConfig& config, MasterProbe& probe);

// THE address function: every Redis connection the broker opens (the reactor's
// RedisConnection, SyncRedis for the HTTP threads and the layout check, any subscriber
// connection) calls it before each connect. Without Sentinel it returns `config` as is; with
// Sentinel, a copy whose host/port are the current master's and whose sentinel list is
// cleared (a plain config to dial). Blocks for at most ~2 x timeout_ms per Sentinel
// (loopback refusals are immediate); called only while the connection is down anyway.
Result<RedisConfig> LocateRedis(const RedisConfig& config, int64_t timeout_ms);

// True iff a reply error means "this node is not (or not yet) a usable master": READONLY
// (demoted), LOADING, MASTERDOWN. With Sentinel the connection drops it and finds the
// master again; the command itself fails with store_unavailable, never as a task failure.
bool MeansFindMasterAgain(std::string_view error_text);

}  // namespace taskmill::broker
