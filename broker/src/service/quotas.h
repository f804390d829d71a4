#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "taskmill/shared/error.h"

namespace taskmill::broker {

// What one client (a ROUTER identity: one connection) and all clients together may hold in
// this broker's memory at once. Past a quota a request gets over_limit naming the quota; a
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

  // Admits a WAIT of `ids` ids (counted until ReleaseWait), or over_limit naming the quota.
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

  QuotaLimits limits_;
  std::unordered_map<std::string, Held> by_client_;  // clients holding at least one WAIT
  uint64_t waits_ = 0;                               // WAITs admitted and not released
  uint64_t wait_ids_ = 0;                            // their ids
  uint64_t refusals_ = 0;                            // requests refused by a quota
};

}  // namespace taskmill::broker
