#pragma once

// The broker's startup and status helpers, used by BrokerRuntime (broker_runtime.h): where
// the store lives, CURVE, the snapshot the HTTP threads read, the counters' log line.
// Thread: the reactor thread (the caller of Broker::Run).

#include <memory>
#include <optional>
#include <vector>

#include "dispatch/worker_registry.h"
#include "metrics/broker_counters.h"
#include "metrics/reactor_board.h"
#include "net/router_socket.h"
#include "net/zap_handler.h"
#include "redis/data_dir_lock.h"
#include "redis/embedded_redis.h"
#include "redis/redis_config.h"
#include "service/broker_context.h"
#include "taskmill/broker/broker.h"

namespace taskmill::broker {

// The Redis the store uses: --redis-url, or an embedded redis-server on --data-dir (locked
// first). `lock` is filled before `embedded` and must outlive it: the data dir stays ours
// until our redis-server has flushed and exited.
Result<RedisConfig> StoreConfig(const BrokerOptions& o, std::optional<DataDirLock>& lock,
                                std::optional<EmbeddedRedis>& embedded);
// What the HTTP threads may know of the reactor, copied a few times a second.
ReactorSnapshot TakeSnapshot(const BrokerContext& ctx, const RecentBatches& recent_batches,
                             const ZapHandler* zap, bool draining, bool detail);
void LogCounters(const BrokerCounters& c);
// A signalfd for SIGTERM, SIGINT and SIGHUP (-1 if it cannot be made).
int MakeSignalFd();
// With --curve-secret-key-file: the ZAP handler bound in `zmq_ctx` (it must exist before
// the CURVE sockets bind, or libzmq lets every key in) and both sockets made CURVE servers.
// Without: nullptr, plain sockets.
Result<std::unique_ptr<ZapHandler>> SetUpCurve(const BrokerOptions& o, zmq::context_t& zmq_ctx,
                                               const Clock& clock, RouterSocket& frontend,
                                               RouterSocket& backend);
// SIGHUP: re-read the allow-list; a broken directory keeps the old list.
void ReloadAllowList(const BrokerOptions& o, ZapHandler* zap);

}  // namespace taskmill::broker
