#include "service/client_service.h"

#include <algorithm>
#include <memory>
#include <optional>

#include "cluster/broker_directory.h"
#include "cluster/cluster_bus.h"
#include "dispatch/worker_registry.h"
#include "lifecycle/task_lifecycle.h"
#include "net/peer_watch.h"
#include "net/send_budget.h"
#include "service/memory_guard.h"
#include "service/batch_events.h"
#include "service/request_checks.h"
#include "service/unserved_types.h"
#include "service/wrong_port.h"
#include "store/batch_resolver.h"
#include "taskmill/shared/ids.h"
#include "taskmill/shared/log.h"
#include "taskmill/shared/protocol/codec.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::broker {
namespace {

auto Log() {
  static auto log = Logger("broker.clients");
  return log;
}

constexpr size_t kMaxIdsPerRequest = 10'000;
// Waited-on tasks are re-read this often (results recorded through another broker), at
// most kRecheckIds per pass, so the re-read stays a small share of Redis's time.
constexpr int64_t kRecheckIntervalMs = 5000;
constexpr size_t kRecheckIds = 1000;
// Ids per get script call: ~20 us each in Redis, so a chunk holds Redis for ~1 ms at most.
constexpr size_t kGetChunk = 50;

protocol::TaskInfo UnknownTask(const std::string& id) {
  protocol::TaskInfo t;
  t.id = id;
  t.state = protocol::TaskState::kUnknown;
  return t;
}

}  // namespace

ClientService::ClientService(BrokerContext& ctx, QuotaLimits quotas)
    : ctx_(ctx),
      waiters_([this](WaitTable::Waiter w) { AnswerWaiter(std::move(w)); },
               [this](const std::string& identity, protocol::TaskInfo task) {
                 ctx_.frontend.Send(identity,
                                    protocol::Encode(protocol::ResultMsg{std::move(task)}));
               },
               // WAIT progress: an EVENT task_progress with no batch (docs/protocol.md).
               [this](const std::string& identity, const std::string& task_id, double fraction,
                      const std::string& message) {
                 protocol::Event e;
                 e.type = "task_progress";
                 e.task_id = task_id;
                 e.state = "running";
                 e.progress = fraction;
                 e.message = message;
                 e.ts_ms = ctx_.clock.NowMs();
                 ctx_.frontend.Send(identity, protocol::Encode(e));
               }),
      quotas_(quotas),
      stats_pages_(ctx, [this]() -> Store& { return Reads(); },
                   [this] { return BrokerSection(); }),
      wrong_port_(BrokerPort::kClient, ctx.counters, ctx.clock) {
  ctx_.lifecycle.Subscribe(waiters_);
  // Task ends through other brokers arrive as if they happened here; after a (re)subscribe
  // to the bus, what is waited for is re-read at once.
  ctx_.bus.AddListener(waiters_);
  ctx_.bus.AddResync([this] { next_recheck_ms_ = 0; });
}

protocol::BrokerStats ClientService::BrokerSection() const {
  protocol::BrokerStats b;
  b.workers = static_cast<uint32_t>(ctx_.workers.size());
  b.bad_frames = ctx_.counters.bad_frames;
  b.stale_results = ctx_.counters.stale_results;
  b.tasks_dispatched = ctx_.counters.tasks_dispatched;
  b.workers_lost = ctx_.counters.workers_lost;
  b.waits = waiters_.waits();
  b.wait_ids = quotas_.wait_ids();
  b.subscriptions = ctx_.events.subscriptions();
  b.quota_refusals = quotas_.refusals();
  b.peers_dropped = ctx_.counters.peers_dropped;
  b.queued_bytes = ctx_.client_budget.queued_bytes();
  b.replies_dropped = ctx_.client_budget.refused();
  b.clients_cut = ctx_.client_budget.peers_cut();
  b.broker_id = ctx_.directory.id();
  for (const auto& e : ctx_.directory.live()) b.brokers.push_back(e.id);
  if (b.brokers.empty()) b.brokers.push_back(b.broker_id);  // before the first registry read
  if (auto full = ctx_.memory.Warning(); !full.empty()) b.warnings.push_back(std::move(full));
  if (ctx_.access.shared_roles()) {
    b.warnings.push_back(
        "CURVE roles are shared (--curve-roles=shared): client keys may also register as "
        "workers and act as admins where no role directory is given; see docs/security.md, "
        "Roles");
  }
  return b;
}

