#include "broker_setup.h"

#include <signal.h>
#include <sys/signalfd.h>

#include <filesystem>
#include <tuple>

#include "cluster/broker_directory.h"
#include "cluster/cluster_bus.h"
#include "redis/memory_limit.h"
#include "service/memory_guard.h"
#include "taskmill/shared/curve_keys.h"
#include "taskmill/shared/log.h"

namespace taskmill::broker {
namespace {

auto Log() {
  static auto log = Logger("broker");
  return log;
}

}  // namespace

Result<RedisConfig> StoreConfig(const BrokerOptions& o, std::optional<DataDirLock>& lock,
                                std::optional<EmbeddedRedis>& embedded) {
  if (!o.redis_url.empty()) {
    auto config = ParseRedisUrl(o.redis_url);
    if (!config) return config;
    if (!o.redis_password_file.empty()) {
      auto password = ReadPasswordFile(o.redis_password_file);
      if (!password) return std::unexpected(password.error());
      config->password = *password;
    }
    if (!o.redis_sentinel_password_file.empty()) {
      auto password = ReadPasswordFile(o.redis_sentinel_password_file);
      if (!password) {
        return MakeError(password.error().code,
                         "--redis-sentinel-password-file: " + password.error().message);
      }
      config->sentinel_password = *password;
    }
    return config;
  }
  std::error_code ec;
  std::filesystem::create_directories(o.data_dir, ec);
  if (ec) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "--data-dir: cannot create " + o.data_dir + ": " + ec.message());
  }
  // A second broker on this dir stops here at once, naming the first one's pid.
  auto locked = DataDirLock::Acquire(o.data_dir);
  if (!locked) return std::unexpected(locked.error());
  lock.emplace(std::move(*locked));
  EmbeddedRedisOptions eo;
  eo.data_dir = (std::filesystem::absolute(o.data_dir) / "redis").string();
  eo.server_path = o.redis_server;
  // Never an evicting policy: it would drop tasks silently (docs/security.md).
  eo.extra_args = {"--maxmemory-policy", "noeviction"};
  // 0 = auto: half of this machine's (or cgroup's) memory, never "no limit": a Redis that
  // grows until the kernel kills it loses what the AOF had not flushed.
  uint32_t maxmemory_mb =
      o.redis_maxmemory_mb != 0 ? o.redis_maxmemory_mb : AutoMaxmemoryMbHere();
  if (maxmemory_mb != 0) {
    eo.extra_args.insert(eo.extra_args.end(), {"--maxmemory", std::to_string(maxmemory_mb) + "mb"});
    Log()->info("embedded redis maxmemory {} MiB{}", maxmemory_mb,
                o.redis_maxmemory_mb == 0 ? " (auto: half of this machine's memory)" : "");
  }
  auto started = EmbeddedRedis::Start(std::move(eo));
  if (!started) return std::unexpected(started.error());
  embedded.emplace(std::move(*started));
  Log()->info("embedded redis-server (pid {}) on {}", embedded->pid(), embedded->socket_path());
  return embedded->config();
}

