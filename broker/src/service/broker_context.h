#pragma once

#include <cstdint>

#include "net/router_socket.h"
#include "service/authz.h"
#include "store/store.h"
#include "taskmill/broker/broker.h"
#include "taskmill/shared/clock.h"

namespace taskmill::broker {

class BatchEvents;
class BrokerMetrics;
class MemoryGuard;
class PeerWatch;
class SendBudget;
class RecentBatches;
class ClientService;
class WorkerService;

// Counters the broker keeps about itself (exported by STATS and, later, /metrics).
struct BrokerCounters {
  uint64_t bad_frames = 0;        // messages refused by the decoder or as out of place
  uint64_t stale_results = 0;     // DONEs fenced off by the store
  uint64_t tasks_dispatched = 0;  // TASK messages sent
  uint64_t workers_lost = 0;      // workers declared dead by missed heartbeats
  uint64_t peers_dropped = 0;     // clients whose WAITs and subscriptions were dropped (gone,
                                  // or not reading their replies)
  uint64_t forbidden = 0;         // requests and READYs refused for their key's role or binding
  uint64_t unregistered = 0;      // DONEs and PROGRESS from connections that never sent READY
  uint64_t stale_progress = 0;    // PROGRESS of an attempt the sender does not hold (token)
  uint64_t wrong_port = 0;        // client requests on the worker port and worker messages on
                                  // the client port (also in bad_frames), each answered
};

// What the two services share: configuration, time, the store, the sockets, each other.
// Lives on the reactor thread for the whole of Broker::Run; owns nothing.
struct BrokerContext {
  const BrokerOptions& options;
  const Clock& clock;
  RedisConnection& redis;
  Store& store;
  RouterSocket& frontend;
  RouterSocket& backend;
  ClientService* clients = nullptr;
  WorkerService* workers = nullptr;
  BatchEvents* events = nullptr;
  BrokerCounters counters;
  AccessPolicy access;  // who may do what (default: no CURVE, everyone everything)
  BrokerMetrics* metrics = nullptr;  // histograms fed on the claim and finish paths; may be null
  // The connection for expensive reads (STATS, GET, WAIT, batch status), so they queue
  // behind each other and never in front of SUBMITs, claims and DONEs; null: `store`.
  Store* read_store = nullptr;
  // Which clients are still connected (null: unknown, assume connected).
  PeerWatch* client_peers = nullptr;
  // Bytes queued for clients that do not read them (null: not bounded).
  const SendBudget* client_budget = nullptr;
  // Batches seen changing, for the dashboard's list (null: not kept).
  RecentBatches* recent_batches = nullptr;
  // Refuses new tasks with store_full while Redis is near its maxmemory (null: never).
  MemoryGuard* memory = nullptr;
};

}  // namespace taskmill::broker
