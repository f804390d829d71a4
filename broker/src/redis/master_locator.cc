#include "redis/master_locator.h"

#include <hiredis/hiredis.h>

#include <memory>
#include <vector>

#include "taskmill/shared/log.h"

namespace taskmill::broker {
namespace {

std::shared_ptr<spdlog::logger> Log() { return Logger("broker.redis"); }

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextFree>;
struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

// One short blocking connection per question: discovery runs only while a connection is
// down, and a kept-open Sentinel connection would be one more thing to fail.
class SentinelNetProbe final : public MasterProbe {
 public:
  explicit SentinelNetProbe(int64_t timeout_ms) : timeout_ms_(timeout_ms) {}

  Result<RedisEndpoint> AskSentinel(const RedisEndpoint& sentinel,
                                    const RedisConfig& config) override {
    auto c = Open(sentinel, "", config.sentinel_password);
    if (!c) return std::unexpected(c.error());
    auto r = Call(c->get(), {"SENTINEL", "get-master-addr-by-name", config.master_name});
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
    auto c = Open(node, config.username, config.password);
    if (!c) return std::unexpected(c.error());
    auto r = Call(c->get(), {"ROLE"});
    if (!r) return std::unexpected(r.error());
    const redisReply* rep = r->get();
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0 ||
        rep->element[0]->type != REDIS_REPLY_STRING) {
      return MakeError(ErrorCode::kStoreUnavailable, "ROLE: unexpected reply");
    }
    return std::string(rep->element[0]->str, rep->element[0]->len);
  }

 private:
  Result<ContextPtr> Open(const RedisEndpoint& ep, const std::string& user,
                          const std::string& password) {
    timeval tv{static_cast<time_t>(timeout_ms_ / 1000),
               static_cast<suseconds_t>((timeout_ms_ % 1000) * 1000)};
    ContextPtr c(redisConnectWithTimeout(ep.host.c_str(), ep.port, tv));
    if (!c) return MakeError(ErrorCode::kStoreUnavailable, "out of memory");
    if (c->err != 0) return MakeError(ErrorCode::kStoreUnavailable, c->errstr);
    redisSetTimeout(c.get(), tv);
    if (!password.empty()) {
      std::vector<std::string> auth{"AUTH"};
      if (!user.empty()) auth.push_back(user);
      auth.push_back(password);
      if (auto r = Call(c.get(), auth); !r) {
        return MakeError(r.error().code, "AUTH: " + r.error().message);
      }
    }
    return c;
  }

  static Result<ReplyPtr> Call(redisContext* c, const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    ReplyPtr r(static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
    if (!r) return MakeError(ErrorCode::kStoreUnavailable, c->errstr);
    if (r->type == REDIS_REPLY_ERROR) {
      std::string msg(r->str, r->len);
      if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
      return MakeError(ErrorCode::kStoreUnavailable, msg);
    }
    return r;
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
