// The broker's reactor: one thread polls the two ROUTER sockets, the Redis connection,
// a signalfd and a stop eventfd; timers run between polls. Nothing here blocks except
// zmq_poll itself (and the embedded Redis's restart, which waits for its PING).

#include "taskmill/broker/broker.h"

#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <tuple>

#include "http/broker_http.h"
#include "metrics/broker_metrics.h"
#include "metrics/reactor_board.h"
#include "metrics/store_reader.h"
#include "net/peer_watch.h"
#include "net/router_socket.h"
#include "net/zap_handler.h"
#include "redis/data_dir_lock.h"
#include "redis/embedded_redis.h"
#include "redis/redis_config.h"
#include "redis/redis_connection.h"
#include "service/batch_events.h"
#include "service/broker_context.h"
#include "service/client_service.h"
#include "service/memory_guard.h"
#include "service/worker_service.h"
#include "store/store.h"
#include "store/store_layout.h"
#include "taskmill/shared/curve_keys.h"
#include "taskmill/shared/log.h"
#include "taskmill/shared/protocol/codec.h"

namespace taskmill::broker {
namespace {

auto Log() {
  static auto log = Logger("broker");
  return log;
}

// A periodic job on the reactor thread.
struct Periodic {
  int64_t interval_ms;
  int64_t next_ms;
  std::function<void()> run;
};

// Messages read from one socket per turn, so one busy peer cannot starve the other socket.
constexpr int kMaxMessagesPerSocketTurn = 2048;

std::vector<std::string_view> Views(const Inbound& in) {
  std::vector<std::string_view> v;
  v.reserve(in.frames.size());
  for (const auto& f : in.frames) v.emplace_back(static_cast<const char*>(f.data()), f.size());
  return v;
}

// `lock` is filled before `embedded` and must outlive it: the data dir stays ours until our
// redis-server has flushed and exited.
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
  if (o.redis_maxmemory_mb != 0) {
    eo.extra_args.insert(eo.extra_args.end(),
                         {"--maxmemory", std::to_string(o.redis_maxmemory_mb) + "mb"});
  }
  auto started = EmbeddedRedis::Start(std::move(eo));
  if (!started) return std::unexpected(started.error());
  embedded.emplace(std::move(*started));
  Log()->info("embedded redis-server (pid {}) on {}", embedded->pid(), embedded->socket_path());
  return embedded->config();
}

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
      if (auto host = w->labels.find("host"); host != w->labels.end()) v.host = host->second;
    }
    out.push_back(std::move(v));
  }
  return out;
}

// What the HTTP threads may know of the reactor, copied a few times a second.
ReactorSnapshot TakeSnapshot(const BrokerContext& ctx, const WorkerService& workers,
                             const ZapHandler* zap, bool draining, bool detail) {
  ReactorSnapshot s;
  if (detail) {
    s.has_detail = true;
    s.worker_views = WorkerViews(workers.registry());
    if (ctx.recent_batches != nullptr) s.recent_batches = ctx.recent_batches->ids();
  }
  s.bad_frames = ctx.counters.bad_frames;
  s.wrong_port = ctx.counters.wrong_port;
  s.stale_results = ctx.counters.stale_results;
  s.tasks_dispatched = ctx.counters.tasks_dispatched;
  s.workers_lost = ctx.counters.workers_lost;
  if (ctx.memory != nullptr) {
    s.redis_used_bytes = ctx.memory->used_bytes();
    s.redis_max_bytes = ctx.memory->max_bytes();
    s.submits_refused_store_full = ctx.memory->refused();
  }
  if (zap != nullptr) {
    s.curve_allowed = zap->counters().allowed;
    s.curve_refused = zap->counters().refused;
  }
  auto slots = workers.registry().CountSlots();
  s.workers = workers.registry().size();
  s.slots_busy = slots.busy;
  s.slots_free = slots.free;
  s.redis_ready = ctx.redis.ready();
  s.redis_error = ctx.redis.last_error();
  s.draining = draining;
  return s;
}

