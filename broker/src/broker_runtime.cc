// The broker's reactor: one thread polls the two ROUTER sockets, the Redis connections, a
// signalfd and a stop eventfd; timers run between polls. Nothing here blocks except
// zmq_poll itself (and the embedded Redis's restart, which waits for its PING).

#include "broker_runtime.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "broker_setup.h"
#include "taskmill/shared/log.h"
#include "taskmill/shared/protocol/codec.h"

namespace taskmill::broker {
namespace {

auto Log() {
  static auto log = Logger("broker");
  return log;
}

// hostname:pid: unique among the brokers of one Redis unless set otherwise.
std::string DefaultBrokerId() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::strcpy(host, "broker");
  std::string id = std::string(host) + ":" + std::to_string(getpid());
  for (char& c : id) {
    if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7f) c = '_';
  }
  return id.substr(0, 128);
}

// Messages read from one socket per turn, so one busy peer cannot starve the other socket.
constexpr int kMaxMessagesPerSocketTurn = 2048;
// SIGTERM hand-off: the longest wait for Redis's answers before GOAWAY/MOVE (also capped
// by --drain-grace-ms), how long those get to leave, and how many clients that asked for
// something meanwhile are remembered for a GOAWAY (the rest learn it from the disconnect).
constexpr uint32_t kMaxHandOffWaitMs = 2000;
constexpr int kHandOffLingerMs = 1000;
constexpr size_t kMaxHandOffClients = 100'000;

std::vector<std::string_view> Views(const Inbound& in) {
  std::vector<std::string_view> v;
  v.reserve(in.frames.size());
  for (const auto& f : in.frames) v.emplace_back(static_cast<const char*>(f.data()), f.size());
  return v;
}

}  // namespace

BrokerRuntime::BrokerRuntime(const BrokerOptions& options, const Clock& clock, int stop_fd)
    : o_(options), clock_(clock), stop_fd_(stop_fd), memory_(options.store_full_headroom_percent) {}

BrokerRuntime::~BrokerRuntime() {
  if (signal_fd_ >= 0) close(signal_fd_);
}

Result<void> BrokerRuntime::OpenStore() {
  auto config = StoreConfig(o_, data_dir_lock_, embedded_);
  if (!config) return std::unexpected(config.error());
  redis_config_ = std::move(*config);
  // Nothing reads or writes the store before its layout is this broker's (migrated if older,
  // refused if newer): store/store_layout.h. When that cannot be settled at once (Redis
  // unreachable or refusing us, another broker migrating), the broker serves anyway, its
  // stores answering store_unavailable, while a thread repeats the check.
  StoreLayoutOptions layout;
  layout.prefix = o_.prefix;
  layout.wait = false;
  if (auto r = EnsureStoreLayout(redis_config_, layout); r) {
    layout_checked_ = true;
  } else if (r.error().code != ErrorCode::kStoreUnavailable) {
    if (embedded_) (void)embedded_->Stop();
    return std::unexpected(r.error());
  } else {
    Log()->warn("store layout not checked yet ({}); store calls fail with store_unavailable "
                "until it is",
                r.error().message);
    layout_later_ = std::make_unique<LayoutCheckThread>(redis_config_, layout);
    store_gate_ = &layout_later_->ok();
  }

  RedisConnectionOptions connection_options;
  // With Sentinel a lost master is replaced within seconds: look again soon, not after 5 s.
  if (redis_config_.sentinel_mode()) connection_options.reconnect_max_ms = 500;
  redis_.emplace(redis_config_, connection_options, clock_);
  if (o_.redis_min_replicas != 0) {
    replica_gate_.emplace(*redis_, static_cast<int>(o_.redis_min_replicas),
                          o_.redis_min_replicas_timeout_ms, o_.prefix + "replica-mark");
    redis_->SetReplicaGate(&*replica_gate_);
    Log()->info("acknowledging submits and results once {} replica(s) have them (WAIT, {} ms)",
                o_.redis_min_replicas, o_.redis_min_replicas_timeout_ms);
  }
  store_options_.prefix = o_.prefix;
  store_options_.retention_ms = int64_t{o_.retention_hours} * 3600 * 1000;
  store_options_.max_queue_depth = o_.max_queue_depth;
  store_options_.max_finished_per_queue = o_.max_finished_per_queue;
  store_.emplace(*redis_, clock_, store_options_);
  store_->SetGate(store_gate_);
  redis_->Start();
  // A second connection for expensive reads (STATS, GET, WAIT, batch status): what queues
  // behind it never delays a SUBMIT, a claim or a DONE on the first.
  reads_.emplace(redis_config_, connection_options, clock_);
  if (replica_gate_) reads_->SetReplicaGate(&*replica_gate_);
  StoreOptions read_options = store_options_;
  read_options.max_in_flight = 1;
  read_store_.emplace(*reads_, clock_, read_options);
  read_store_->SetGate(store_gate_);
  reads_->Start();
  // A third connection, in subscriber mode: what other brokers tell this one (ClusterBus).
  bus_conn_.emplace(redis_config_, RedisConnectionOptions{}, clock_);
  return {};
}

