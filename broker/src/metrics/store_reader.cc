#include "metrics/store_reader.h"

#include <chrono>

#include "lua/scripts.h"
#include "store/store_wire.h"

namespace taskmill::broker {

namespace {
constexpr int kQueuesPerCall = 200;  // queues per stats.lua call

int64_t MonotonicMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

using ReplyPtr = RedisReplyPtr;

}  // namespace

StoreReader::StoreReader(RedisConfig config, std::string prefix, int64_t timeout_ms,
                         int64_t cache_ms)
    : config_(std::move(config)),
      prefix_(std::move(prefix)),
      timeout_ms_(timeout_ms),
      cache_ms_(cache_ms) {
  for (const auto& s : AllScripts()) {
    if (s.name == "stats") stats_script_ = std::string(s.body);
    scripts_.emplace(std::string(s.name), std::string(s.body));
  }
}

StoreReader::~StoreReader() = default;

Result<void> StoreReader::Connect() {
  timeval tv{static_cast<time_t>(timeout_ms_ / 1000),
             static_cast<suseconds_t>((timeout_ms_ % 1000) * 1000)};
  redisContext* c = config_.unix_path.empty()
                        ? redisConnectWithTimeout(config_.host.c_str(), config_.port, tv)
                        : redisConnectUnixWithTimeout(config_.unix_path.c_str(), tv);
  if (c == nullptr) return MakeError(ErrorCode::kStoreUnavailable, "redis: out of memory");
  std::unique_ptr<redisContext, ContextFree> owned(c);
  if (c->err != 0) {
    return MakeError(ErrorCode::kStoreUnavailable, std::string("redis: ") + c->errstr);
  }
  redisSetTimeout(c, tv);
  ctx_ = std::move(owned);
  auto step = [&](std::vector<std::string> args, const char* what) -> Result<void> {
    auto r = Command(args);
    if (!r) return MakeError(r.error().code, std::string(what) + ": " + r.error().message);
    freeReplyObject(*r);
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

Result<redisReply*> StoreReader::Command(const std::vector<std::string>& args) {
  if (!ctx_) {
    if (auto r = Connect(); !r) {
      ctx_.reset();
      return std::unexpected(r.error());
    }
  }
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(ctx_.get(), static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (reply == nullptr) {
    std::string why = ctx_->errstr;
    ctx_.reset();  // the connection is unusable after an I/O error: reconnect next time
    return MakeError(ErrorCode::kStoreUnavailable, "redis: " + why);
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    std::string msg(reply->str, reply->len);
    freeReplyObject(reply);
    // Never echo more than the first line of what Redis said (it holds no secrets, but
    // scripts' errors can be long).
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
    return MakeError(ErrorCode::kStoreUnavailable, "redis: " + msg);
  }
  return reply;
}

Result<void> StoreReader::Ping() {
  std::lock_guard lock(mu_);
  auto r = Command({"PING"});
  if (!r) return std::unexpected(r.error());
  freeReplyObject(*r);
  return {};
}

Result<std::vector<QueueCounters>> StoreReader::QueueFigures() {
  std::lock_guard lock(mu_);
  int64_t now = MonotonicMs();
  if (cached_at_ms_ >= 0 && now - cached_at_ms_ < cache_ms_) return cached_;
  // stats.lua is read only: the prelude's retention, jitter and TTL arguments are unused.
  // It pages the known queues by name (200 a call), so no single reply grows without bound.
  std::vector<QueueCounters> all;
  std::string after;
  for (;;) {
    auto r = Command({"EVAL", stats_script_, "0", prefix_, std::to_string(WallMs()), "0", "0",
                      "0", "0", "0", "0", after, std::to_string(kQueuesPerCall)});
    if (!r) return std::unexpected(r.error());
    ReplyPtr reply(*r);
    auto parsed = wire::ParseStats(reply.get());
    if (!parsed) return std::unexpected(parsed.error());
    for (auto& q : parsed->queues) all.push_back(std::move(q));
    // The last page says ""; a cursor that does not move would loop for ever.
    if (parsed->next_after <= after) break;
    after = std::move(parsed->next_after);
  }
  cached_ = std::move(all);
  cached_at_ms_ = now;
  return cached_;
}

void StoreReader::UseStoreOptions(const StoreOptions& options) {
  std::lock_guard lock(mu_);
  store_options_ = options;
}

Result<RedisReplyPtr> StoreReader::Script(std::string_view name,
                                          const std::vector<std::string>& args) {
  auto script = scripts_.find(name);
  if (script == scripts_.end()) {
    return MakeError(ErrorCode::kInternal, "no script " + std::string(name));
  }
  std::lock_guard lock(mu_);
  std::vector<std::string> argv = {"EVALSHA",
                                   "",
                                   "0",
                                   prefix_,
                                   std::to_string(WallMs()),
                                   std::to_string(store_options_.retention_ms),
                                   // As Store::Header: dead letters kept[,finished kept].
                                   store_options_.max_finished_per_queue == 0
                                       ? std::to_string(store_options_.dead_letter_max)
                                       : std::to_string(store_options_.dead_letter_max) + "," +
                                             std::to_string(store_options_.max_finished_per_queue),
                                   "0.5",
                                   std::to_string(store_options_.idempotency_ttl_ms),
                                   std::to_string(store_options_.lease_grace_ms)};
  argv.insert(argv.end(), args.begin(), args.end());
  for (int tries = 0;; ++tries) {
    std::string& sha = shas_[script->first];
    if (sha.empty()) {
      auto loaded = Command({"SCRIPT", "LOAD", script->second});
      if (!loaded) return std::unexpected(loaded.error());
      ReplyPtr reply(*loaded);
      if (reply->type != REDIS_REPLY_STRING) {
        return MakeError(ErrorCode::kInternal, "SCRIPT LOAD: unexpected reply");
      }
      sha.assign(reply->str, reply->len);
    }
    argv[1] = sha;
    auto r = Command(argv);
    if (r) return RedisReplyPtr(*r);
    // NOSCRIPT: Redis restarted or its script cache was flushed; load it once more.
    if (tries > 0 || r.error().message.find("NOSCRIPT") == std::string::npos) {
      return std::unexpected(r.error());
    }
    sha.clear();
  }
}

}  // namespace taskmill::broker
