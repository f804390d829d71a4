#include "service/memory_guard.h"

#include <charconv>
#include <optional>

#include <fmt/format.h>

#include "redis/redis_connection.h"
#include "taskmill/shared/log.h"

namespace taskmill::broker {
namespace {

auto Log() {
  static auto log = Logger("broker.memory");
  return log;
}

// The value of `key:` in an INFO reply (lines "key:value\r\n"), or nullopt.
std::optional<uint64_t> InfoField(std::string_view info, std::string_view key) {
  size_t at = 0;
  while (at < info.size()) {
    size_t end = info.find('\n', at);
    if (end == std::string_view::npos) end = info.size();
    std::string_view line = info.substr(at, end - at);
    at = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() <= key.size() || !line.starts_with(key) || line[key.size()] != ':') continue;
    std::string_view value = line.substr(key.size() + 1);
    uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || ptr != value.data() + value.size()) return std::nullopt;
    return n;
  }
  return std::nullopt;
}

std::string MiB(uint64_t bytes) { return fmt::format("{:.1f} MiB", bytes / 1048576.0); }

}  // namespace

Result<MemoryReading> ParseInfoMemory(std::string_view info) {
  auto used = InfoField(info, "used_memory");
  auto max = InfoField(info, "maxmemory");
  if (!used || !max) {
    return MakeError(ErrorCode::kInternal,
                     "INFO memory: no numeric used_memory and maxmemory in the reply");
  }
  return MemoryReading{*used, *max};
}

uint64_t SubmitLimitBytes(uint64_t max_bytes, uint32_t headroom_percent) {
  if (max_bytes == 0) return 0;
  uint32_t percent = headroom_percent > 100 ? 100 : headroom_percent;
  // Divided first: no overflow for any maxmemory (rounds the headroom down by < 1 byte/100).
  uint64_t headroom = max_bytes / 100 * percent + max_bytes % 100 * percent / 100;
  return max_bytes - headroom;
}

uint64_t EstimateTaskBytes(const std::vector<protocol::TaskSpec>& tasks) {
  uint64_t bytes = 0;
  for (const auto& t : tasks) {
    uint64_t data = t.payload.size();
    for (const auto& [k, v] : t.labels) data += k.size() + v.size();
    bytes += kTaskOverheadBytes + 2 * data;
  }
  return bytes;
}

void MemoryGuard::OnReading(const MemoryReading& reading) {
  if (reading.max_bytes == 0 && !warned_no_limit_) {
    warned_no_limit_ = true;
    Log()->warn(
        "Redis has no maxmemory: new tasks are never refused for memory, and a full machine "
        "will make Redis fail or be killed. Set maxmemory with maxmemory-policy noeviction on "
        "that Redis (the embedded one: --redis-maxmemory-mb)");
  }
  if (reading.max_bytes != reading_.max_bytes && reading.max_bytes != 0 && has_reading_) {
    Log()->info("Redis maxmemory is now {}; new tasks are refused past {}", MiB(reading.max_bytes),
                MiB(SubmitLimitBytes(reading.max_bytes, headroom_percent_)));
  }
  bool was_full = has_reading_ && full();
  reading_ = reading;
  has_reading_ = true;
  admitted_since_reading_ = 0;
  bool now_full = full();
  if (now_full && !was_full) {
    Log()->warn("{}", FullError().message);
  } else if (was_full && !now_full) {
    Log()->info("Redis memory is back under the submit limit ({} used of {}): new tasks are "
                "accepted again",
                MiB(reading_.used_bytes), MiB(reading_.max_bytes));
  }
}

void MemoryGuard::Poll(RedisConnection& conn) {
  if (in_flight_ || !conn.ready()) return;
  in_flight_ = true;
  conn.Command({"INFO", "memory"}, [this](Result<const redisReply*> r) {
    in_flight_ = false;
    if (!r) return;  // the last reading stands until Redis answers again
    const redisReply* reply = *r;
    if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS) return;
    auto reading = ParseInfoMemory(std::string_view(reply->str, reply->len));
    if (!reading) {
      Log()->debug("{}", reading.error().message);
      return;
    }
    OnReading(*reading);
  });
}

bool MemoryGuard::full() const {
  uint64_t limit = limit_bytes();
  if (!has_reading_ || limit == 0) return false;
  return reading_.used_bytes + admitted_since_reading_ >= limit;
}

Result<void> MemoryGuard::Admit(uint64_t estimated_bytes) {
  if (full()) {
    ++refused_;
    return std::unexpected(FullError());
  }
  admitted_since_reading_ += estimated_bytes;
  return {};
}

Error MemoryGuard::FullError() const {
  return Error{
      ErrorCode::kStoreFull,
      fmt::format("Redis memory is near its maxmemory ({} used of {}, new tasks are refused "
                  "past {}, keeping {}% for the tasks already accepted): nothing was stored; "
                  "retry once workers have drained the queues or finished tasks are trimmed "
                  "(--max-finished-per-queue, --retention-hours), or give Redis more memory",
                  MiB(reading_.used_bytes + admitted_since_reading_), MiB(reading_.max_bytes),
                  MiB(limit_bytes()), headroom_percent_)};
}

std::string MemoryGuard::Warning() const {
  if (!full()) return "";
  return fmt::format(
      "new tasks are refused with store_full: Redis memory {} used of {} (limit {}, "
      "--store-full-headroom-percent {})",
      MiB(reading_.used_bytes + admitted_since_reading_), MiB(reading_.max_bytes),
      MiB(limit_bytes()), headroom_percent_);
}

}  // namespace taskmill::broker