void ClientService::DropPeer(const std::string& identity) {
  auto waits = waiters_.TakeIdentity(identity);
  bool held = !waits.empty() || ctx_.events.SubscriptionsOf(identity) != 0;
  for (const auto& w : waits) quotas_.ReleaseWait(w.identity, w.ids.size());
  ctx_.events.DropSubscriber(identity);
  quotas_.ForgetConnection(identity);
  if (held) {
    ++ctx_.counters.peers_dropped;
    Log()->debug("dropped {} WAITs and the subscriptions of a client that went away",
                 waits.size());
  }
}

uint64_t ClientService::ClientSubscriptions(const std::string& identity) const {
  // Every connection of the client's CURVE key counts (just this one without CURVE).
  uint64_t held = 0;
  for (const auto& c : quotas_.ConnectionsLike(identity)) held += ctx_.events.SubscriptionsOf(c);
  return held;
}

bool ClientService::SubscribeWithinQuota(const std::string& identity, uint64_t req_id,
                                         const protocol::BatchStatus& status) {
  if (!ctx_.events.Subscribed(identity, status.id)) {
    auto ok = quotas_.AdmitSubscription(ClientSubscriptions(identity),
                                        ctx_.events.subscriptions(),
                                        ctx_.events.watched_tasks(), status.tasks.size());
    if (!ok) {
      ReplyError(identity, req_id, ok.error());
      return false;
    }
  }
  ctx_.events.Subscribe(identity, status);
  ctx_.bus.WatchBatch(status.id);
  return true;
}

void ClientService::Reply(const std::string& identity, protocol::Reply reply) {
  // A client that is gone, or whose replies pile up unread at the high-water mark, holds
  // nothing here any more.
  if (ctx_.frontend.Deliver(identity, protocol::Encode(reply)) != RouterSocket::Delivery::kSent) {
    DropPeer(identity);
  }
}

void ClientService::AnswerWaiter(WaitTable::Waiter w) {
  quotas_.ReleaseWait(w.identity, w.ids.size());
  AnswerWithTasks(w.identity, w.req_id, std::move(w.ids), w.owner);
}

void ClientService::ReplyError(const std::string& identity, uint64_t req_id, const Error& error) {
  protocol::Reply reply;
  reply.req_id = req_id;
  reply.error = protocol::WireError{std::string(ErrorCodeName(error.code)), error.message};
  Reply(identity, std::move(reply));
}

void ClientService::OnBadMessage(const std::string& identity, const Error& error) {
  ++ctx_.counters.bad_frames;
  Log()->debug("refused a client frame: {}", error.ToString());
  ReplyError(identity, 0, error);
}

void ClientService::OnWorkerMessage(const std::string& identity, std::string_view command) {
  // req_id 0: a worker's message has none; the worker shows the REPLY's error.
  Reply(identity, wrong_port_.Refuse(command, 0, ctx_.backend.LastEndpoint()));
}

