#pragma once

#include "metrics/broker_counters.h"
#include "net/router_socket.h"
#include "service/authz.h"
#include "store/store.h"
#include "taskmill/broker/broker.h"
#include "taskmill/shared/clock.h"

namespace taskmill::broker {

class BatchEvents;
class BrokerDirectory;
class ClusterBus;
class MemoryGuard;
class PeerWatch;
class SendBudget;
class RecentBatches;
class TaskLifecycle;
class WorkerRegistry;

// What the protocol adapters (ClientService, WorkerService) share: configuration, time, the
// sockets, the lifecycle layer and the state both sides read. Every member is built before
// the context and outlives it: no back-pointers, nothing null, nothing wired later.
// Lives on the reactor thread for the whole of Broker::Run; owns nothing.
struct BrokerContext {
  const BrokerOptions& options;
  const Clock& clock;
  RedisConnection& redis;
  // Reads and admin verbs the lifecycle layer does not own (GET, batch status, STATS, DLQ
  // list and purge, worker bindings).
  Store& store;
  // The connection for expensive reads (STATS, GET, WAIT, batch status), so they queue
  // behind each other and never in front of SUBMITs, claims and DONEs.
  Store& read_store;
  RouterSocket& frontend;
  RouterSocket& backend;
  BrokerCounters& counters;
  AccessPolicy access;       // who may do what (default: no CURVE, everyone everything)
  TaskLifecycle& lifecycle;  // every task state transition goes through it
  BatchEvents& events;       // batch subscriptions (client side) and progress relay (worker)
  ClusterBus& bus;           // watches announced to, and outcomes sent to, other brokers
  const BrokerDirectory& directory;  // the live brokers and their workers (registry)
  WorkerRegistry& workers;   // registered workers: dispatch writes, STATS reads
  PeerWatch& client_peers;   // which clients are still connected
  const SendBudget& client_budget;  // bytes queued for clients that do not read them
  MemoryGuard& memory;  // refuses new tasks with store_full while Redis is near maxmemory
};

}  // namespace taskmill::broker