Result<void> BrokerRuntime::OpenSockets() {
  RouterOptions router_options;
  router_options.max_frame_bytes = o_.max_frame_bytes;
  frontend_.emplace(zmq_ctx_, router_options);
  // No routing-id handover (RouterOptions::handover): workers pick a fresh random routing id
  // per connection, and a READY carries their worker id over to it (WorkerService::OnReady).
  backend_.emplace(zmq_ctx_, router_options);
  auto zap = SetUpCurve(o_, zmq_ctx_, clock_, *frontend_, *backend_);
  if (!zap) return std::unexpected(zap.error());
  zap_ = std::move(*zap);
  if (auto r = frontend_->Bind(o_.frontend); !r) return std::unexpected(r.error());
  if (auto r = backend_->Bind(o_.backend); !r) return std::unexpected(r.error());
  client_peers_.emplace(zmq_ctx_, *frontend_, "clients");
  // Bytes queued for a client that never reads its replies (libzmq's high-water mark counts
  // messages): past the caps such a client's replies are dropped and its connection cut.
  client_budget_.emplace(
      SendBudgetLimits{o_.max_queued_bytes_per_client, o_.max_queued_bytes_total},
      [this](const std::string& identity) { return client_peers_->LiveFd(identity); });
  frontend_->SetBudget(&*client_budget_);
  return {};
}

Result<void> BrokerRuntime::StartHttp() {
  metrics_.emplace(BrokerName(frontend_->LastEndpoint()));
  redis_->SetRoundTripObserver([this](double seconds) { metrics_->RedisReplied(seconds); });
  board_.MarkTurn(clock_.MonotonicMs());
  reader_.emplace(redis_config_, o_.prefix);
  reader_->UseStoreOptions(store_options_);
  auto tokens = LoadHttpTokens(o_.http_token_file, o_.http_read_token_file,
                               !o_.curve_secret_key_file.empty());
  if (!tokens) return std::unexpected(tokens.error());
  admin_http_ = !tokens->admin.empty();
  reads_need_token_ = ReadsNeedToken(*tokens);
  // A webhook's completion runs on the reactor thread as a client's COMPLETE does.
  CompleteFn complete = [this](protocol::Complete c) {
    return inbox_.Call<FinishOutcome>(
        [this, c = std::move(c)](TaskLifecycle::Callback<FinishOutcome> done) mutable {
          lifecycle_->Complete(std::move(c), std::move(done));
        },
        kApiCompleteWaitMs);
  };
  http_.emplace(board_, *metrics_, *reader_, clock_, std::move(*tokens), std::move(complete));
  auto address = ParseHttpAddress(o_.http, "--http");
  if (!address) return std::unexpected(address.error());
  if (*address) {
    auto bound = http_->Start(**address);
    if (!bound) return std::unexpected(bound.error());
    http_address_ = bound->ToString();
  }
  return {};
}

