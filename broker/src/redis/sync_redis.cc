#include "redis/sync_redis.h"

#include <algorithm>

#include "redis/master_locator.h"

namespace taskmill::broker {

SyncRedis::SyncRedis(RedisConfig config, int64_t timeout_ms)
    : config_(std::move(config)), timeout_ms_(timeout_ms) {}

SyncRedis::~SyncRedis() = default;

Result<RedisReplyPtr> SyncRedis::Command(const std::vector<std::string>& args) {
  if (!ctx_) {
    if (auto r = Connect(); !r) {
      ctx_.reset();
      return std::unexpected(r.error());
    }
  }
  return Send(args);
}

Result<void> SyncRedis::Connect() {
  timeval tv{static_cast<time_t>(timeout_ms_ / 1000),
             static_cast<suseconds_t>((timeout_ms_ % 1000) * 1000)};
  auto target = LocateRedis(config_, std::min<int64_t>(timeout_ms_, 500));
  if (!target) return std::unexpected(target.error());
  redisContext* c = target->unix_path.empty()
                        ? redisConnectWithTimeout(target->host.c_str(), target->port, tv)
                        : redisConnectUnixWithTimeout(target->unix_path.c_str(), tv);
  if (c == nullptr) return MakeError(ErrorCode::kStoreUnavailable, "redis: out of memory");
  ctx_.reset(c);
  if (c->err != 0) {
    return MakeError(ErrorCode::kStoreUnavailable, std::string("redis: ") + c->errstr);
  }
  redisSetTimeout(c, tv);
  auto step = [&](const std::vector<std::string>& args, const char* what) -> Result<void> {
    auto r = Send(args);
    if (!r) return MakeError(r.error().code, std::string(what) + ": " + r.error().message);
    return {};
  };
  if (!config_.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!config_.username.empty()) auth.push_back(config_.username);
    auth.push_back(config_.password);
    if (auto r = step(auth, "AUTH"); !r) return r;
  }
  if (config_.db != 0) {
    if (auto r = step({"SELECT", std::to_string(config_.db)}, "SELECT"); !r) return r;
  }
  return {};
}

Result<RedisReplyPtr> SyncRedis::Send(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  RedisReplyPtr reply(static_cast<redisReply*>(
      redisCommandArgv(ctx_.get(), static_cast<int>(argv.size()), argv.data(), lens.data())));
  if (!reply) {
    std::string why = ctx_->errstr;
    ctx_.reset();  // unusable after an I/O error: reconnect next time
    return MakeError(ErrorCode::kStoreUnavailable, "redis: " + why);
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    // Only the first line of what Redis said (scripts' errors can be long).
    std::string msg(reply->str, reply->len);
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
    // A demoted (or loading) node: the next command asks Sentinel for the master again.
    if (config_.sentinel_mode() && MeansFindMasterAgain(msg)) ctx_.reset();
    return MakeError(ErrorCode::kStoreUnavailable, "redis: " + msg);
  }
  return reply;
}

}  // namespace taskmill::broker
