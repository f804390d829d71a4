// QUEUE (pause/resume) and WORKER (quiet/unquiet): admin verbs over state kept in Redis
// (queue_pause.lua, worker_quiet.lua), so every broker on the same Redis and prefix, and a
// restarted one, sees it; the cluster bus makes the other brokers act at once
// (docs/architecture.md, "Pausing queues and quieting workers").

#include "cluster/broker_directory.h"
#include "cluster/cluster_bus.h"
#include "dispatch/worker_registry.h"
#include "service/client_service.h"
#include "taskmill/shared/log.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::broker {
namespace {

auto Log() {
  static auto log = Logger("broker.clients");
  return log;
}

}  // namespace

void ClientService::OnQueueAdmin(const std::string& identity, const protocol::QueueAdmin& req) {
  if (auto ok = protocol::ValidateName(req.queue, "queue"); !ok) {
    ++ctx_.counters.bad_admin;
    Log()->debug("QUEUE refused: {}", ok.error().message);
    return ReplyError(identity, req.req_id, ok.error());
  }
  bool pause = req.op == protocol::QueueOp::kPause;
  ctx_.store.SetQueuePaused(
      req.queue, pause,
      [this, identity, req_id = req.req_id, queue = req.queue](Result<bool> r) {
        if (!r) return ReplyError(identity, req_id, r.error());
        Log()->info("queue {} {}", queue, *r ? "paused" : "resumed");
        if (!*r) {
          // Its tasks may be claimed again: this broker's idle workers claim at the end of
          // this turn, the other brokers' as soon as the bus reaches them.
          ctx_.workers.WakeQueue(queue);
          ctx_.bus.PublishAdmin("queue_resumed", queue);
        }
        protocol::Reply reply;
        reply.req_id = req_id;
        protocol::QueueStats q;
        q.queue = queue;
        q.paused = *r;
        reply.queues.push_back(std::move(q));
        reply.count = 1;
        Reply(identity, std::move(reply));
      });
}

void ClientService::OnWorkerAdmin(const std::string& identity,
                                  const protocol::WorkerAdmin& req) {
  auto refuse = [&](const Error& e) {
    ++ctx_.counters.bad_admin;
    Log()->debug("WORKER refused: {}", e.message);
    ReplyError(identity, req.req_id, e);
  };
  if (auto ok = protocol::ValidateName(req.worker, "worker"); !ok) return refuse(ok.error());
  bool quiet = req.op == protocol::WorkerOp::kQuiet;
  // Which live broker holds it: this one, or one of the registry's (as last read, < 1 s old).
  std::string broker;
  if (ctx_.workers.FindById(req.worker) != nullptr) {
    broker = ctx_.directory.id();
  } else {
    for (const auto& w : ctx_.directory.OtherWorkers()) {
      if (w.id == req.worker) broker = w.broker;
    }
  }
  // Quiet needs a live worker (a typo would otherwise quiet nobody, silently, for a day);
  // unquiet clears the record whatever it finds, so a gone worker's record can be removed.
  if (quiet && broker.empty()) {
    return refuse(Error{ErrorCode::kNotFound,
                        "no live broker knows worker '" + req.worker +
                            "' (`taskmill stats` lists the connected workers)"});
  }
  ctx_.store.SetWorkerQuiet(
      req.worker, quiet, Store::kQuietTtlMs,
      [this, identity, req_id = req.req_id, worker = req.worker,
       broker = std::move(broker)](Result<bool> r) {
        if (!r) return ReplyError(identity, req_id, r.error());
        Log()->info("worker {} {}", worker, *r ? "quiet" : "unquiet");
        ctx_.workers.SetQuiet(worker, *r);
        ctx_.bus.PublishAdmin(*r ? "worker_quiet" : "worker_unquiet", worker);
        protocol::Reply reply;
        reply.req_id = req_id;
        protocol::WorkerInfo w;
        w.id = worker;
        w.broker = broker;
        w.quiet = *r;
        reply.workers.push_back(std::move(w));
        reply.count = 1;
        Reply(identity, std::move(reply));
      });
}

}  // namespace taskmill::broker