void BrokerRuntime::BuildLayers() {
  // Bottom up (docs/architecture.md, "Layers"): the lifecycle layer over the store, its
  // subscribers, then the protocol adapters, which subscribe themselves.
  events_.emplace(clock_, *frontend_, *store_, recent_batches_);
  lifecycle_.emplace(*store_, clock_, LifecycleOptions{.submit_alone = o_.max_queue_depth != 0},
                     counters_, &*metrics_);
  lifecycle_->Subscribe(*events_);
  // Brokers as one: the registry and the bus (docs/architecture.md, "Brokers as one").
  broker_id_ = o_.broker_id.empty() ? DefaultBrokerId() : o_.broker_id;
  started_wall_ms_ = clock_.NowMs();
  directory_.emplace(broker_id_, o_.prefix, *redis_);
  bus_.emplace(broker_id_, o_.prefix, ClusterBus::On(*redis_), *bus_conn_);
  lifecycle_->Subscribe(*bus_);
  bus_->AddListener(*events_);
  bus_->AddResync([this] { events_->RereadAll(); });
  // Queue and worker administration through another broker (admin_requests.cc): act at once.
  bus_->OnAdmin([this](const bus::Admin& a) {
    if (a.what == "queue_resumed") {
      registry_.WakeQueue(a.name);
    } else if (a.what == "worker_quiet" || a.what == "worker_unquiet") {
      registry_.SetQuiet(a.name, a.what == "worker_quiet");
    }
  });
  directory_->OnLiveChanged([this](const std::unordered_set<std::string>& live) {
    bus_->ForgetBrokersExcept(live);
  });
  bus_conn_->Start();
  ctx_.emplace(BrokerContext{.options = o_,
                             .clock = clock_,
                             .redis = *redis_,
                             .store = *store_,
                             .read_store = *read_store_,
                             .frontend = *frontend_,
                             .backend = *backend_,
                             .counters = counters_,
                             .access = AccessPolicy(zap_.get(), o_.curve_roles == "shared"),
                             .lifecycle = *lifecycle_,
                             .events = *events_,
                             .bus = *bus_,
                             .directory = *directory_,
                             .workers = registry_,
                             .client_peers = *client_peers_,
                             .client_budget = *client_budget_,
                             .memory = memory_});
  QuotaLimits quotas;
  quotas.waits_per_client = o_.max_waits_per_client;
  quotas.wait_ids_per_client = o_.max_wait_ids_per_client;
  quotas.waits_total = o_.max_waits_total;
  quotas.wait_ids_total = o_.max_wait_ids_total;
  quotas.subscriptions_per_client = o_.max_subscriptions_per_client;
  quotas.subscriptions_total = o_.max_subscriptions_total;
  quotas.watched_tasks_total = o_.max_watched_tasks_total;
  clients_.emplace(*ctx_, quotas);  // subscribes its TaskWaiters
  workers_.emplace(*ctx_);          // subscribes itself (dispatch)
  ticker_.emplace(*store_, *lifecycle_, clock_, counters_,
                  TickerOptions{.grace_ms = static_cast<int64_t>(o_.schedule_grace_ms)});
}

void BrokerRuntime::AwaitRedis() {
  RedisConnection& redis = *redis_;
  RedisConnection& reads = *reads_;
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
  // Subscribed to the bus before announcing: a watch another broker announces from now on
  // reaches this one, so no outcome of its first tasks goes unpublished (pub/sub keeps
  // nothing for a broker not yet subscribed).
  RedisConnection& bus = *bus_conn_;
  for (int64_t until = clock_.MonotonicMs() + 5000;
       redis.ready() && !bus_->subscribed() && clock_.MonotonicMs() < until;) {
    RunUntil(
        bus, [&] { return bus_->subscribed(); }, 100);
  }
  if (redis.ready() && !bus_->subscribed()) {
    Log()->warn("bus: not subscribed yet; other brokers' watches may miss this one's first outcomes");
  }
}

void BrokerRuntime::Announce() {
  if (!o_.ready_file.empty()) {
    std::ofstream ready(o_.ready_file + ".tmp");
    ready << "frontend=" << frontend_->LastEndpoint() << "\nbackend=" << backend_->LastEndpoint()
          << "\nhttp=" << http_address_ << "\npid=" << getpid() << "\n";
    ready.close();
    std::filesystem::rename(o_.ready_file + ".tmp", o_.ready_file);
  }
  Log()->info("serving clients on {} and workers on {}; HTTP (/healthz /readyz /metrics) on {}",
              frontend_->LastEndpoint(), backend_->LastEndpoint(), http_address_);
  if (http_address_ != "off") {
    Log()->info("dashboard on http://{}/ (admin actions {}; reading tasks {})", http_address_,
                admin_http_ ? "need the token of --http-token-file" : "off: read-only",
                reads_need_token_ ? "needs a token" : "open");
  }
}