void ClientService::OnMessage(const std::string& identity, protocol::Message msg,
                              const std::string& user_id) {
  caller_ = ctx_.access.Identify(user_id);
  quotas_.SeenConnection(identity, user_id);
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, protocol::Submit> || std::is_same_v<T, protocol::Wait> ||
                      std::is_same_v<T, protocol::Get> || std::is_same_v<T, protocol::Cancel> ||
                      std::is_same_v<T, protocol::Stats> || std::is_same_v<T, protocol::Dlq> ||
                      std::is_same_v<T, protocol::Limit> || std::is_same_v<T, protocol::Batch> ||
                      std::is_same_v<T, protocol::Subscribe> ||
                      std::is_same_v<T, protocol::Complete> ||
                      std::is_same_v<T, protocol::Schedule> ||
                      std::is_same_v<T, protocol::QueueAdmin> ||
                      std::is_same_v<T, protocol::WorkerAdmin> ||
                      std::is_same_v<T, protocol::List> || std::is_same_v<T, protocol::Update>) {
          // The DLQ acts on every client's dead letters, LIMIT, QUEUE and WORKER on every
          // client's queues and workers, and schedules are the cluster's (anyone who may
          // change one may change them all): admins only. The rest are client verbs (an admin
          // may use them too, on everyone's tasks).
          Roles needed = std::is_same_v<T, protocol::Dlq> || std::is_same_v<T, protocol::Limit> ||
                                 std::is_same_v<T, protocol::Schedule> ||
                                 std::is_same_v<T, protocol::QueueAdmin> ||
                                 std::is_same_v<T, protocol::WorkerAdmin>
                             ? Roles{kRoleAdmin}
                             : Roles{kRoleClient | kRoleAdmin};
          if (auto allowed = ctx_.access.Require(caller_, needed,
                                                 protocol::CommandName(T::kCommand));
              !allowed) {
            ++ctx_.counters.forbidden;
            Log()->debug("refused {}: {}", protocol::CommandName(T::kCommand),
                         allowed.error().message);
            return ReplyError(identity, m.req_id, allowed.error());
          }
        }
        if constexpr (std::is_same_v<T, protocol::Submit>) {
          OnSubmit(identity, m);
        } else if constexpr (std::is_same_v<T, protocol::Wait>) {
          OnWait(identity, m);
        } else if constexpr (std::is_same_v<T, protocol::Get>) {
          OnGet(identity, m);
        } else if constexpr (std::is_same_v<T, protocol::Cancel>) {
          OnCancel(identity, m);
        } else if constexpr (std::is_same_v<T, protocol::Stats>) {
          OnStats(identity, m);
        } else if constexpr (std::is_same_v<T, protocol::Dlq>) {
          OnDlq(identity, m);
        } else if constexpr (std::is_same_v<T, protocol::Limit>) {
          OnLimit(identity, m);
        } else if constexpr (std::is_same_v<T, protocol::Schedule>) {
          OnSchedule(identity, m);
        } else if constexpr (std::is_same_v<T, protocol::List>) {
          OnList(identity, m);
        } else if constexpr (std::is_same_v<T, protocol::Update>) {
          OnUpdate(identity, m);
        } else if constexpr (std::is_same_v<T, protocol::QueueAdmin>) {
          OnQueueAdmin(identity, m);
        } else if constexpr (std::is_same_v<T, protocol::WorkerAdmin>) {
          OnWorkerAdmin(identity, m);
        } else if constexpr (std::is_same_v<T, protocol::Batch>) {
          OnBatch(identity, m);
        } else if constexpr (std::is_same_v<T, protocol::Subscribe>) {
          OnSubscribe(identity, m);
        } else if constexpr (std::is_same_v<T, protocol::Complete>) {
          OnComplete(identity, m);
        } else if constexpr (std::is_same_v<T, protocol::Ready> ||
                             std::is_same_v<T, protocol::Heartbeat> ||
                             std::is_same_v<T, protocol::Done> ||
                             std::is_same_v<T, protocol::Progress> ||
                             std::is_same_v<T, protocol::Bye>) {
          OnWorkerMessage(identity, protocol::CommandName(T::kCommand));
        } else {
          OnBadMessage(identity, Error{ErrorCode::kUnknownCommand,
                                       std::string(protocol::CommandName(T::kCommand)) +
                                           " is not a client command"});
        }
      },
      msg);
  caller_ = Principal{};
}

ServedElsewhere ClientService::ServedByOtherBrokers() const {
  // Reads the registry's entries in place: no copy of every remote worker per request, and
  // a capture small enough that the std::function does not allocate.
  return [this](const std::string& queue, const std::string& type) {
    const BrokerDirectory& dir = ctx_.directory;
    return std::any_of(dir.live().begin(), dir.live().end(), [&](const BrokerEntry& e) {
      return e.id != dir.id() &&
             std::any_of(e.workers.begin(), e.workers.end(), [&](const protocol::WorkerInfo& w) {
               return WorkerServes(w, queue, type);
             });
    });
  };
}

bool ClientService::RefuseNewWork(const std::string& identity, uint64_t req_id) {
  if (!accepting_) {
    ReplyError(identity, req_id,
               Error{ErrorCode::kBrokerUnavailable, "the broker is shutting down"});
    return true;
  }
  if (!ctx_.redis.ready()) {
    ReplyError(identity, req_id,
               Error{ErrorCode::kStoreUnavailable, "Redis is unreachable; nothing was accepted"});
    return true;
  }
  return false;
}

bool ClientService::RefuseForMemory(const std::string& identity, uint64_t req_id,
                                    const std::vector<protocol::TaskSpec>& tasks) {
  auto admitted = ctx_.memory.Admit(EstimateTaskBytes(tasks));
  if (admitted) return false;
  ReplyError(identity, req_id, admitted.error());
  return true;
}

