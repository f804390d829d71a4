#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "taskmill/shared/clock.h"
#include "taskmill/shared/error.h"
#include "taskmill/shared/flags.h"

namespace taskmill::broker {

// Everything a broker is configured by. Filled from defaults, TASKMILL_* variables and
// flags (RegisterFlags), validated once (Validate), then passed by const reference.
struct BrokerOptions {
  // Client endpoint (ROUTER).
  std::string frontend = "tcp://127.0.0.1:5555";
  // Worker endpoint (ROUTER).
  std::string backend = "tcp://127.0.0.1:5556";
  // Redis to use: redis://[:password@]host:port/db, unix:///path or
  // redis+sentinel://host:port[,host:port...]/master[/db]. Empty: start an embedded
  // redis-server with its data in <data_dir>/redis.
  std::string redis_url;
  // File holding the Redis password (instead of putting it in the URL).
  std::string redis_password_file;
  // File holding the Sentinels' password (redis+sentinel:// only); empty: no AUTH to them.
  std::string redis_sentinel_password_file;
  // Acknowledge a submit or a result only once Redis WAIT confirms this many replicas have
  // it (0: acknowledge once the primary has it). --redis-url only.
  uint32_t redis_min_replicas = 0;
  // How long one such WAIT may take before the replies it covers fail (store_unavailable).
  uint32_t redis_min_replicas_timeout_ms = 1000;
  // Where the embedded Redis keeps its AOF and socket.
  std::string data_dir = "taskmill-data";
  // The redis-server binary for the embedded Redis.
  std::string redis_server = "redis-server";
  // The embedded Redis's maxmemory in MiB (always with maxmemory-policy noeviction: a full
  // Redis refuses writes, store_full, and never drops a task); 0: no limit.
  uint32_t redis_maxmemory_mb = 0;
  // The share of Redis's maxmemory kept for the tasks already accepted (their claims, DONEs
  // and results, retries, dead letters): once used memory is within it, new SUBMITs and
  // BATCHes are refused with store_full (MemoryGuard). Any Redis with a maxmemory, embedded
  // or not; without one nothing is refused.
  uint32_t store_full_headroom_percent = 10;
  // Prefix of every Redis key.
  std::string prefix = "tm:";
  // This broker's id among the brokers sharing one Redis (registry, cross-broker events);
  // empty: hostname:pid. Printable ASCII without spaces, 1 to 128 bytes.
  std::string broker_id;
  // Heartbeat interval, both directions.
  uint32_t heartbeat_ms = 1000;
  // Missed heartbeats before a worker counts as dead and its tasks are re-queued.
  uint32_t liveness = 3;
  // Lease on a claimed task; worker heartbeats extend it. It bounds how long a task stays
  // with a broker that died. 0: 5 x liveness x heartbeat_ms, at least 10 s.
  uint32_t lease_ms = 0;
  // Largest frame accepted from a peer; larger ones drop the connection.
  uint64_t max_frame_bytes = 16u << 20;
  // On SIGTERM: how long workers get to finish their tasks before the broker exits.
  uint32_t drain_grace_ms = 30000;
  // How often due delayed tasks are promoted and expired leases reaped.
  uint32_t promote_ms = 50;
  uint32_t reap_ms = 1000;
  // How often batch subscriptions are swept (see BatchEvents::OnSweepTick).
  uint32_t sweep_ms = 10000;
  // Schedules: a tick more than this late (it fell while no broker ran) is missed, and its
  // schedule's catch_up decides (skip, or run once). --schedule-grace (250ms, 5s, 1m...).
  uint64_t schedule_grace_ms = 5000;
  // How long an idempotency key (and a request_id) dedupes when its task sets no
  // idempotency_ttl_ms of its own. --idempotency-ttl (1s .. 720h).
  uint64_t idempotency_ttl_ms = 24ull * 3600 * 1000;
  // How long finished tasks stay readable, in hours (0: forever).
  uint32_t retention_hours = 24 * 7;
  // Succeeded and cancelled tasks one queue keeps besides the retention; past it the oldest
  // finished go first (running, waiting and dead-lettered tasks never). 0: no count cap.
  uint64_t max_finished_per_queue = 100000;
  // Waiting tasks (queued + delayed + blocked) one queue may hold; a SUBMIT or BATCH that
  // would go past it is refused whole with queue_full (0: no cap).
  uint64_t max_queue_depth = 0;
  // Largest task payload accepted (invalid_argument past it); at most the decoder's max_bin.
  uint64_t max_payload_bytes = 8u << 20;
  // Most tasks in one SUBMIT or BATCH (invalid_argument past it).
  uint32_t max_batch_tasks = 10000;
  // Largest result a worker may report in one DONE: output + stdout + stderr. An attempt
  // over it is recorded as failed (output_too_large, not retryable), its result dropped.
  uint64_t max_output_bytes = 8u << 20;
  // Bytes of one task's labels (keys + values, batch labels included) or of one worker's
  // READY labels; task labels also count against max_payload_bytes.
  uint64_t max_label_bytes = 64u << 10;
  // Dependency edges (depends_on entries summed over its tasks) one BATCH may declare.
  uint32_t max_batch_edges = 100000;
  // Workers registered at once; a READY from a new connection past it is refused.
  uint32_t max_workers = 10000;
  // A worker's claim cost: its queues x task types (x 1 when it names no types); a READY
  // past it is refused (each claim reads one ready set per pair).
  uint32_t max_worker_claim_keys = 1024;
  // What one client and all clients together may hold in the broker (docs/protocol.md 4.2).
  // A client is its CURVE key (over all its connections), or one connection without CURVE.
  uint32_t max_waits_per_client = 64;              // WAITs pending at once
  uint64_t max_wait_ids_per_client = 50'000;       // task ids across them
  uint32_t max_waits_total = 4'096;                // every client's WAITs
  uint64_t max_wait_ids_total = 500'000;           // every client's ids
  uint32_t max_subscriptions_per_client = 256;     // batches one client subscribes to
  uint32_t max_subscriptions_total = 16'384;       // every client's subscriptions
  uint64_t max_watched_tasks_total = 1'000'000;    // tasks of every subscribed batch
  // Bytes of replies and events queued for one client connection that does not read them,
  // and for all of them (0: no cap, only the send high-water mark of 100,000 messages).
  uint64_t max_queued_bytes_per_client = 64u << 20;
  uint64_t max_queued_bytes_total = 512u << 20;
  // CURVE (docs/security.md): the broker's key file (from `taskmill keygen`), and the
  // directory of *.pub files of the clients and workers allowed to connect. Both or
  // neither; empty: plain ZeroMQ, anyone who can reach the ports may connect.
  std::string curve_secret_key_file;
  std::string curve_allow_dir;
  // CURVE roles (docs/security.md, "Roles"): directories of the *.pub files of the keys that
  // may register as workers, and of the keys that may administer (DLQ, every client's tasks).
  // Unset: no key has that role (unless curve_roles is "shared").
  std::string curve_worker_allow_dir;
  std::string curve_admin_allow_dir;
  // "split": each role only from its own directory. "shared": the escape hatch for the
  // one-list setup of before roles: the keys of curve_allow_dir are also workers (without
  // curve_worker_allow_dir) and admins (without curve_admin_allow_dir), warned at startup
  // and in STATS.
  std::string curve_roles = "split";
  // Write the bound endpoints here once serving ("frontend=...\nbackend=...\nhttp=...\n").
  std::string ready_file;
  // HTTP listener for /healthz, /readyz and /metrics (docs/observability.md): HOST:PORT,
  // [IPv6]:PORT, port 0 for a free port, or "off".
  std::string http = "127.0.0.1:9464";
  // Dashboard tokens (docs/security.md, "HTTP tokens"): files holding one bearer token each.
  // The admin token allows retry, purge and cancel over HTTP (empty: the dashboard is
  // read-only); the read token allows reading tasks, batches and dead letters, which needs
  // a token when CURVE is on or a read token is set.
  std::string http_token_file;
  std::string http_read_token_file;
  std::string log_level = "info";

  uint32_t EffectiveLeaseMs() const;
};

// Adds every broker flag to `flags`, each writing into `options`.
void RegisterFlags(FlagSet& flags, BrokerOptions& options);
// Checks what flags cannot check one by one; the message names the flag.
Result<void> Validate(const BrokerOptions& options);

class BrokerRuntime;

// The broker process: binds the client and worker sockets, connects the store (starting
// an embedded Redis when no URL is given) and runs the reactor until stopped.
// Lifecycle: construct, Run() (blocks), destroy. Stop() may be called from any thread
// or a signal-handling thread; SIGTERM/SIGINT (stop) and SIGHUP (reload the CURVE
// allow-list) are handled when the caller blocked them before starting any thread (main
// does), through a signalfd.
// Thread: Run() makes the calling thread the reactor thread.
class Broker {
 public:
  explicit Broker(BrokerOptions options, const Clock& clock = SystemClock::Instance());
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Serves until stopped; an error only for startup failures (bind, Redis, data dir).
  Result<void> Run();
  // Asks Run() to drain and return. Thread-safe.
  void Stop();

 private:
  BrokerOptions options_;
  const Clock& clock_;
  int stop_fd_ = -1;  // eventfd written by Stop()
};

}  // namespace taskmill::broker
