#include "store/store_layout.h"

#include <hiredis/hiredis.h>
#include <sys/random.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "lua/scripts.h"
#include "redis/sync_redis.h"
#include "store/store_wire.h"
#include "taskmill/shared/log.h"

namespace taskmill::broker {
namespace {

auto Log() {
  static auto log = Logger("broker.store");
  return log;
}

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t MonotonicMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The layout check's connection: any error drops it, so the next probe starts afresh
// (LOADING after a restart, BUSY, a password not yet right all pass with time).
class LayoutRedis {
 public:
  LayoutRedis(const RedisConfig& config, int64_t timeout_ms) : redis_(config, timeout_ms) {}
  Result<RedisReplyPtr> Command(const std::vector<std::string>& args) {
    auto r = redis_.Command(args);
    if (!r) redis_.Disconnect();
    return r;
  }

 private:
  SyncRedis redis_;
};

std::string_view ScriptBody(std::string_view name) {
  for (const LuaScript& s : AllScripts()) {
    if (s.name == name) return s.body;
  }
  return {};
}

std::string LockToken() {
  uint64_t bits[2] = {};
  if (getrandom(bits, sizeof bits, 0) != static_cast<ssize_t>(sizeof bits)) {
    bits[0] = static_cast<uint64_t>(WallMs());
    bits[1] = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(&bits));
  }
  return std::to_string(bits[0]) + "-" + std::to_string(bits[1]);
}

std::string Str(const redisReply* r) {
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
    return std::string(r->str, r->len);
  }
  return {};
}

// {verdict string, integers...}; nullopt when the reply has another shape.
struct ScriptReply {
  std::string verdict;
  std::vector<int64_t> numbers;
};
Result<ScriptReply> ParseScriptReply(const redisReply* r, std::string_view script) {
  if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
    return MakeError(ErrorCode::kInternal, std::string(script) + ": unexpected reply");
  }
  ScriptReply out{Str(r->element[0]), {}};
  for (size_t i = 1; i < r->elements; ++i) {
    if (r->element[i]->type != REDIS_REPLY_INTEGER) {
      return MakeError(ErrorCode::kInternal, std::string(script) + ": unexpected reply");
    }
    out.numbers.push_back(r->element[i]->integer);
  }
  return out;
}

// EVAL of a layout script with the store's contract (lib/prelude.lua): KEYS[1] the layout
// key, ARGV[1] the header (only now is read), ARGV[2] the arguments.
std::vector<std::string> Eval(std::string_view body, const std::string& prefix,
                              std::string packed_args) {
  StoreOptions header;
  header.prefix = prefix;
  return {"EVAL",
          std::string(body),
          "1",
          wire::LayoutKey(header),
          wire::Header(header, WallMs(), 0),
          std::move(packed_args)};
}

}  // namespace