void BrokerRuntime::ScheduleTimers() {
  signal_fd_ = MakeSignalFd();
  int64_t now = clock_.MonotonicMs();
  timers_ = {
      {o_.heartbeat_ms, now + o_.heartbeat_ms, [this] { workers_->OnHeartbeatTick(); }},
      {o_.promote_ms, now, [this] { lifecycle_->Promote(1000); }},
      {o_.reap_ms, now, [this] { lifecycle_->Reap(1000); }},
      {200, now + 200, [this] { workers_->OnIdleTick(); }},
      // The counters of trouble, once a second when one moved: how many frames were
      // refused, results fenced off and workers lost (tests and operators read this line).
      {1000, now + 1000,
       [this, logged = BrokerCounters{}]() mutable {
         const BrokerCounters& c = counters_;
         if (c.bad_frames == logged.bad_frames && c.stale_results == logged.stale_results &&
             c.workers_lost == logged.workers_lost && c.forbidden == logged.forbidden &&
             c.unregistered == logged.unregistered && c.stale_progress == logged.stale_progress &&
             c.progress_stored == logged.progress_stored &&
             c.bad_request_ids == logged.bad_request_ids &&
             c.request_replays == logged.request_replays) {
           return;
         }
         logged = c;
         LogCounters(c);
       }},
      {50, now + 50, [this] { clients_->OnTick(); }},
      // PROGRESS held back by the throttle goes on; the tick's progress writes go out.
      {50, now + 50, [this] { workers_->OnProgressTick(); }},
      // Schedules: every broker claims due ticks (one wins each; docs/architecture.md).
      {ScheduleTicker::kRoundMs, now,
       [this] {
         if (!stopping_) ticker_->OnTick();
       }},
      // This broker and its workers in the registry; everyone else's read back.
      {BrokerDirectory::kRefreshMs, now, [this] { directory_->Refresh(SelfEntry()); }},
      // Redis's memory, read on the connection for expensive reads (off the hot path).
      {MemoryGuard::kPollMs, now, [this] { memory_.Poll(*reads_); }},
      {o_.sweep_ms, now + o_.sweep_ms, [this] { events_->OnSweepTick(); }},
      {1000, now + 1000,
       [this] {
         if (!embedded_) return;
         auto restarted = embedded_->RestartIfDied();
         if (!restarted) {
           Log()->error("embedded Redis is down and did not restart: {}",
                        restarted.error().message);
         } else if (*restarted) {
           Log()->warn("embedded Redis had died; restarted on its data dir");
         }
       }},
      // Clients seen reading start a fresh count, so the total stays a count of what may
      // really be held for clients that do not read.
      {1000, now + 1000, [this] { client_budget_->Sweep(); }},
      // The HTTP threads' view of the reactor; publishing is a struct copy under a mutex.
      {250, now, [this] { Publish(); }},
  };
}

BrokerEntry BrokerRuntime::SelfEntry() const {
  BrokerEntry e;
  e.id = broker_id_;
  e.frontend = frontend_->LastEndpoint();
  e.backend = backend_->LastEndpoint();
  e.http = http_address_;
  e.started_ms = started_wall_ms_;
  e.health = stopping_ ? "draining" : "serving";
  e.workers = registry_.Describe();
  return e;
}

void BrokerRuntime::Publish() {
  board_.Publish(TakeSnapshot(*ctx_, recent_batches_, zap_.get(), stopping_,
                              board_.DetailWanted(clock_.MonotonicMs())));
}