namespace {

// The dashboard's view of the workers: by id, at most kMaxWorkerViews.
std::vector<WorkerView> WorkerViews(const WorkerRegistry& registry) {
  bool more = false;
  std::vector<WorkerView> out;
  auto page = registry.DescribePage("", kMaxWorkerViews, 0, more);
  for (auto& info : page) {
    WorkerView v;
    v.id = info.id;
    v.queues = std::move(info.queues);
    v.types = std::move(info.types);
    v.slots = info.concurrency;
    v.in_flight = info.in_flight;
    if (const WorkerState* w = registry.FindById(info.id); w != nullptr) {
      v.last_seen_ms = w->last_seen_ms;
      v.draining = w->draining;
      v.quiet = w->quiet;
      if (auto host = w->labels.find("host"); host != w->labels.end()) v.host = host->second;
    }
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace

namespace {

ReactorSnapshot::ClusterWorker ClusterWorkerOf(const protocol::WorkerInfo& w,
                                               const std::string& broker_id) {
  auto host = w.labels.find("host");
  return {w.id,    broker_id, w.concurrency, w.in_flight, w.queues,
          w.types, host == w.labels.end() ? std::string() : host->second, w.quiet};
}

}  // namespace

ReactorSnapshot TakeSnapshot(const BrokerContext& ctx, const RecentBatches& recent_batches,
                             const ZapHandler* zap, bool draining, bool detail) {
  ReactorSnapshot s;
  if (detail) {
    s.has_detail = true;
    s.worker_views = WorkerViews(ctx.workers);
    s.recent_batches = recent_batches.ids();
  }
  s.bad_frames = ctx.counters.bad_frames;
  s.wrong_port = ctx.counters.wrong_port;
  s.bad_request_ids = ctx.counters.bad_request_ids;
  s.request_replays = ctx.counters.request_replays;
  s.bad_limits = ctx.counters.bad_limits;
  s.bad_lists = ctx.counters.bad_lists;
  s.bad_admin = ctx.counters.bad_admin;
  s.schedules = ctx.counters.schedules;
  s.schedule_ticks_fired = ctx.counters.schedule_ticks_fired;
  s.schedule_ticks_missed = ctx.counters.schedule_ticks_missed;
  s.schedule_ticks_lost = ctx.counters.schedule_ticks_lost;
  s.stale_results = ctx.counters.stale_results;
  s.progress_received = ctx.counters.progress_received;
  s.progress_coalesced = ctx.counters.progress_coalesced;
  s.progress_stored = ctx.counters.progress_stored;
  s.stale_progress = ctx.counters.stale_progress;
  s.tasks_dispatched = ctx.counters.tasks_dispatched;
  s.workers_lost = ctx.counters.workers_lost;
  s.redis_used_bytes = ctx.memory.used_bytes();
  s.redis_max_bytes = ctx.memory.max_bytes();
  s.submits_refused_store_full = ctx.memory.refused();
  if (zap != nullptr) {
    s.curve_allowed = zap->counters().allowed;
    s.curve_refused = zap->counters().refused;
  }
  auto slots = ctx.workers.CountSlots();
  s.workers = ctx.workers.size();
  s.slots_busy = slots.busy;
  s.slots_free = slots.free;
  s.redis_ready = ctx.redis.ready();
  s.redis_error = ctx.redis.last_error();
  s.draining = draining;
  s.broker_id = ctx.directory.id();
  const auto& bus = ctx.bus.counters();
  s.bus_subscribed = ctx.bus.subscribed();
  s.bus_events_sent = bus.events_sent;
  s.bus_events_received = bus.events_received;
  s.bus_bad_messages = bus.bad_messages;
  s.bus_resubscribes = bus.resubscribes;
  for (const auto& e : ctx.directory.live()) {
    s.live_brokers.push_back(e.id);
    if (e.id == s.broker_id) continue;  // this broker's own: from the registry in memory
    for (const auto& w : e.workers) s.cluster_workers.push_back(ClusterWorkerOf(w, e.id));
  }
  for (const auto& w : ctx.workers.Describe()) {
    s.cluster_workers.push_back(ClusterWorkerOf(w, s.broker_id));
  }
  return s;
}

void LogCounters(const BrokerCounters& c) {
  Log()->info(
      "counters: bad_frames={} stale_results={} workers_lost={} tasks_dispatched={} forbidden={} "
      "unregistered={} stale_progress={} wrong_port={} bad_request_ids={} request_replays={} "
      "handoff_refused={} progress_received={} progress_coalesced={} progress_stored={} "
      "progress_store_calls={} bad_progress={} progress_dropped={}",
      c.bad_frames, c.stale_results, c.workers_lost, c.tasks_dispatched, c.forbidden,
      c.unregistered, c.stale_progress, c.wrong_port, c.bad_request_ids, c.request_replays,
      c.handoff_refused, c.progress_received, c.progress_coalesced, c.progress_stored,
      c.progress_store_calls, c.bad_progress, c.progress_dropped);
}

int MakeSignalFd() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  // Only useful when the caller blocked these signals (main does); harmless otherwise.
  return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

namespace {

// What the role directories leave out, said at startup and after each SIGHUP: the escape
// hatch (every client key a worker and an admin) loudly, and a broker no worker can
// register with (a one-list setup upgraded without --curve-roles=shared).
void WarnAboutRoles(const BrokerOptions& o, const ZapHandler& zap) {
  bool shared = o.curve_roles == "shared";
  if (shared && (zap.worker_list() == nullptr || zap.admin_list() == nullptr)) {
    Log()->warn(
        "CURVE roles SHARED (--curve-roles=shared): every key of {} may also {}{}{}. Any "
        "client can then receive other clients' payloads or purge the dead letters: give "
        "--curve-worker-allow-dir and --curve-admin-allow-dir and drop --curve-roles",
        o.curve_allow_dir, zap.worker_list() == nullptr ? "register as a worker" : "",
        zap.worker_list() == nullptr && zap.admin_list() == nullptr ? " and " : "",
        zap.admin_list() == nullptr ? "act as an admin (DLQ, every client's tasks)" : "");
  }
  bool workers = zap.worker_list() != nullptr && zap.worker_list()->size() > 0;
  if (!workers && !(shared && zap.worker_list() == nullptr)) {
    Log()->warn(
        "CURVE is on and no key has the worker role: every worker's READY will be refused. Put "
        "the workers' .pub files in a directory and give it as --curve-worker-allow-dir "
        "(TASKMILL_CURVE_WORKER_ALLOW_DIR){}",
        zap.worker_list() == nullptr
            ? "; or, to keep one allow-list for every role while upgrading, --curve-roles=shared"
            : "");
  }
}

}  // namespace

Result<std::unique_ptr<ZapHandler>> SetUpCurve(const BrokerOptions& o, zmq::context_t& zmq_ctx,
                                               const Clock& clock, RouterSocket& frontend,
                                               RouterSocket& backend) {
  if (o.curve_secret_key_file.empty()) return std::unique_ptr<ZapHandler>();
  auto keys = LoadCurveKeyFile(o.curve_secret_key_file);
  if (!keys) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "--curve-secret-key-file: " + keys.error().message);
  }
  auto allow = CurveAllowList::Load(o.curve_allow_dir);
  if (!allow) {
    return MakeError(ErrorCode::kInvalidArgument, "--curve-allow-dir: " + allow.error().message);
  }
  size_t allowed = allow->size();
  std::optional<CurveAllowList> workers, admins;
  for (auto [flag, dir, list] :
       {std::tuple{"--curve-worker-allow-dir", &o.curve_worker_allow_dir, &workers},
        std::tuple{"--curve-admin-allow-dir", &o.curve_admin_allow_dir, &admins}}) {
    if (dir->empty()) continue;
    auto loaded = CurveAllowList::Load(*dir);
    if (!loaded) {
      return MakeError(ErrorCode::kInvalidArgument,
                       std::string(flag) + ": " + loaded.error().message);
    }
    Log()->info("CURVE roles: {} keys in {} ({})", loaded->size(), *dir, flag);
    list->emplace(std::move(*loaded));
  }
  auto zap = std::make_unique<ZapHandler>(zmq_ctx, std::move(*allow), clock, std::move(workers),
                                          std::move(admins));
  if (auto r = zap->Bind(); !r) return std::unexpected(r.error());
  if (auto r = frontend.EnableCurveServer(*keys); !r) return std::unexpected(r.error());
  if (auto r = backend.EnableCurveServer(*keys); !r) return std::unexpected(r.error());
  Log()->info("CURVE on: broker public key {}, {} allowed keys in {}", keys->public_key, allowed,
              o.curve_allow_dir);
  if (allowed == 0) {
    Log()->warn("the CURVE allow-list {} is empty: every connection will be refused",
                o.curve_allow_dir);
  }
  WarnAboutRoles(o, *zap);
  return zap;
}

void ReloadAllowList(const BrokerOptions& o, ZapHandler* zap) {
  if (zap == nullptr) {
    Log()->info("SIGHUP: nothing to reload (CURVE is off)");
    return;
  }
  size_t before = zap->allow_list().size();
  auto loaded = zap->Reload();
  if (!loaded) {
    Log()->error("SIGHUP: CURVE allow-list not reloaded, keeping the {} keys loaded before: {}",
                 before, loaded.error().message);
    return;
  }
  Log()->info("SIGHUP: CURVE allow-list reloaded from {}: {} keys loaded ({} before)",
              zap->allow_list().dir(), *loaded, before);
  WarnAboutRoles(o, *zap);
}

}  // namespace taskmill::broker
