#include <algorithm>
#include <string>
#include <tuple>
#include <utility>

#include "taskmill/broker/broker.h"
#include "taskmill/shared/http_server.h"
#include "taskmill/shared/protocol/codec.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::broker {
namespace {
// The decoder's fixed limits (protocol::DecodeLimits): a payload is one bin, a SUBMIT's
// tasks one array.
constexpr uint64_t kMaxPayloadCeiling = protocol::kMaxPayloadCeiling;
// A batch's status lists every task in one map (name -> id) in the BATCH, GET and SUBSCRIBE
// replies; every decoder (C++, Python, Node) reads at most max_map entries in one map, so a
// larger batch would make those replies unreadable: refused at startup instead.
constexpr uint32_t kMaxBatchTasksCeiling = protocol::DecodeLimits{}.max_map;
// Room in a frame for everything but the payload or the result.
constexpr uint64_t kFrameHeadroom = 64u << 10;
}  // namespace

uint32_t BrokerOptions::EffectiveLeaseMs() const {
  if (lease_ms != 0) return lease_ms;
  return std::max<uint32_t>(10000, 5 * liveness * heartbeat_ms);
}

void RegisterFlags(FlagSet& f, BrokerOptions& o) {
  f.String("frontend", &o.frontend, "client endpoint to bind");
  f.String("backend", &o.backend, "worker endpoint to bind");
  f.String("redis-url", &o.redis_url,
           "external Redis: redis://[:password@]host:port/db, unix:///path or "
           "redis+sentinel://host:port[,host:port...]/master[/db] (Sentinel finds the master "
           "and follows failovers); empty starts an embedded redis-server");
  f.String("redis-password-file", &o.redis_password_file, "file holding the Redis password");
  f.String("redis-sentinel-password-file", &o.redis_sentinel_password_file,
           "file holding the Sentinels' password (redis+sentinel:// only)");
  f.Uint32("redis-min-replicas", &o.redis_min_replicas, 0, 16,
           "acknowledge a submit or a result only after Redis WAIT confirms this many "
           "replicas have it (one WAIT per reactor turn); 0: the primary alone");
  f.Uint32("redis-min-replicas-timeout-ms", &o.redis_min_replicas_timeout_ms, 10, 60000,
           "how long one such WAIT may take; short of replicas, the replies it covers fail "
           "with store_unavailable (retryable)");
  f.String("data-dir", &o.data_dir, "directory for the embedded Redis's data");
  f.String("redis-server", &o.redis_server, "redis-server binary for the embedded Redis");
  f.Uint32("redis-maxmemory-mb", &o.redis_maxmemory_mb, 0, 1u << 22,
           "the embedded Redis's maxmemory in MiB, with noeviction: a full Redis refuses "
           "submits with store_full and drops nothing (0: auto, half of this machine's or its "
           "cgroup's memory)");
  f.Uint32("store-full-headroom-percent", &o.store_full_headroom_percent, 1, 90,
           "share of Redis's maxmemory kept for the tasks already accepted (DONEs, retries, "
           "dead letters): new submits get store_full once used memory is within it");
  f.String("prefix", &o.prefix, "prefix of every Redis key");
  f.String("broker-id", &o.broker_id,
           "this broker's id among the brokers sharing one Redis (default: hostname:pid)");
  f.Uint32("heartbeat-ms", &o.heartbeat_ms, 50, 60000, "heartbeat interval in ms");
  f.Uint32("liveness", &o.liveness, 1, 100, "missed heartbeats before a worker is dead");
  f.Uint32("lease-ms", &o.lease_ms, 0, 24u * 3600 * 1000,
           "task lease in ms, extended by heartbeats (0: 5 x liveness x heartbeat, >= 10 s)");
  f.Uint("max-frame-bytes", &o.max_frame_bytes, 1024, 1ull << 30,
         "largest frame accepted (a bigger one drops the connection); at least "
         "--max-payload-bytes and --max-output-bytes plus 64 KiB");
  f.Uint32("drain-grace-ms", &o.drain_grace_ms, 0, 3600u * 1000,
           "on SIGTERM, the longest the hand-off waits for Redis to answer what this broker "
           "already sent it before GOAWAY to clients and MOVE to workers (at most 2000)");
  f.Uint32("promote-ms", &o.promote_ms, 1, 60000, "how often due delayed tasks are promoted");
  f.Uint32("reap-ms", &o.reap_ms, 10, 600000, "how often expired leases are reaped");
  f.Uint32("sweep-ms", &o.sweep_ms, 100, 600000,
           "how often batch subscriptions are checked for batches finished elsewhere and "
           "subscribers gone");
  f.Duration("schedule-grace", &o.schedule_grace_ms, 100, 3600u * 1000,
             "a schedule's tick later than this (it fell while no broker ran) is missed and "
             "follows the schedule's catch-up policy (skip, or run once); e.g. 500ms, 5s, 1m");
  f.Duration("idempotency-ttl", &o.idempotency_ttl_ms, 1000, protocol::kMaxIdempotencyTtlMs,
             "how long an idempotency key (and a request_id) dedupes its resubmits when the "
             "task sets no idempotency_ttl_ms of its own (1s to 720h, 30 days); e.g. 1h, 168h");
  f.Uint32("retention-hours", &o.retention_hours, 0, 24u * 365 * 10,
           "how long finished tasks stay readable (0: forever)");
  f.Uint("max-finished-per-queue", &o.max_finished_per_queue, 0, 1ull << 40,
         "succeeded and cancelled tasks one queue keeps within the retention; past it the "
         "oldest finished are deleted (0: no count cap)");
  f.Uint("max-queue-depth", &o.max_queue_depth, 0, 1ull << 40,
         "waiting tasks (queued + delayed + blocked) a queue may hold; a submit or batch "
         "that would pass it is refused whole with queue_full (0: no cap)");
  f.Uint("max-payload-bytes", &o.max_payload_bytes, 0, kMaxPayloadCeiling,
         "largest task payload accepted, in bytes (invalid_argument past it)");
  f.Uint32("max-batch-tasks", &o.max_batch_tasks, 1, kMaxBatchTasksCeiling,
           "most tasks in one submit or batch (invalid_argument past it)");
  f.Uint("max-output-bytes", &o.max_output_bytes, 1024, 1ull << 30,
         "largest result a worker may report per task (output + stdout + stderr); a bigger "
         "one fails the attempt with output_too_large");
  f.Uint("max-label-bytes", &o.max_label_bytes, 0, protocol::kMaxLabelBytesCeiling,
         "largest labels (keys + values) of one task, batch labels included, or of one "
         "worker's READY; task labels also count against --max-payload-bytes");
  f.Uint32("max-batch-edges", &o.max_batch_edges, 0, 10'000'000,
           "most dependency edges (depends_on entries over all its tasks) in one batch");
  f.Uint32("max-workers", &o.max_workers, 1, 1'000'000,
           "most workers registered at once; a READY from a new connection past it is "
           "refused");
  f.Uint32("max-worker-claim-keys", &o.max_worker_claim_keys, 1, 32768,
           "most queues x task types one worker may serve (its claim reads one ready set "
           "per pair); a READY past it is refused");
  f.Uint32("max-waits-per-client", &o.max_waits_per_client, 1, 1'000'000,
           "WAITs one client (its CURVE key over all its connections, else one connection) "
           "may have pending; past it a WAIT gets over_limit");
  f.Uint("max-wait-ids-per-client", &o.max_wait_ids_per_client, 1, 1'000'000'000,
         "task ids one client's pending WAITs may hold");
  f.Uint32("max-waits-total", &o.max_waits_total, 1, 100'000'000,
           "WAITs every client together may have pending");
  f.Uint("max-wait-ids-total", &o.max_wait_ids_total, 1, 10'000'000'000ull,
         "task ids every client's pending WAITs together may hold");
  f.Uint32("max-subscriptions-per-client", &o.max_subscriptions_per_client, 1, 1'000'000,
           "batches one client may subscribe to at once");
  f.Uint32("max-subscriptions-total", &o.max_subscriptions_total, 1, 100'000'000,
           "batch subscriptions every client together may hold");
  f.Uint("max-watched-tasks-total", &o.max_watched_tasks_total, 1, 10'000'000'000ull,
         "tasks of every subscribed batch together");
  f.Uint("max-queued-bytes-per-client", &o.max_queued_bytes_per_client, 0, 1ull << 40,
         "bytes of replies and events queued for one client connection that does not read "
         "them; past it (and its socket full) they are dropped and the connection is cut "
         "(0: no cap)");
  f.Uint("max-queued-bytes-total", &o.max_queued_bytes_total, 0, 1ull << 44,
         "bytes queued for every client connection together (0: no cap)");
  f.String("curve-secret-key-file", &o.curve_secret_key_file,
           "CURVE: the broker's key file (taskmill keygen); needs --curve-allow-dir");
  f.String("curve-allow-dir", &o.curve_allow_dir,
           "CURVE: directory of the *.pub files of allowed clients: submit, and read their "
           "own tasks (SIGHUP re-reads the role directories)");
  f.String("curve-worker-allow-dir", &o.curve_worker_allow_dir,
           "CURVE: directory of the *.pub files of the keys that may register as workers "
           "(unset: no worker can register)");
  f.String("curve-admin-allow-dir", &o.curve_admin_allow_dir,
           "CURVE: directory of the *.pub files of admin keys: DLQ, and every client's tasks "
           "and batches (unset: no admin)");
  f.Choice("curve-roles", &o.curve_roles, {"split", "shared"},
           "CURVE: split: each role only from its own directory; shared (upgrades, unsafe): "
           "the keys of --curve-allow-dir are also workers and admins where no role directory "
           "is given");
  f.String("ready-file", &o.ready_file, "write the bound endpoints here once serving");
  f.String("http", &o.http,
           "HOST:PORT of the HTTP listener (/healthz, /readyz, /metrics, the dashboard at / "
           "and its /api); port 0 picks a free "
           "port (written to --ready-file); off: none");
  f.String("http-token-file", &o.http_token_file,
           "file holding the dashboard's admin token (Authorization: Bearer): retry, purge "
           "and cancel over HTTP; unset: the dashboard is read-only");
  f.String("http-read-token-file", &o.http_read_token_file,
           "file holding a token for reading tasks, batches and dead letters over HTTP "
           "(needed with CURVE on; without CURVE, reads are open unless this is set)");
  f.Choice("log-level", &o.log_level, {"trace", "debug", "info", "warn", "error", "off"},
           "log level");
}

