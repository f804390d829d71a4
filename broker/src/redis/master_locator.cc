#include "redis/master_locator.h"

#include <hiredis/hiredis.h>

#include <cstdlib>

#include "redis/sync_redis.h"
#include "taskmill/shared/log.h"

namespace taskmill::broker {
namespace {

std::shared_ptr<spdlog::logger> Log() { return Logger("broker.redis"); }

// One short blocking connection per question (a SyncRedis of its own): discovery runs only
// while a connection is down, and a kept-open Sentinel connection would be one more thing
// to fail.
class SentinelNetProbe final : public MasterProbe {
 public:
  explicit SentinelNetProbe(int64_t timeout_ms) : timeout_ms_(timeout_ms) {}

  Result<RedisEndpoint> AskSentinel(const RedisEndpoint& sentinel,
                                    const RedisConfig& config) override {
    SyncRedis c(Plain(sentinel, "", config.sentinel_password), timeout_ms_);
    auto r = c.Command({"SENTINEL", "get-master-addr-by-name", config.master_name});
    if (!r) return std::unexpected(r.error());
    const redisReply* rep = r->get();
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING ||
        rep->element[1]->type != REDIS_REPLY_STRING) {
      return MakeError(ErrorCode::kStoreUnavailable, "does not know master '" +
                                                         config.master_name + "'");
    }
    RedisEndpoint ep;
    ep.host.assign(rep->element[0]->str, rep->element[0]->len);
    std::string port(rep->element[1]->str, rep->element[1]->len);
    ep.port = std::atoi(port.c_str());
    if (ep.host.empty() || ep.port <= 0 || ep.port > 65535) {
      return MakeError(ErrorCode::kStoreUnavailable, "answered a bad address");
    }
    return ep;
  }

  Result<std::string> Role(const RedisEndpoint& node, const RedisConfig& config) override {
    SyncRedis c(Plain(node, config.username, config.password), timeout_ms_);
    auto r = c.Command({"ROLE"});
    if (!r) return std::unexpected(r.error());
    const redisReply* rep = r->get();
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0 ||
        rep->element[0]->type != REDIS_REPLY_STRING) {
      return MakeError(ErrorCode::kStoreUnavailable, "ROLE: unexpected reply");
    }
    return std::string(rep->element[0]->str, rep->element[0]->len);
  }

 private:
  // A plain TCP config (no Sentinels, db 0: nothing to SELECT) for one node.
  static RedisConfig Plain(const RedisEndpoint& ep, std::string user, std::string password) {
    RedisConfig c;
    c.host = ep.host;
    c.port = ep.port;
    c.username = std::move(user);
    c.password = std::move(password);
    return c;
  }

  int64_t timeout_ms_;
};

}  // namespace

Result<RedisEndpoint> DiscoverMaster(const RedisConfig& config, MasterProbe& probe) {
  std::string said;
  for (const RedisEndpoint& sentinel : config.sentinels) {
    std::string who = "sentinel " + RedisEndpointText(sentinel);
    auto master = probe.AskSentinel(sentinel, config);
    if (!master) {
      said += (said.empty() ? "" : "; ") + who + ": " + master.error().message;
      continue;
    }
    auto role = probe.Role(*master, config);
    if (role && *role == "master") return *master;
    said += (said.empty() ? "" : "; ") + who + " named " + RedisEndpointText(*master) + ": " +
            (role ? "its ROLE is " + *role : role.error().message);
  }
  return MakeError(ErrorCode::kStoreUnavailable,
                   "no master '" + config.master_name + "' found (" + said + ")");
}

Result<RedisConfig> LocateRedis(const RedisConfig& config, int64_t timeout_ms) {
  if (!config.sentinel_mode()) return config;
  SentinelNetProbe probe(timeout_ms);
  auto master = DiscoverMaster(config, probe);
  if (!master) return std::unexpected(master.error());
  RedisConfig plain = config;
  plain.sentinels.clear();
  plain.host = master->host;
  plain.port = master->port;
  Log()->debug("sentinel: master '{}' is {}", config.master_name, RedisEndpointText(*master));
  return plain;
}

bool MeansFindMasterAgain(std::string_view error_text) {
  return error_text.starts_with("READONLY") || error_text.starts_with("LOADING") ||
         error_text.starts_with("MASTERDOWN");
}

}  // namespace taskmill::broker