bool ClientService::RefuseRequestId(const std::string& identity, uint64_t req_id,
                                    const std::string& request_id) {
  if (request_id.empty()) return false;  // none (old clients)
  auto valid = protocol::ValidateRequestId(request_id);
  if (valid) return false;
  ++ctx_.counters.bad_request_ids;
  Log()->debug("refused a request_id: {}", valid.error().message);
  ReplyError(identity, req_id, valid.error());
  return true;
}

void ClientService::OnSubmit(const std::string& identity, protocol::Submit& submit) {
  if (RefuseNewWork(identity, submit.req_id)) return;
  if (RefuseRequestId(identity, submit.req_id, submit.request_id)) return;
  // Checked here, alone: a SUBMIT the store would refuse must not join (and fail) the
  // turn's combined enqueue.
  if (auto valid = CheckSubmit(submit, ctx_.options); !valid) {
    ReplyError(identity, submit.req_id, valid.error());
    return;
  }
  if (RefuseForMemory(identity, submit.req_id, submit.tasks)) return;
  RequestKey request;
  if (!submit.request_id.empty()) {
    request.digest = RequestDigest(submit);  // before the broker gives the specs their ids
    request.id = std::move(submit.request_id);
  }
  for (auto& spec : submit.tasks) {
    spec.batch_id.clear();  // only BATCH makes batch members
    if (spec.id.empty()) spec.id = NewId();
  }
  // For its reply: task types no connected worker serves.
  auto warnings = UnservedTypeWarnings(ctx_.workers, submit.tasks, ServedByOtherBrokers());
  if (submit.notify) {
    // Announced before the tasks are stored, so whichever broker ends them knows of it.
    for (const auto& spec : submit.tasks) ctx_.bus.WatchTask(spec.id);
  }
  // Stored with the turn's other SUBMITs at its end; answered once Redis has the tasks.
  ctx_.lifecycle.Submit(
      std::move(submit.tasks), caller_.key,
      [this, identity, req_id = submit.req_id, notify = submit.notify,
       warnings = std::move(warnings)](Result<std::span<const EnqueueOutcome>> r) {
        if (!r) return ReplyError(identity, req_id, r.error());
        protocol::Reply reply;
        reply.req_id = req_id;
        if (std::any_of(r->begin(), r->end(), [](const EnqueueOutcome& o) { return o.replayed; })) {
          ++ctx_.counters.request_replays;
          Log()->debug("a resent SUBMIT: answered with the first reply's {} ids", r->size());
        }
        for (size_t i = 0; i < r->size(); ++i) {
          const auto& item = (*r)[i];
          if (item.error && !reply.error) {
            reply.error =
                protocol::WireError{std::string(ErrorCodeName(item.error->code)),
                                    "tasks[" + std::to_string(i) + "]: " + item.error->message};
          }
          reply.ids.push_back(item.error ? std::string() : item.id);
          if (notify && !item.error && waiters_.Notify(item.id, identity)) {
            // An idempotent resubmit of a task that already ended: nothing will end it again.
            if (item.duplicate && protocol::IsTerminal(item.state)) {
              waiters_.TaskEnded(item.id, nullptr);
            }
          }
        }
        reply.count = static_cast<uint32_t>(reply.ids.size());
        if (!reply.error) reply.warnings = warnings;
        Reply(identity, std::move(reply));
      },
      std::move(request));
}

void ClientService::EndTurn() {
  FlushResults();
  int64_t now = ctx_.clock.MonotonicMs();
  for (auto& w : waiters_.TakeExpired(now)) AnswerWaiter(std::move(w));
}

void ClientService::GetChunked(std::vector<std::string> ids, TasksCallback cb,
                               const std::string& owner) {
  if (ids.size() <= kGetChunk) {
    Reads().Get(std::move(ids), std::move(cb), owner);
    return;
  }
  // One chunk at a time: the next is sent when the previous one is answered, so Redis runs
  // other connections' commands (SUBMITs, claims, DONEs) between the chunks of a large read
  // instead of after all of them.
  auto get = std::make_shared<ChunkedGet>();  // co-owned by the chunk in flight
  get->ids = std::move(ids);
  get->owner = owner;
  get->cb = std::move(cb);
  GetNextChunk(std::move(get));
}

