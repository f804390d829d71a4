#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "taskmill/shared/error.h"

namespace taskmill::broker {

// What one client and all clients together may hold in this broker's memory at once. A
// client is its CURVE key when it has one (every connection of that key shares one quota,
// so opening more connections gets it nothing more), else one connection (a ROUTER
// identity; the totals bound what many connections hold). Past a quota a request gets over_limit naming the quota; a
// client that goes away or stops reading its replies loses everything it held
// (ClientService::DropPeer). Sized so the whole stays in the tens of MB: a pending WAIT id
// costs ~500 bytes (ids, pending set, index), a watched batch task ~150.
struct QuotaLimits {
  uint32_t waits_per_client = 64;           // WAITs pending at once
  uint64_t wait_ids_per_client = 50'000;    // task ids across them
  uint32_t waits_total = 4'096;             // every client's WAITs
  uint64_t wait_ids_total = 500'000;        // every client's ids
  uint32_t subscriptions_per_client = 256;  // batches one client subscribes to
  uint32_t subscriptions_total = 16'384;    // every client's subscriptions
  uint64_t watched_tasks_total = 1'000'000;  // tasks of every subscribed batch
};

// The WAIT and subscription bookkeeping behind QuotaLimits: counts per client and in total.
// Pure bookkeeping (no I/O): ClientService admits before it holds anything and releases when
// it lets go. Thread: the reactor thread. Owner: ClientService.
class ClientQuotas {
 public:
  explicit ClientQuotas(QuotaLimits limits = {}) : limits_(limits) {}

  // A message came from connection `identity` with ZAP user id `user_id` (its CURVE key,
  // "" without CURVE): the connection counts towards that key's quotas until
  // ForgetConnection (its client went away).
  void SeenConnection(const std::string& identity, const std::string& user_id);
  void ForgetConnection(const std::string& identity);
  // Every connection that shares `identity`'s quotas (itself included).
  std::vector<std::string> ConnectionsLike(const std::string& identity) const;

  // Admits a WAIT of `ids` ids from connection `identity` (counted against its client until
  // ReleaseWait, even past ForgetConnection), or over_limit naming the quota.
  Result<void> AdmitWait(const std::string& identity, uint64_t ids);
  void ReleaseWait(const std::string& identity, uint64_t ids);
  // A new subscription of a batch of `tasks` tasks, given what is held now (BatchEvents
  // keeps the subscriptions; this only judges them).
  Result<void> AdmitSubscription(uint64_t client_subscriptions, uint64_t total_subscriptions,
                                 uint64_t watched_tasks, uint64_t tasks);

  uint64_t waits() const { return waits_; }
  uint64_t wait_ids() const { return wait_ids_; }
  uint64_t refusals() const { return refusals_; }
  const QuotaLimits& limits() const { return limits_; }

 private:
  struct Held {
    uint32_t waits = 0;
    uint64_t ids = 0;
  };
  std::unexpected<Error> Refuse(std::string what);
  // The client `identity` counts as: "k" + its CURVE key, or "c" + the connection.
  std::string ClientOf(const std::string& identity) const;

  QuotaLimits limits_;
  std::unordered_map<std::string, Held> by_client_;  // clients holding at least one WAIT
  // Connections holding WAITs -> (their client, how many WAITs), so a WAIT is released
  // against the client it was admitted for.
  std::unordered_map<std::string, std::pair<std::string, uint32_t>> wait_client_;
  std::unordered_map<std::string, std::string> key_of_;  // connection -> its CURVE key
  std::unordered_map<std::string, std::unordered_set<std::string>>
      connections_of_;  // CURVE key -> its connections
  uint64_t waits_ = 0;                               // WAITs admitted and not released
  uint64_t wait_ids_ = 0;                            // their ids
  uint64_t refusals_ = 0;                            // requests refused by a quota
};

}  // namespace taskmill::broker