bool BrokerRuntime::Turn() {
  RedisConnection& redis = *redis_;
  RedisConnection& reads = *reads_;
  RedisConnection& bus = *bus_conn_;
  int64_t now = clock_.MonotonicMs();
  int64_t next = now + 1000;
  for (const auto& t : timers_) next = std::min(next, t.next_ms);
  if (int64_t r = redis.NextTimerMs(); r >= 0) next = std::min(next, r);
  if (int64_t r = reads.NextTimerMs(); r >= 0) next = std::min(next, r);
  if (int64_t r = bus.NextTimerMs(); r >= 0) next = std::min(next, r);
  if (stopping_) next = std::min(next, now + 20);

  std::array<zmq::pollitem_t, 9> items{};
  size_t count = 0;
  auto add = [&](zmq::pollitem_t item) {
    items[count] = item;
    return count++;
  };
  add({frontend_->handle(), 0, ZMQ_POLLIN, 0});
  add({backend_->handle(), 0, ZMQ_POLLIN, 0});
  add({nullptr, stop_fd_, ZMQ_POLLIN, 0});
  size_t signal_at = signal_fd_ >= 0 ? add({nullptr, signal_fd_, ZMQ_POLLIN, 0}) : 0;
  size_t redis_at = redis.fd() >= 0 ? add({nullptr, redis.fd(), redis.WantedEvents(), 0}) : 0;
  size_t zap_at = zap_ ? add({zap_->handle(), 0, ZMQ_POLLIN, 0}) : 0;
  size_t reads_at = reads.fd() >= 0 ? add({nullptr, reads.fd(), reads.WantedEvents(), 0}) : 0;
  size_t bus_at = bus.fd() >= 0 ? add({nullptr, bus.fd(), bus.WantedEvents(), 0}) : 0;
  size_t inbox_at = inbox_.fd() >= 0 ? add({nullptr, inbox_.fd(), ZMQ_POLLIN, 0}) : 0;
  try {
    zmq::poll(items.data(), count, std::chrono::milliseconds(std::max<int64_t>(0, next - now)));
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) Log()->warn("poll: {}", e.what());
  }

  auto turn_started = std::chrono::steady_clock::now();
  // The bus first: a watch announced by another broker is known before this turn's
  // outcomes are sent.
  if (bus_at != 0 && items[bus_at].revents != 0) bus.HandleEvents(items[bus_at].revents);
  if (redis_at != 0 && items[redis_at].revents != 0) redis.HandleEvents(items[redis_at].revents);
  if (reads_at != 0 && items[reads_at].revents != 0) reads.HandleEvents(items[reads_at].revents);
  // Before the sockets' messages: a handshake waits for this answer.
  if (zap_at != 0 && (items[zap_at].revents & ZMQ_POLLIN)) zap_->HandleRequests();
  HandleStopAndSignals(items[2].revents & ZMQ_POLLIN,
                       signal_at != 0 && (items[signal_at].revents & ZMQ_POLLIN));
  if (layout_later_ && !layout_failure_ && (layout_failure_ = layout_later_->failure())) {
    Log()->error("{}", layout_failure_->message);
    stopping_ = true;
    drain_deadline_ = 0;
    clients_->StopAccepting();
  }

  if (inbox_at != 0 && (items[inbox_at].revents & ZMQ_POLLIN)) inbox_.RunPending();
  ReadClients();
  ReadWorkers();
  for (const auto& gone : client_peers_->TakeGone()) {
    clients_->DropPeer(gone);
    client_budget_->Forget(gone);  // libzmq freed what was queued for it
  }

  now = clock_.MonotonicMs();
  redis.Tick(now);
  reads.Tick(now);
  bus.Tick(now);
  for (auto& t : timers_) {
    if (t.next_ms <= now) {
      t.next_ms = now + t.interval_ms;
      t.run();
    }
  }
  clients_->EndTurn();
  bus_->Flush();          // watches go out before the turn's submits are written
  lifecycle_->EndTurn();  // submits, DONEs, releases, then the workers' claims (ClaimsDue)
  if (replica_gate_) replica_gate_->EndTurn();  // one WAIT for everything of the turn
  metrics_->TurnTook(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - turn_started).count());
  board_.MarkTurn(now);

  // Drained: no worker holds a task, and every reply has left Redis and the replica gate.
  const bool replies_out =
      redis.in_flight() == 0 && (!replica_gate_ || replica_gate_->held() == 0);
  if (stopping_ && handing_off_) {
    // What this broker already sent Redis is answered (and its replies sent) first; nothing
    // new starts meanwhile, so this is short unless Redis is unreachable.
    if (!replies_out && now < drain_deadline_) return true;
    HandOff();
    return false;
  }
  return !(stopping_ && ((workers_->Idle() && replies_out) || now >= drain_deadline_));
}

void BrokerRuntime::HandOff() {
  const protocol::Frames goaway = protocol::Encode(protocol::Goaway{"shutting down"});
  for (const auto& identity : client_peers_->Identities()) handoff_clients_.insert(identity);
  size_t told = 0;
  for (const auto& identity : handoff_clients_) told += frontend_->Send(identity, goaway) ? 1 : 0;
  size_t moved = workers_->MoveAll("shutting down");
  Log()->info("handed off: GOAWAY to {} client(s), MOVE to {} worker(s)", told, moved);
}