void ClientService::GetNextChunk(std::shared_ptr<ChunkedGet> get) {
  size_t end = std::min(get->ids.size(), get->next + kGetChunk);
  std::vector<std::string> chunk(get->ids.begin() + get->next, get->ids.begin() + end);
  get->next = end;
  Reads().Get(
      std::move(chunk),
      [this, get](Result<std::vector<std::optional<protocol::TaskInfo>>> r) {
        if (!r) return get->cb(std::unexpected(r.error()));
        for (auto& t : *r) get->tasks.push_back(std::move(t));
        if (get->next < get->ids.size()) return GetNextChunk(get);
        get->cb(std::move(get->tasks));
      },
      get->owner);
}

void ClientService::AnswerWithTasks(const std::string& identity, uint64_t req_id,
                                    std::vector<std::string> ids, const std::string& owner) {
  auto asked = ids;
  GetChunked(std::move(ids), [this, identity, req_id, asked = std::move(asked)](
                                 Result<std::vector<std::optional<protocol::TaskInfo>>> r) {
    if (!r) {
      ReplyError(identity, req_id, r.error());
      return;
    }
    protocol::Reply reply;
    reply.req_id = req_id;
    for (size_t i = 0; i < asked.size(); ++i) {
      bool have = i < r->size() && (*r)[i].has_value();
      reply.tasks.push_back(have ? std::move(*(*r)[i]) : UnknownTask(asked[i]));
    }
    Reply(identity, std::move(reply));
  }, owner);
}

void ClientService::OnWait(const std::string& identity, protocol::Wait& wait) {
  if (wait.ids.empty() || wait.ids.size() > kMaxIdsPerRequest) {
    ReplyError(identity, wait.req_id,
               Error{ErrorCode::kInvalidArgument, "ids: must hold 1 to 10000 task ids"});
    return;
  }
  // Counted from now until it is answered: its ids are held while they are read, too.
  if (auto admitted = quotas_.AdmitWait(identity, wait.ids.size()); !admitted) {
    ReplyError(identity, wait.req_id, admitted.error());
    return;
  }
  auto ids = wait.ids;
  int64_t deadline = ctx_.clock.MonotonicMs() + wait.timeout_ms;
  std::string owner = OwnerFilter();
  waiters_.ReadStarted();
  GetChunked(std::move(ids), [this, identity, req_id = wait.req_id, asked = wait.ids, deadline,
                              owner, progress = wait.progress](
                                 Result<std::vector<std::optional<protocol::TaskInfo>>> r) {
    // Tasks that ended while this read was in flight (it runs on the read connection, so it
    // may have read them before their DONE was recorded on the other one) count as settled.
    struct ReadDone {
      TaskWaiters& waiters;
      ~ReadDone() { waiters.ReadFinished(); }
    } read_done{waiters_};
    if (!r) {
      quotas_.ReleaseWait(identity, asked.size());
      ReplyError(identity, req_id, r.error());
      return;
    }
    WaitTable::Waiter w{identity, req_id, asked, {}, deadline, owner, progress};
    bool read_too_early = false;  // true iff a task read as running has ended since
    for (size_t i = 0; i < asked.size(); ++i) {
      // Unknown ids count as settled: waiting for them could never end.
      if (i < r->size() && (*r)[i] && !protocol::IsTerminal((*r)[i]->state)) {
        if (waiters_.EndedDuringReads(asked[i])) {
          read_too_early = true;
        } else {
          w.pending.insert(asked[i]);
        }
      }
    }
    if (w.pending.empty() && read_too_early) {
      // Settled, but this read predates an end: answer with a fresh read.
      quotas_.ReleaseWait(identity, asked.size());
      AnswerWithTasks(identity, req_id, asked, owner);
      return;
    }
    if (w.pending.empty() || deadline <= ctx_.clock.MonotonicMs()) {
      quotas_.ReleaseWait(identity, asked.size());
      protocol::Reply reply;
      reply.req_id = req_id;
      for (size_t i = 0; i < asked.size(); ++i) {
        bool have = i < r->size() && (*r)[i].has_value();
        reply.tasks.push_back(have ? std::move(*(*r)[i]) : UnknownTask(asked[i]));
      }
      Reply(identity, std::move(reply));
      return;
    }
    // Its client left while the ids were read: nothing to hold for it.
    if (!ctx_.client_peers.Connected(identity)) {
      quotas_.ReleaseWait(identity, asked.size());
      return;
    }
    for (const auto& id : w.pending) ctx_.bus.WatchTask(id);
    waiters_.AddWait(std::move(w));
  }, owner);
}

