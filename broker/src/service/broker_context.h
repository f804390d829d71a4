#pragma once

#include <cstdint>

#include "net/router_socket.h"
#include "store/store.h"
#include "taskmill/broker/broker.h"
#include "taskmill/shared/clock.h"

namespace taskmill::broker {

class BatchEvents;
class BrokerMetrics;
class ClientService;
class WorkerService;

// Counters the broker keeps about itself (exported by STATS and, later, /metrics).
struct BrokerCounters {
  uint64_t bad_frames = 0;        // messages refused by the decoder or as out of place
  uint64_t stale_results = 0;     // DONEs fenced off by the store
  uint64_t tasks_dispatched = 0;  // TASK messages sent
  uint64_t workers_lost = 0;      // workers declared dead by missed heartbeats
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
  BrokerMetrics* metrics = nullptr;  // histograms fed on the claim and finish paths; may be null
};

}  // namespace taskmill::broker