Result<LayoutOutcome> EnsureStoreLayout(const RedisConfig& config,
                                        const StoreLayoutOptions& options) {
  LayoutRedis redis(config, options.io_timeout_ms);
  const std::string token = LockToken();
  LayoutOutcome outcome;
  bool first_probe = true;
  uint32_t chunks = 0;
  int64_t next_note_ms = 0;  // monotonic ms of the next "still waiting" line
  auto pause = [&](const std::string& why) -> Result<void> {
    if (!options.wait) return MakeError(ErrorCode::kStoreUnavailable, why);
    if (options.stop_requested && options.stop_requested()) {
      return MakeError(ErrorCode::kStoreUnavailable, "stopped while " + why);
    }
    if (int64_t now = MonotonicMs(); now >= next_note_ms) {
      Log()->info("store layout: {}", why);
      next_note_ms = now + 5000;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(options.poll_ms));
    return {};
  };

  for (;;) {
    auto probed = redis.Command(
        Eval(ScriptBody("layout_probe"), options.prefix,
             wire::LayoutProbeArgs(kStoreLayoutVersion, token, options.lock_ttl_ms)));
    if (!probed) {
      if (probed.error().code != ErrorCode::kStoreUnavailable) return std::unexpected(probed.error());
      if (auto r = pause("waiting for Redis (" + probed.error().message + ")"); !r) return std::unexpected(r.error());
      continue;
    }
    auto probe = ParseScriptReply(probed->get(), "layout_probe");
    if (!probe) return std::unexpected(probe.error());
    if (probe->numbers.size() != 1) {
      return MakeError(ErrorCode::kInternal, "layout_probe: unexpected reply");
    }
    int64_t version = probe->numbers[0];
    if (first_probe) {
      outcome.found_version = version;
      first_probe = false;
    }
    if (probe->verdict == "current") {
      Log()->info("store layout version {} (prefix {})", version, options.prefix);
      return outcome;
    }
    if (probe->verdict == "newer") {
      return MakeError(ErrorCode::kConflict,
                       "the Redis store (prefix " + options.prefix + ") has layout version " +
                           std::to_string(version) + ", newer than this broker's layout version " +
                           std::to_string(kStoreLayoutVersion) +
                           ": run a broker of the release that wrote it (or newer); this one "
                           "would misread it");
    }
    if (probe->verdict == "wait") {
      if (auto r = pause("another broker is migrating layout version " +
                         std::to_string(version) + " to " +
                         std::to_string(kStoreLayoutVersion) + "; waiting");
          !r) {
        return std::unexpected(r.error());
      }
      continue;
    }
    if (probe->verdict != "migrate") {
      return MakeError(ErrorCode::kInternal, "layout_probe: unknown verdict " + probe->verdict);
    }
    const LayoutStep* step = nullptr;
    for (const LayoutStep& s : kLayoutSteps) {
      if (s.from == version) step = &s;
    }
    if (step == nullptr) {
      return MakeError(ErrorCode::kConflict,
                       "the Redis store (prefix " + options.prefix + ") has layout version " +
                           std::to_string(version) + ", which this broker (layout version " +
                           std::to_string(kStoreLayoutVersion) + ") cannot migrate");
    }
    Log()->info("store layout: migrating version {} to {} (prefix {}, {} per call)", version,
                version + 1, options.prefix, options.chunk);
    int64_t started_ms = MonotonicMs();
    std::string_view body = ScriptBody(step->script);
    for (;;) {
      if (options.max_chunks != 0 && chunks >= options.max_chunks) {
        return MakeError(ErrorCode::kStoreUnavailable, "stopped after " +
                                                           std::to_string(chunks) +
                                                           " migration chunks (max_chunks)");
      }
      auto ran = redis.Command(
          Eval(body, options.prefix,
               wire::LayoutStepArgs(token, options.lock_ttl_ms, options.chunk)));
      if (!ran) {
        if (ran.error().code != ErrorCode::kStoreUnavailable) return std::unexpected(ran.error());
        // Redis went away (or refused the step) mid-migration: the next probe (ours, or
        // another broker's once the lock lapses) continues from the progress in Redis.
        if (auto r = pause("migration interrupted (" + ran.error().message + ")"); !r) {
          return std::unexpected(r.error());
        }
        break;
      }
      ++chunks;
      outcome.migrated_here = true;
      auto chunk = ParseScriptReply(ran->get(), step->script);
      if (!chunk) return std::unexpected(chunk.error());
      if (chunk->verdict == "lost") {
        Log()->warn("store layout: lost the migration lock; probing again");
        break;
      }
      if (chunk->numbers.size() != step->counts.size()) {
        return MakeError(ErrorCode::kInternal, std::string(step->script) + ": unexpected reply");
      }
      const auto& n = chunk->numbers;
      if (step->from == 1) {
        outcome.queues = n[0];
        outcome.types_kept = n[1];
        outcome.types_dropped = n[2];
        outcome.queued = n[3];
        outcome.fenced = n[4];
      } else if (step->from == 2) {
        outcome.idem_moved = n[0];
        outcome.idem_kept = n[1];
      } else if (step->from == 3) {
        outcome.records_converted = n[0];
        outcome.records_found = n[1];
      } else if (step->from == 4) {
        outcome.done_lists = n[0];
        outcome.done_moved = n[1];
        outcome.tokens_moved = n[2];
      }
      if (chunk->verdict == "done") {
        std::string counted;
        size_t i = 0;
        for (std::string_view what : step->counts) {
          counted += (i == 0 ? "" : ", ") + std::to_string(n[i]) + " " + std::string(what);
          ++i;
        }
        Log()->info("store layout: migrated version {} to {} in {} ms: {}", version, version + 1,
                    MonotonicMs() - started_ms, counted);
        break;
      }
    }
  }
}

LayoutCheckThread::LayoutCheckThread(RedisConfig config, StoreLayoutOptions options) {
  options.wait = true;
  options.stop_requested = [this] { return stop_.load(); };
  thread_ = std::thread([this, config = std::move(config), options = std::move(options)] {
    auto r = EnsureStoreLayout(config, options);
    if (r) {
      ok_ = true;
      Log()->info("store layout checked; the store is served from now on");
    } else if (!stop_.load()) {
      error_ = r.error();
      failed_.store(true, std::memory_order_release);
    }
  });
}

LayoutCheckThread::~LayoutCheckThread() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::optional<Error> LayoutCheckThread::failure() const {
  if (!failed_.load(std::memory_order_acquire)) return std::nullopt;
  return error_;
}

}  // namespace taskmill::broker