void ClientService::FlushResults() {
  auto results = waiters_.TakeResultsToRead();
  if (results.empty()) return;
  std::vector<std::string> ids;
  ids.reserve(results.size());
  for (const auto& [id, identity] : results) ids.push_back(id);
  GetChunked(std::move(ids), [this, results = std::move(results)](
                                 Result<std::vector<std::optional<protocol::TaskInfo>>> r) {
    if (!r) return;
    for (size_t i = 0; i < results.size() && i < r->size(); ++i) {
      if (!(*r)[i]) continue;
      ctx_.frontend.Send(results[i].second,
                         protocol::Encode(protocol::ResultMsg{std::move(*(*r)[i])}));
    }
  });
}

void ClientService::OnTick() {
  int64_t now = ctx_.clock.MonotonicMs();
  if (now < next_recheck_ms_ || (waiters_.waits() == 0 && waiters_.notified().empty())) return;
  next_recheck_ms_ = now + kRecheckIntervalMs;
  // Results recorded through another broker (or whose reply was lost) end waits and
  // notifications here.
  auto pending = waiters_.PendingIds();
  for (const auto& [id, identity] : waiters_.notified()) {
    if (pending.size() >= recheck_offset_ + kRecheckIds) break;
    pending.push_back(id);
  }
  if (recheck_offset_ >= pending.size()) recheck_offset_ = 0;
  size_t end = std::min(pending.size(), recheck_offset_ + kRecheckIds);
  std::vector<std::string> ids(pending.begin() + recheck_offset_, pending.begin() + end);
  recheck_offset_ = end;
  auto asked = ids;
  GetChunked(std::move(ids), [this, asked = std::move(asked)](
                                 Result<std::vector<std::optional<protocol::TaskInfo>>> r) {
    if (!r) return;
    for (size_t i = 0; i < asked.size() && i < r->size(); ++i) {
      if (!(*r)[i] || protocol::IsTerminal((*r)[i]->state)) {
        waiters_.TaskEnded(asked[i], nullptr);
        ctx_.bus.Unwatch(asked[i]);
      }
    }
  });
}

void ClientService::OnGet(const std::string& identity, protocol::Get& get) {
  if (!get.batch_id.empty()) {
    Reads().GetBatch(
        get.batch_id,
        [this, identity, req_id = get.req_id,
         id = get.batch_id](Result<std::optional<protocol::BatchStatus>> r) {
          if (!r) return ReplyError(identity, req_id, r.error());
          if (!*r)
            return ReplyError(identity, req_id, Error{ErrorCode::kNotFound, "no batch " + id});
          protocol::Reply reply;
          reply.req_id = req_id;
          reply.batch = std::move(**r);
          Reply(identity, std::move(reply));
        },
        OwnerFilter());
    return;
  }
  if (get.ids.empty() || get.ids.size() > kMaxIdsPerRequest) {
    ReplyError(identity, get.req_id,
               Error{ErrorCode::kInvalidArgument, "ids: must hold 1 to 10000 task ids"});
    return;
  }
  AnswerWithTasks(identity, get.req_id, std::move(get.ids), OwnerFilter());
}

void ClientService::OnCancel(const std::string& identity, protocol::Cancel& cancel) {
  std::string reason = cancel.reason.empty() ? "cancelled" : cancel.reason;
  std::string owner = OwnerFilter();
  if (!cancel.batch_id.empty()) {
    // The batch's unfinished tasks: its members are listed in its status.
    Reads().GetBatch(
        cancel.batch_id, [this, identity, req_id = cancel.req_id, reason, id = cancel.batch_id,
                          owner](Result<std::optional<protocol::BatchStatus>> r) {
          if (!r) return ReplyError(identity, req_id, r.error());
          if (!*r)
            return ReplyError(identity, req_id, Error{ErrorCode::kNotFound, "no batch " + id});
          std::vector<std::string> ids;
          for (const auto& [name, task_id] : (*r)->tasks) ids.push_back(task_id);
          CancelIds(identity, req_id, std::move(ids), reason, owner, id);
        },
        owner);
    return;
  }
  if (cancel.ids.empty() || cancel.ids.size() > kMaxIdsPerRequest) {
    ReplyError(identity, cancel.req_id,
               Error{ErrorCode::kInvalidArgument, "ids: must hold 1 to 10000 task ids"});
    return;
  }
  CancelIds(identity, cancel.req_id, std::move(cancel.ids), reason, owner);
}

