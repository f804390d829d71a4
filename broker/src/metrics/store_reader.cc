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

}  // namespace

StoreReader::StoreReader(RedisConfig config, std::string prefix, int64_t timeout_ms,
                         int64_t cache_ms)
    : prefix_(std::move(prefix)), cache_ms_(cache_ms), redis_(std::move(config), timeout_ms) {
  for (const auto& s : AllScripts()) {
    scripts_.emplace(std::string(s.name), std::string(s.body));
  }
}

StoreReader::~StoreReader() = default;

Result<void> StoreReader::Ping() {
  std::lock_guard lock(mu_);
  auto r = redis_.Command({"PING"});
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<std::vector<QueueCounters>> StoreReader::QueueFigures() {
  std::lock_guard lock(mu_);
  int64_t now = MonotonicMs();
  if (cached_at_ms_ >= 0 && now - cached_at_ms_ < cache_ms_) return cached_;
  // stats.lua is read only (it writes nothing), by EVALSHA like every other script here.
  // It pages the known queues by name (200 a call), so no single reply grows without bound.
  std::vector<QueueCounters> all;
  std::string after;
  for (;;) {
    auto r = ScriptLocked("stats", wire::StatsArgs({}, after, kQueuesPerCall));
    if (!r) return std::unexpected(r.error());
    auto parsed = wire::ParseStats(r->get());
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

Result<RedisReplyPtr> StoreReader::Script(std::string_view name, std::string packed_args) {
  std::lock_guard lock(mu_);
  return ScriptLocked(name, std::move(packed_args));
}

Result<RedisReplyPtr> StoreReader::ScriptLocked(std::string_view name, std::string packed_args) {
  auto script = scripts_.find(name);
  if (script == scripts_.end()) {
    return MakeError(ErrorCode::kInternal, "no script " + std::string(name));
  }
  // The broker's own prelude arguments, so a write here acts as the reactor's would.
  StoreOptions options = store_options_;
  options.prefix = prefix_;
  std::vector<std::string> argv = {"EVALSHA", "", "1", wire::LayoutKey(options),
                                   wire::Header(options, WallMs(), 0.5),
                                   std::move(packed_args)};
  for (int tries = 0;; ++tries) {
    std::string& sha = shas_[script->first];
    if (sha.empty()) {
      auto loaded = redis_.Command({"SCRIPT", "LOAD", script->second});
      if (!loaded) return std::unexpected(loaded.error());
      const redisReply* reply = loaded->get();
      if (reply->type != REDIS_REPLY_STRING) {
        return MakeError(ErrorCode::kInternal, "SCRIPT LOAD: unexpected reply");
      }
      sha.assign(reply->str, reply->len);
    }
    argv[1] = sha;
    auto r = redis_.Command(argv);
    if (r) return r;
    // NOSCRIPT: Redis restarted or its script cache was flushed; load it once more.
    if (tries > 0 || r.error().message.find("NOSCRIPT") == std::string::npos) {
      return std::unexpected(r.error());
    }
    sha.clear();
  }
}

}  // namespace taskmill::broker