void BrokerRuntime::HandleStopAndSignals(bool stop_polled, bool signal_polled) {
  bool stop_requested = false;
  if (stop_polled) {
    uint64_t drained;
    (void)!read(stop_fd_, &drained, sizeof drained);
    stop_requested = true;
  }
  if (signal_polled) {
    bool reload = false;
    signalfd_siginfo info;
    while (read(signal_fd_, &info, sizeof info) == sizeof info) {
      (info.ssi_signo == SIGHUP ? reload : stop_requested) = true;
    }
    if (reload) ReloadAllowList(o_, zap_.get());
  }
  if (!stop_requested) return;
  if (!stopping_) {
    // Hand-off, not drain: workers keep their tasks and move to another broker.
    stopping_ = true;
    handing_off_ = true;
    uint32_t wait_ms = std::min<uint32_t>(o_.drain_grace_ms, kMaxHandOffWaitMs);
    drain_deadline_ = clock_.MonotonicMs() + wait_ms;
    Log()->info("stopping: handing off (waiting up to {} ms for Redis, then GOAWAY to clients "
                "and MOVE to workers)",
                wait_ms);
    workers_->StopClaims();
    Publish();  // /readyz: 503 now
  } else {
    Log()->info("second stop request: exiting now");
    drain_deadline_ = 0;
  }
}

void BrokerRuntime::ReadClients() {
  for (int n = 0; n < kMaxMessagesPerSocketTurn && frontend_->TryReceive(in_); ++n) {
    if (handing_off_) {
      // Not taken: its client resends it to the next broker after the GOAWAY.
      if (handoff_clients_.size() < kMaxHandOffClients) handoff_clients_.insert(in_.identity);
      ++counters_.handoff_refused;
      continue;
    }
    auto views = Views(in_);
    auto msg = protocol::Decode(views, {.max_frame_bytes = o_.max_frame_bytes});
    client_peers_->Seen(in_.identity, in_.src_fd);
    if (msg) {
      clients_->OnMessage(in_.identity, std::move(*msg), in_.user_id);
    } else {
      clients_->OnBadMessage(in_.identity, msg.error());
    }
  }
}

void BrokerRuntime::ReadWorkers() {
  for (int n = 0; n < kMaxMessagesPerSocketTurn && backend_->TryReceive(in_); ++n) {
    auto views = Views(in_);
    auto msg = protocol::Decode(views, {.max_frame_bytes = o_.max_frame_bytes});
    if (msg && handing_off_ && std::holds_alternative<protocol::Ready>(*msg)) {
      // No new registrations while leaving: straight on to the next broker.
      backend_->Send(in_.identity, protocol::Encode(protocol::Move{"shutting down"}));
      ++counters_.handoff_refused;
      continue;
    }
    if (msg) {
      workers_->OnMessage(in_.identity, std::move(*msg), in_.user_id);
    } else {
      ++counters_.bad_frames;
      Log()->debug("refused a worker frame: {}", msg.error().ToString());
    }
  }
}

Result<void> BrokerRuntime::Shutdown() {
  inbox_.Close();  // an HTTP thread waiting on the reactor gives up now (503)
  http_->Stop();  // before the objects its handlers read go away
  directory_->Leave();  // gone from the registry now, not at its TTL
  bus_->Flush();
  // Let the last results reach Redis before it stops.
  RunUntil(
      *redis_, [this] { return redis_->in_flight() == 0; }, 2000);
  // GOAWAY and MOVE were queued last: they get a bounded linger to leave.
  int linger_ms = handing_off_ ? kHandOffLingerMs : 0;
  frontend_->Close(linger_ms);
  backend_->Close(linger_ms);
  if (zap_) {
    const ZapCounters& z = zap_->counters();
    Log()->info("CURVE: {} connections allowed, {} refused", z.allowed, z.refused);
    zap_->Close();
  }
  bus_conn_->Stop();
  reads_->Stop();
  redis_->Stop();
  if (embedded_) {
    if (auto r = embedded_->Stop(); !r) {
      Log()->warn("stopping embedded Redis: {}", r.error().message);
    }
  }
  LogCounters(counters_);
  Log()->info("stopped");
  if (layout_failure_) return std::unexpected(*layout_failure_);
  return {};
}

}  // namespace taskmill::broker
