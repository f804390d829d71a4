#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "cluster/broker_directory.h"
#include "cluster/cluster_bus.h"
#include "dispatch/worker_registry.h"
#include "http/broker_http.h"
#include "http/reactor_inbox.h"
#include "lifecycle/task_lifecycle.h"
#include "metrics/broker_counters.h"
#include "metrics/broker_metrics.h"
#include "metrics/reactor_board.h"
#include "metrics/store_reader.h"
#include "net/peer_watch.h"
#include "net/router_socket.h"
#include "net/send_budget.h"
#include "net/zap_handler.h"
#include "redis/data_dir_lock.h"
#include "redis/embedded_redis.h"
#include "redis/redis_connection.h"
#include "redis/replica_gate.h"
#include "schedule/schedule_ticker.h"
#include "service/batch_events.h"
#include "service/broker_context.h"
#include "service/client_service.h"
#include "service/memory_guard.h"
#include "service/worker_service.h"
#include "store/store.h"
#include "store/store_layout.h"
#include "taskmill/broker/broker.h"

namespace taskmill::broker {

// Everything one Broker::Run builds, and the steps that build, serve and stop it, in order:
//   OpenStore -> OpenSockets -> StartHttp -> BuildLayers -> AwaitRedis -> Announce ->
//   ScheduleTimers -> Turn() until it returns false -> Shutdown.
// Members are declared in build order, so they are destroyed in reverse (the sockets before
// the ZeroMQ context, the stores before their connections, the data-dir lock last).
// Thread: the thread that called Broker::Run (the reactor). Owner: Broker::Run, on its stack.
class BrokerRuntime {
 public:
  BrokerRuntime(const BrokerOptions& options, const Clock& clock, int stop_fd);
  ~BrokerRuntime();
  BrokerRuntime(const BrokerRuntime&) = delete;
  BrokerRuntime& operator=(const BrokerRuntime&) = delete;

  // Redis (embedded or --redis-url), its layout checked, the two connections and stores.
  Result<void> OpenStore();
  // The client and worker ROUTERs (CURVE servers with a key file), bound; peer watch, budget.
  Result<void> OpenSockets();
  // Metrics, the reactor board and the HTTP listener (--http).
  Result<void> StartHttp();
  // The layers, bottom up: lifecycle over the store, its subscribers, the protocol adapters.
  void BuildLayers();
  // Waits up to 5 s for each Redis connection, so the first requests do not bounce.
  void AwaitRedis();
  // The --ready-file and the "serving" log lines.
  void Announce();
  // The periodic jobs: heartbeats, promote, reap, idle re-claims, WAIT re-reads, sweeps...
  void ScheduleTimers();
  // One reactor turn: poll, Redis replies, signals and stop requests, messages, timers, the
  // turn's end. False once a stop has finished draining (or the late layout check failed).
  bool Turn();
  // Lets the last results reach Redis, closes everything; the late layout check's error.
  Result<void> Shutdown();

 private:
  // A periodic job on the reactor thread.
  struct Periodic {
    int64_t interval_ms;
    int64_t next_ms;
    std::function<void()> run;
  };

  // Reads the stop eventfd and the signalfd (SIGHUP reloads, the others stop); starts or
  // cuts short the drain.
  void HandleStopAndSignals(bool stop_polled, bool signal_polled);
  void ReadClients();
  void ReadWorkers();
  void Publish();
  // This broker's registry entry (BrokerDirectory) as of now.
  BrokerEntry SelfEntry() const;
  // The end of a SIGTERM hand-off: GOAWAY to every client connected (or that asked for
  // something during the hand-off), MOVE to every worker. Their tasks keep their leases.
  void HandOff();

  const BrokerOptions& o_;
  const Clock& clock_;
  int stop_fd_;         // Broker's eventfd, written by Broker::Stop
  int signal_fd_ = -1;  // SIGTERM/SIGINT/SIGHUP, -1 if none

  // ---- store ----
  std::optional<DataDirLock> data_dir_lock_;  // before embedded_: released after it
  std::optional<EmbeddedRedis> embedded_;
  RedisConfig redis_config_;
  std::atomic<bool> layout_checked_{false};
  const std::atomic<bool>* store_gate_ = &layout_checked_;  // stores open while *gate is true
  std::unique_ptr<LayoutCheckThread> layout_later_;  // repeats the check Redis refused at start
  StoreOptions store_options_;
  // Before the connections it reads through, so it outlives their callbacks.
  MemoryGuard memory_;
  // HTTP threads' writes run on the reactor (a webhook's completion); before the connections
  // and layers whose callbacks answer its calls, and closed before the HTTP server stops.
  ReactorInbox inbox_;
  // --redis-min-replicas: holds both connections' replies until WAIT; before them, so it
  // outlives their callbacks.
  std::optional<ReplicaGate> replica_gate_;
  std::optional<RedisConnection> redis_;  // SUBMITs, claims, DONEs: every state change
  std::optional<Store> store_;
  std::optional<RedisConnection> reads_;  // expensive reads, one call in flight
  std::optional<Store> read_store_;
  std::optional<RedisConnection> bus_conn_;  // subscriber mode: the cluster bus (ClusterBus)

  // ---- sockets ----
  zmq::context_t zmq_ctx_{1};
  std::optional<RouterSocket> frontend_;
  std::optional<RouterSocket> backend_;
  std::unique_ptr<ZapHandler> zap_;  // null without CURVE
  std::optional<PeerWatch> client_peers_;
  std::optional<SendBudget> client_budget_;

  // ---- observability ----
  std::optional<BrokerMetrics> metrics_;
  ReactorBoard board_;
  std::optional<StoreReader> reader_;
  std::optional<BrokerHttp> http_;
  std::string http_address_ = "off";
  bool admin_http_ = false;        // true iff --http-token-file gave an admin token
  bool reads_need_token_ = false;  // true iff reading tasks over HTTP needs a token

  // ---- layers ----
  RecentBatches recent_batches_;
  BrokerCounters counters_;
  WorkerRegistry registry_;
  std::optional<BatchEvents> events_;
  std::string broker_id_;  // --broker-id, or hostname:pid
  int64_t started_wall_ms_ = 0;
  std::optional<ClusterBus> bus_;
  std::optional<BrokerDirectory> directory_;
  std::optional<TaskLifecycle> lifecycle_;
  std::optional<BrokerContext> ctx_;
  std::optional<ClientService> clients_;
  std::optional<WorkerService> workers_;
  std::optional<ScheduleTicker> ticker_;  // periodic tasks: claims due ticks (every broker)

  // ---- the loop ----
  std::vector<Periodic> timers_;
  bool stopping_ = false;                // true once a stop was asked for
  int64_t drain_deadline_ = 0;           // monotonic ms when the stop gives up waiting
  // A stop by signal or Broker::Stop hands off (docs/reliability.md): no new requests or
  // READYs, this turn's Redis calls answered, then GOAWAY + MOVE and exit. Those who asked
  // for something meanwhile get GOAWAY with the rest (their requests are resent elsewhere).
  bool handing_off_ = false;
  std::unordered_set<std::string> handoff_clients_;
  std::optional<Error> layout_failure_;  // the late layout check failed: stop and report it
  Inbound in_;                           // the message being read (reused)
};

}  // namespace taskmill::broker