void ClientService::OnComplete(const std::string& identity, protocol::Complete& complete) {
  if (complete.output.size() > ctx_.options.max_output_bytes) {
    return ReplyError(identity, complete.req_id,
                      Error{ErrorCode::kInvalidArgument,
                            "output: " + std::to_string(complete.output.size()) +
                                " bytes is over the broker's limit of " +
                                std::to_string(ctx_.options.max_output_bytes) +
                                " (--max-output-bytes)"});
  }
  std::string task_id = complete.task_id;
  uint64_t req_id = complete.req_id;
  ctx_.lifecycle.Complete(
      std::move(complete), [this, identity, req_id, task_id](Result<FinishOutcome> r) {
        if (r) {
          if (auto verdict = CompletionVerdict(*r); !verdict) {
            r = std::unexpected(verdict.error());
          }
        }
        if (!r) {
          Log()->debug("COMPLETE of task {} refused: {}", task_id, r.error().message);
          return ReplyError(identity, req_id, r.error());
        }
        protocol::Reply reply;
        reply.req_id = req_id;
        reply.ids.push_back(task_id);
        reply.count = 1;
        Reply(identity, std::move(reply));
      });
}

void ClientService::CancelIds(const std::string& identity, uint64_t req_id,
                              std::vector<std::string> ids, const std::string& reason,
                              const std::string& owner, const std::string& batch) {
  // The lifecycle layer publishes what changed (ends, batch counts, workers to tell).
  ctx_.lifecycle.Cancel(
      std::move(ids), reason, owner,
      [this, identity, req_id](Result<CancelResult> r) {
    if (!r) return ReplyError(identity, req_id, r.error());
    protocol::Reply reply;
    reply.req_id = req_id;
    for (const auto& item : r->items) {
      if (item.status == CancelStatus::kCancelled ||
          item.status == CancelStatus::kCancelRequested) {
        reply.ids.push_back(item.task_id);
      }
      // Still running: it ends cancelled once its worker confirms (no GET needed to know).
      if (item.status == CancelStatus::kCancelRequested) reply.requested.push_back(item.task_id);
    }
    reply.count = static_cast<uint32_t>(reply.ids.size());
    Reply(identity, std::move(reply));
      },
      batch);
}

void ClientService::OnStats(const std::string& identity, const protocol::Stats& stats) {
  stats_pages_.Answer(stats, [this, identity, req_id = stats.req_id](Result<protocol::Reply> r) {
    if (!r) return ReplyError(identity, req_id, r.error());
    r->req_id = req_id;
    Reply(identity, std::move(*r));
  });
}

void ClientService::OnDlq(const std::string& identity, protocol::Dlq& dlq) {
  uint32_t limit = std::clamp<uint32_t>(dlq.limit, 1, 10000);
  auto reply_ids = [this, identity, req_id = dlq.req_id](Result<std::vector<std::string>> r) {
    if (!r) return ReplyError(identity, req_id, r.error());
    protocol::Reply reply;
    reply.req_id = req_id;
    reply.count = static_cast<uint32_t>(r->size());
    reply.ids = std::move(*r);
    Reply(identity, std::move(reply));
  };
  switch (dlq.op) {
    case protocol::DlqOp::kList:
      ctx_.store.DeadList(
          dlq.queue, limit,
          [this, identity, req_id = dlq.req_id](Result<std::vector<protocol::TaskInfo>> r) {
            if (!r) return ReplyError(identity, req_id, r.error());
            protocol::Reply reply;
            reply.req_id = req_id;
            reply.tasks = std::move(*r);
            reply.count = static_cast<uint32_t>(reply.tasks.size());
            Reply(identity, std::move(reply));
          });
      break;
    case protocol::DlqOp::kRetry:
      ctx_.lifecycle.RetryDead(dlq.queue, std::move(dlq.ids), limit, reply_ids);
      break;
    case protocol::DlqOp::kPurge:
      ctx_.store.DeadPurge(dlq.queue, std::move(dlq.ids), limit, reply_ids);
      break;
  }
}

}  // namespace taskmill::broker
