#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/messages.h"

namespace taskmill::broker {

class RedisConnection;

// Redis's memory as INFO memory reports it.
struct MemoryReading {
  uint64_t used_bytes = 0;  // used_memory
  uint64_t max_bytes = 0;   // maxmemory; 0: no limit
};

// Reads used_memory and maxmemory out of an INFO (memory) reply; an error when either is
// missing or not a number.
Result<MemoryReading> ParseInfoMemory(std::string_view info);

// The used memory past which new tasks are refused: maxmemory less `headroom_percent` of it
// (kept for what already acknowledged tasks still write: claims, DONEs and their results,
// retries, dead letters). 0 when there is no maxmemory (no limit).
uint64_t SubmitLimitBytes(uint64_t max_bytes, uint32_t headroom_percent);

// What a SUBMIT or BATCH of `tasks` is reckoned to add to Redis before the next reading:
// twice its payloads and labels (the allocator rounds a value up to its size class, and the
// AOF buffer holds another copy until it is written) plus kTaskOverheadBytes per task (the
// record, indexes, ids). Reckoning high only refuses early until the next reading.
uint64_t EstimateTaskBytes(const std::vector<protocol::TaskSpec>& tasks);
constexpr uint64_t kTaskOverheadBytes = 1024;

// Refuses new tasks with store_full before Redis itself refuses writes, so that what is
// already acknowledged (claims, DONEs, retries, dead letters) still has room: a SUBMIT or
// BATCH is admitted while Redis's last reported used memory, plus what the requests admitted
// since that reading are reckoned to add, stays under SubmitLimitBytes. Readings come from
// Poll() (INFO memory, every kPollMs on a connection off the hot path). Without a
// maxmemory nothing is refused; that is said once, at the first reading.
// Thread: the reactor's. Owner: Broker::Run (BrokerContext::memory points to it).
class MemoryGuard {
 public:
  static constexpr int64_t kPollMs = 500;

  explicit MemoryGuard(uint32_t headroom_percent) : headroom_percent_(headroom_percent) {}

  // A new reading replaces the estimate of what was admitted since the last one.
  void OnReading(const MemoryReading& reading);
  // Asks Redis for a reading on `conn` unless one is in flight. `conn` must outlive the guard.
  void Poll(RedisConnection& conn);
  // Admits a request that would add `estimated_bytes`, or refuses it with store_full (and
  // counts the refusal).
  Result<void> Admit(uint64_t estimated_bytes);

  // True iff the last reading, with what was admitted since, is past the limit.
  bool full() const;
  uint64_t used_bytes() const { return reading_.used_bytes; }
  uint64_t max_bytes() const { return reading_.max_bytes; }
  uint64_t limit_bytes() const { return SubmitLimitBytes(reading_.max_bytes, headroom_percent_); }
  uint64_t refused() const { return refused_; }
  // For STATS: a line saying new tasks are refused and why, or "" while they are not.
  std::string Warning() const;

 private:
  Error FullError() const;

  uint32_t headroom_percent_;
  MemoryReading reading_;
  uint64_t admitted_since_reading_ = 0;  // bytes reckoned for requests admitted since it
  uint64_t refused_ = 0;                 // SUBMITs and BATCHes refused with store_full
  bool has_reading_ = false;             // true iff Redis answered at least once
  bool in_flight_ = false;               // true iff an INFO is awaiting its reply
  bool warned_no_limit_ = false;         // true iff the "no maxmemory" warning was logged
};

}  // namespace taskmill::broker
