#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_set>
#include <vector>

#include "redis/redis_connection.h"
#include "taskmill/shared/clock.h"
#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/types.h"

namespace taskmill::broker {

// One broker as the registry shows it (docs/architecture.md, "Brokers as one").
struct BrokerEntry {
  std::string id;
  std::string frontend;  // client endpoint
  std::string backend;   // worker endpoint
  std::string http;      // HOST:PORT or "off"
  int64_t started_ms = 0;  // wall clock
  std::string health;      // "serving" or "draining"
  std::vector<protocol::WorkerInfo> workers;  // its workers (WorkerInfo::broker = id)
};

// JSON of an entry as stored in Redis (readable with redis-cli), and back. Parsing refuses
// anything malformed or over kMaxEntryBytes (another broker, or anyone with Redis access,
// wrote it: it is not trusted).
std::string EncodeBrokerEntry(const BrokerEntry& e);
Result<BrokerEntry> DecodeBrokerEntry(std::string_view json);

// The registry of live brokers and their workers, in Redis: `<P>broker:<id>` (the entry's
// JSON, PX kTtlMs) and `<P>brokers` (a set of ids; an id whose entry has expired is removed
// by whoever reads it). Each broker rewrites its entry every kRefreshMs and reads everyone's,
// so a dead broker vanishes from every broker's view within kTtlMs + kRefreshMs.
// Thread: the reactor thread. Owner: BrokerRuntime.
class BrokerDirectory {
 public:
  static constexpr int64_t kRefreshMs = 1000;
  static constexpr int64_t kTtlMs = 3000;
  static constexpr size_t kMaxEntryBytes = 16u << 20;
  static constexpr size_t kMaxBrokers = 1000;
  static constexpr size_t kMaxLabelBytes = 4096;  // per worker; past it its labels are left out

  // `redis`: the broker's main connection (a few small commands a second).
  BrokerDirectory(std::string id, const std::string& prefix, RedisConnection& redis);

  // Writes `self` and reads every live entry (answered on a later turn).
  void Refresh(BrokerEntry self);
  // Removes this broker's entry (a clean stop).
  void Leave();
  // Called with the live broker ids whenever the set changes.
  void OnLiveChanged(std::function<void(const std::unordered_set<std::string>&)> cb) {
    on_live_changed_ = std::move(cb);
  }

  const std::string& id() const { return id_; }
  // Every live broker as last read, this one included, by id.
  const std::vector<BrokerEntry>& live() const { return live_; }
  // The workers of the other live brokers, by id.
  std::vector<protocol::WorkerInfo> OtherWorkers() const;

 private:
  void ReadAll();
  std::string Key(const std::string& id) const { return prefix_ + "broker:" + id; }

  std::string id_;
  std::string prefix_;
  std::string set_key_;
  RedisConnection& redis_;
  std::vector<BrokerEntry> live_;
  std::unordered_set<std::string> live_ids_;
  bool reading_ = false;  // a read is in flight: the next refresh does not start another
  std::function<void(const std::unordered_set<std::string>&)> on_live_changed_;
};

}  // namespace taskmill::broker