Result<void> Validate(const BrokerOptions& o) {
  auto endpoint_ok = [](const std::string& e) {
    return e.rfind("tcp://", 0) == 0 || e.rfind("ipc://", 0) == 0 || e.rfind("inproc://", 0) == 0;
  };
  if (!endpoint_ok(o.frontend)) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "--frontend: '" + o.frontend + "' is not a tcp://, ipc:// or inproc:// endpoint");
  }
  if (!endpoint_ok(o.backend)) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "--backend: '" + o.backend + "' is not a tcp://, ipc:// or inproc:// endpoint");
  }
  if (o.frontend == o.backend && o.frontend.find('*') == std::string::npos) {
    return MakeError(ErrorCode::kInvalidArgument, "--frontend and --backend must differ");
  }
  if (o.redis_url.empty() && o.data_dir.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "--data-dir: must be set when no --redis-url is given");
  }
  if (!o.redis_sentinel_password_file.empty() && !o.redis_url.starts_with("redis+sentinel://")) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "--redis-sentinel-password-file: only with a redis+sentinel:// --redis-url");
  }
  if (o.redis_min_replicas != 0 && o.redis_url.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "--redis-min-replicas: the embedded Redis has no replicas (use --redis-url)");
  }
  if (!o.redis_url.empty() && o.redis_maxmemory_mb != 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "--redis-maxmemory-mb: only for the embedded Redis (with --redis-url, set "
                     "maxmemory and maxmemory-policy noeviction on that Redis)");
  }
  if (o.prefix.empty() || o.prefix.size() > 128) {
    return MakeError(ErrorCode::kInvalidArgument, "--prefix: must be 1 to 128 characters");
  }
  if (o.broker_id.size() > 128 ||
      std::any_of(o.broker_id.begin(), o.broker_id.end(),
                  [](unsigned char c) { return c <= ' ' || c >= 0x7f; })) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "--broker-id: must be 1 to 128 printable ASCII characters, no spaces");
  }
  // A frame must hold the largest payload (SUBMIT) and result (DONE) plus the rest of the
  // message; a frame over the cap drops the connection instead of getting a clear error.
  for (auto [flag, bytes] : {std::pair{"--max-payload-bytes", o.max_payload_bytes},
                             std::pair{"--max-output-bytes", o.max_output_bytes}}) {
    if (o.max_frame_bytes < bytes + kFrameHeadroom) {
      return MakeError(ErrorCode::kInvalidArgument,
                       std::string("--max-frame-bytes: ") + std::to_string(o.max_frame_bytes) +
                           " cannot carry " + flag + " " + std::to_string(bytes) +
                           " (allowed: at least " + std::to_string(bytes + kFrameHeadroom) +
                           ", the cap plus 64 KiB)");
    }
  }
  if (o.lease_ms != 0 && o.lease_ms <= o.liveness * o.heartbeat_ms) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "--lease-ms: must be longer than liveness x heartbeat-ms (" +
                         std::to_string(o.liveness * o.heartbeat_ms) + ")");
  }
  if (auto http = ParseHttpAddress(o.http, "--http"); !http) return std::unexpected(http.error());
  for (auto [flag, per, total] :
       {std::tuple{"--max-waits-per-client", uint64_t{o.max_waits_per_client},
                   uint64_t{o.max_waits_total}},
        std::tuple{"--max-wait-ids-per-client", o.max_wait_ids_per_client, o.max_wait_ids_total},
        std::tuple{"--max-subscriptions-per-client", uint64_t{o.max_subscriptions_per_client},
                   uint64_t{o.max_subscriptions_total}},
        std::tuple{"--max-queued-bytes-per-client",
                   o.max_queued_bytes_total == 0 ? 0 : o.max_queued_bytes_per_client,
                   o.max_queued_bytes_total}}) {
    if (per > total) {
      return MakeError(ErrorCode::kInvalidArgument,
                       std::string(flag) + ": " + std::to_string(per) +
                           " is over its total (" + std::to_string(total) + ")");
    }
  }
  if (o.curve_secret_key_file.empty() != o.curve_allow_dir.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     o.curve_secret_key_file.empty()
                         ? "--curve-allow-dir: needs --curve-secret-key-file too (CURVE takes "
                           "both, or neither for no CURVE)"
                         : "--curve-secret-key-file: needs --curve-allow-dir too (CURVE takes "
                           "both, or neither for no CURVE)");
  }
  for (auto [flag, dir] : {std::pair{"--curve-worker-allow-dir", &o.curve_worker_allow_dir},
                           std::pair{"--curve-admin-allow-dir", &o.curve_admin_allow_dir}}) {
    if (!dir->empty() && o.curve_secret_key_file.empty()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       std::string(flag) +
                           ": roles need CURVE (--curve-secret-key-file and --curve-allow-dir)");
    }
  }
  if (o.curve_roles == "shared" && o.curve_secret_key_file.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "--curve-roles: roles need CURVE (--curve-secret-key-file and "
                     "--curve-allow-dir); without CURVE everyone is trusted anyway");
  }
  return {};
}

}  // namespace taskmill::broker