void LogCounters(const BrokerCounters& c) {
  Log()->info(
      "counters: bad_frames={} stale_results={} workers_lost={} tasks_dispatched={} forbidden={} "
      "unregistered={} stale_progress={} wrong_port={}",
      c.bad_frames, c.stale_results, c.workers_lost, c.tasks_dispatched, c.forbidden,
      c.unregistered, c.stale_progress, c.wrong_port);
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

// With --curve-secret-key-file: the ZAP handler bound in `zmq_ctx` (it must exist before
// the CURVE sockets bind, or libzmq lets every key in) and both sockets made CURVE servers.
// Without: nullptr, plain sockets.
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

// SIGHUP: re-read the allow-list; a broken directory keeps the old list.
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

}  // namespace

Broker::Broker(BrokerOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock) {
  stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

Broker::~Broker() {
  if (stop_fd_ >= 0) close(stop_fd_);
}

void Broker::Stop() {
  uint64_t one = 1;
  (void)!write(stop_fd_, &one, sizeof one);
}

Result<void> Broker::Run() {
  std::optional<DataDirLock> data_dir_lock;  // declared first: released after `embedded`
  std::optional<EmbeddedRedis> embedded;
  auto redis_config = StoreConfig(options_, data_dir_lock, embedded);
  if (!redis_config) return std::unexpected(redis_config.error());
  // Nothing reads or writes the store before its layout is this broker's (migrated if older,
  // refused if newer): store/store_layout.h. When that cannot be settled at once (Redis
  // unreachable or refusing us, another broker migrating), the broker serves anyway, its
  // stores answering store_unavailable, while a thread repeats the check.
  StoreLayoutOptions layout;
  layout.prefix = options_.prefix;
  layout.wait = false;
  std::atomic<bool> layout_checked{false};
  const std::atomic<bool>* store_gate = &layout_checked;
  std::unique_ptr<LayoutCheckThread> layout_later;
  if (auto r = EnsureStoreLayout(*redis_config, layout); r) {
    layout_checked = true;
  } else if (r.error().code != ErrorCode::kStoreUnavailable) {
    if (embedded) (void)embedded->Stop();
    return std::unexpected(r.error());
  } else {
    Log()->warn("store layout not checked yet ({}); store calls fail with store_unavailable "
                "until it is",
                r.error().message);
    layout_later = std::make_unique<LayoutCheckThread>(*redis_config, layout);
    store_gate = &layout_later->ok();
  }

  // Declared before the connections it reads through, so it outlives their callbacks.
  MemoryGuard memory(options_.store_full_headroom_percent);
  RedisConnection redis(*redis_config, {}, clock_);
  StoreOptions store_options;
  store_options.prefix = options_.prefix;
  store_options.retention_ms = int64_t{options_.retention_hours} * 3600 * 1000;
  store_options.max_queue_depth = options_.max_queue_depth;
  store_options.max_finished_per_queue = options_.max_finished_per_queue;
  Store store(redis, clock_, store_options);
  store.SetGate(store_gate);
  redis.Start();
  // A second connection for expensive reads (STATS, GET, WAIT, batch status): what queues
  // behind it never delays a SUBMIT, a claim or a DONE on the first.
  RedisConnection reads(*redis_config, {}, clock_);
  StoreOptions read_options = store_options;
  read_options.max_in_flight = 1;
  Store read_store(reads, clock_, read_options);
  read_store.SetGate(store_gate);
  reads.Start();

  zmq::context_t zmq_ctx(1);
  RouterOptions router_options;
  router_options.max_frame_bytes = options_.max_frame_bytes;
  RouterSocket frontend(zmq_ctx, router_options);
  // No routing-id handover (RouterOptions::handover): workers pick a fresh random routing id
  // per connection, and a READY carries their worker id over to it (WorkerService::OnReady).
  RouterSocket backend(zmq_ctx, router_options);
  auto zap = SetUpCurve(options_, zmq_ctx, clock_, frontend, backend);
  if (!zap) return std::unexpected(zap.error());
  if (auto r = frontend.Bind(options_.frontend); !r) return std::unexpected(r.error());
  if (auto r = backend.Bind(options_.backend); !r) return std::unexpected(r.error());
  PeerWatch client_peers(zmq_ctx, frontend, "clients");
  // Bytes queued for a client that never reads its replies (libzmq's high-water mark counts
  // messages): past the caps such a client's replies are dropped and its connection cut.
  SendBudget client_budget(
      {options_.max_queued_bytes_per_client, options_.max_queued_bytes_total},
      [&client_peers](const std::string& identity) { return client_peers.LiveFd(identity); });
  frontend.SetBudget(&client_budget);

  BrokerMetrics metrics(BrokerName(frontend.LastEndpoint()));
  redis.SetRoundTripObserver([&metrics](double seconds) { metrics.RedisReplied(seconds); });
  ReactorBoard board;
  board.MarkTurn(clock_.MonotonicMs());
  StoreReader reader(*redis_config, options_.prefix);
  reader.UseStoreOptions(store_options);
  auto tokens = LoadHttpTokens(options_.http_token_file, options_.http_read_token_file,
                               !options_.curve_secret_key_file.empty());
  if (!tokens) return std::unexpected(tokens.error());
  bool admin_http = !tokens->admin.empty(), reads_need_token = ReadsNeedToken(*tokens);
  BrokerHttp http(board, metrics, reader, clock_, std::move(*tokens));
  RecentBatches recent_batches;
  std::string http_address = "off";
  if (auto address = ParseHttpAddress(options_.http, "--http"); !address) {
    return std::unexpected(address.error());
  } else if (*address) {
    auto bound = http.Start(**address);
    if (!bound) return std::unexpected(bound.error());
    http_address = bound->ToString();
  }

  BrokerContext ctx{options_, clock_,  redis,   store,   frontend,
                    backend,  nullptr, nullptr, nullptr, {},
                    AccessPolicy(zap->get(), options_.curve_roles == "shared"), &metrics};
  ctx.read_store = &read_store;
  ctx.client_peers = &client_peers;
  ctx.client_budget = &client_budget;
  QuotaLimits quotas;
  quotas.waits_per_client = options_.max_waits_per_client;
  quotas.wait_ids_per_client = options_.max_wait_ids_per_client;
  quotas.waits_total = options_.max_waits_total;
  quotas.wait_ids_total = options_.max_wait_ids_total;
  quotas.subscriptions_per_client = options_.max_subscriptions_per_client;
  quotas.subscriptions_total = options_.max_subscriptions_total;
  quotas.watched_tasks_total = options_.max_watched_tasks_total;
  ctx.recent_batches = &recent_batches;
  ctx.memory = &memory;
  ClientService clients(ctx, quotas);
  WorkerService workers(ctx);
  BatchEvents events(ctx);
  ctx.clients = &clients;
  ctx.workers = &workers;
  ctx.events = &events;

  // Wait briefly for Redis so the first requests do not bounce with store_unavailable.
  for (int64_t until = clock_.MonotonicMs() + 5000;
       !redis.ready() && clock_.MonotonicMs() < until;) {
    RunUntil(
        redis, [&] { return redis.ready(); }, 100);
  }
  if (!redis.ready()) Log()->warn("Redis not reachable yet ({}); retrying", redis.last_error());
  for (int64_t until = clock_.MonotonicMs() + 5000;
       redis.ready() && !reads.ready() && clock_.MonotonicMs() < until;) {
    RunUntil(
        reads, [&] { return reads.ready(); }, 100);
  }

  if (!options_.ready_file.empty()) {
    std::ofstream ready(options_.ready_file + ".tmp");
    ready << "frontend=" << frontend.LastEndpoint() << "\nbackend=" << backend.LastEndpoint()
          << "\nhttp=" << http_address << "\npid=" << getpid() << "\n";
    ready.close();
    std::filesystem::rename(options_.ready_file + ".tmp", options_.ready_file);
  }
  Log()->info("serving clients on {} and workers on {}; HTTP (/healthz /readyz /metrics) on {}",
              frontend.LastEndpoint(), backend.LastEndpoint(), http_address);
  if (http_address != "off") {
    Log()->info("dashboard on http://{}/ (admin actions {}; reading tasks {})", http_address,
                admin_http ? "need the token of --http-token-file" : "off: read-only",
                reads_need_token ? "needs a token" : "open");
  }

  int signal_fd = MakeSignalFd();
  int64_t now = clock_.MonotonicMs();
  std::vector<Periodic> timers = {
      {options_.heartbeat_ms, now + options_.heartbeat_ms, [&] { workers.OnHeartbeatTick(); }},
      {options_.promote_ms, now,
       [&] {
         store.Promote(1000, [&](Result<PromoteResult> r) {
           if (!r) return;
           for (const auto& q : r->queues) workers.WakeQueue(q);
           clients.OnBatchChanges(r->batches);
         });
       }},
      {options_.reap_ms, now,
       [&] {
         store.Reap(1000, [&](Result<FinishResult> r) {
           if (r) workers.HandleFinish(*r);
         });
       }},
      {200, now + 200, [&] { workers.OnIdleTick(); }},
      // The counters of trouble, once a second when one moved: how many frames were
      // refused, results fenced off and workers lost (tests and operators read this line).
      {1000, now + 1000,
       [&, logged = BrokerCounters{}]() mutable {
         const BrokerCounters& c = ctx.counters;
         if (c.bad_frames == logged.bad_frames && c.stale_results == logged.stale_results &&
             c.workers_lost == logged.workers_lost && c.forbidden == logged.forbidden &&
             c.unregistered == logged.unregistered && c.stale_progress == logged.stale_progress) {
           return;
         }
         logged = c;
         LogCounters(c);
       }},
      {50, now + 50, [&] { clients.OnTick(); }},
      // Redis's memory, read on the connection for expensive reads (off the hot path).
      {MemoryGuard::kPollMs, now, [&] { memory.Poll(reads); }},
      {options_.sweep_ms, now + options_.sweep_ms, [&] { events.OnSweepTick(); }},
      {1000, now + 1000,
       [&] {
         if (!embedded) return;
         auto restarted = embedded->RestartIfDied();
         if (!restarted) {
           Log()->error("embedded Redis is down and did not restart: {}",
                        restarted.error().message);
         } else if (*restarted) {
           Log()->warn("embedded Redis had died; restarted on its data dir");
         }
       }},
  };

  bool stopping = false;
  int64_t drain_deadline = 0;
  std::optional<Error> layout_failure;  // the late layout check failed: stop and report it
  // The HTTP threads' view of the reactor; publishing is a struct copy under a mutex.
  // Clients seen reading start a fresh count, so the total stays a count of what may
  // really be held for clients that do not read.
  timers.push_back({1000, now + 1000, [&] { client_budget.Sweep(); }});
  timers.push_back(
      {250, now, [&] { board.Publish(TakeSnapshot(ctx, workers, zap->get(), stopping,
                                         board.DetailWanted(clock_.MonotonicMs()))); }});
  Inbound in;
  while (true) {
    now = clock_.MonotonicMs();
    int64_t next = now + 1000;
    for (const auto& t : timers) next = std::min(next, t.next_ms);
    if (int64_t r = redis.NextTimerMs(); r >= 0) next = std::min(next, r);
    if (stopping) next = std::min(next, now + 20);

    if (int64_t r = reads.NextTimerMs(); r >= 0) next = std::min(next, r);

    std::array<zmq::pollitem_t, 7> items{};
    size_t count = 0;
    auto add = [&](zmq::pollitem_t item) {
      items[count] = item;
      return count++;
    };
    add({frontend.handle(), 0, ZMQ_POLLIN, 0});
    add({backend.handle(), 0, ZMQ_POLLIN, 0});
    add({nullptr, stop_fd_, ZMQ_POLLIN, 0});
    size_t signal_at = signal_fd >= 0 ? add({nullptr, signal_fd, ZMQ_POLLIN, 0}) : 0;
    size_t redis_at = redis.fd() >= 0 ? add({nullptr, redis.fd(), redis.WantedEvents(), 0}) : 0;
    size_t zap_at = *zap ? add({(*zap)->handle(), 0, ZMQ_POLLIN, 0}) : 0;
    size_t reads_at = reads.fd() >= 0 ? add({nullptr, reads.fd(), reads.WantedEvents(), 0}) : 0;
    try {
      zmq::poll(items.data(), count, std::chrono::milliseconds(std::max<int64_t>(0, next - now)));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) Log()->warn("poll: {}", e.what());
    }

    auto turn_started = std::chrono::steady_clock::now();
    if (redis_at != 0 && items[redis_at].revents != 0) redis.HandleEvents(items[redis_at].revents);
    if (reads_at != 0 && items[reads_at].revents != 0) reads.HandleEvents(items[reads_at].revents);
    // Before the sockets' messages: a handshake waits for this answer.
    if (zap_at != 0 && (items[zap_at].revents & ZMQ_POLLIN)) (*zap)->HandleRequests();

    bool stop_requested = false;
    if (items[2].revents & ZMQ_POLLIN) {
      uint64_t drained;
      (void)!read(stop_fd_, &drained, sizeof drained);
      stop_requested = true;
    }
    if (signal_at != 0 && (items[signal_at].revents & ZMQ_POLLIN)) {
      bool reload = false;
      signalfd_siginfo info;
      while (read(signal_fd, &info, sizeof info) == sizeof info) {
        (info.ssi_signo == SIGHUP ? reload : stop_requested) = true;
      }
      if (reload) ReloadAllowList(options_, zap->get());
    }
    if (stop_requested) {
      if (!stopping) {
        stopping = true;
        drain_deadline = clock_.MonotonicMs() + options_.drain_grace_ms;
        Log()->info("stopping: draining workers for up to {} ms", options_.drain_grace_ms);
        clients.StopAccepting();
        workers.StartDrain(options_.drain_grace_ms);
        board.Publish(TakeSnapshot(ctx, workers, zap->get(), stopping,
                                         board.DetailWanted(clock_.MonotonicMs())));  // /readyz: 503 now
      } else {
        Log()->info("second stop request: exiting now");
        drain_deadline = 0;
      }
    }

    if (layout_later && !layout_failure && (layout_failure = layout_later->failure())) {
      Log()->error("{}", layout_failure->message);
      stopping = true;
      drain_deadline = 0;
      clients.StopAccepting();
    }

    for (int n = 0; n < kMaxMessagesPerSocketTurn && frontend.TryReceive(in); ++n) {
      auto views = Views(in);
      auto msg = protocol::Decode(views, {.max_frame_bytes = options_.max_frame_bytes});
      client_peers.Seen(in.identity, in.src_fd);
      if (msg) {
        clients.OnMessage(in.identity, std::move(*msg), in.user_id);
      } else {
        clients.OnBadMessage(in.identity, msg.error());
      }
    }
    for (int n = 0; n < kMaxMessagesPerSocketTurn && backend.TryReceive(in); ++n) {
      auto views = Views(in);
      auto msg = protocol::Decode(views, {.max_frame_bytes = options_.max_frame_bytes});
      if (msg) {
        workers.OnMessage(in.identity, std::move(*msg), in.user_id);
      } else {
        ++ctx.counters.bad_frames;
        Log()->debug("refused a worker frame: {}", msg.error().ToString());
      }
    }

    for (const auto& gone : client_peers.TakeGone()) {
      clients.DropPeer(gone);
      client_budget.Forget(gone);  // libzmq freed what was queued for it
    }

    now = clock_.MonotonicMs();
    redis.Tick(now);
    reads.Tick(now);
    for (auto& t : timers) {
      if (t.next_ms <= now) {
        t.next_ms = now + t.interval_ms;
        t.run();
      }
    }
    clients.EndTurn();
    workers.EndTurn();
    metrics.TurnTook(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - turn_started).count());
    board.MarkTurn(now);

    if (stopping && ((workers.Idle() && redis.in_flight() == 0) || now >= drain_deadline)) break;
  }

  http.Stop();  // before the objects its handlers read go away
  // Let the last results reach Redis before it stops.
  RunUntil(
      redis, [&] { return redis.in_flight() == 0; }, 2000);
  if (signal_fd >= 0) close(signal_fd);
  frontend.Close();
  backend.Close();
  if (*zap) {
    const ZapCounters& z = (*zap)->counters();
    Log()->info("CURVE: {} connections allowed, {} refused", z.allowed, z.refused);
    (*zap)->Close();
  }
  reads.Stop();
  redis.Stop();
  if (embedded) {
    if (auto r = embedded->Stop(); !r)
      Log()->warn("stopping embedded Redis: {}", r.error().message);
  }
  LogCounters(ctx.counters);
  Log()->info("stopped");
  if (layout_failure) return std::unexpected(*layout_failure);
  return {};
}

}  // namespace taskmill::broker
