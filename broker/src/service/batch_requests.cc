// BATCH and SUBSCRIBE: a DAG batch stored in one call (enqueue.lua), a resent BATCH answered
// from its first call, and batch subscriptions (events from this and every other broker).

#include <memory>

#include "cluster/cluster_bus.h"
#include "lifecycle/task_lifecycle.h"
#include "net/peer_watch.h"
#include "service/batch_events.h"
#include "service/client_service.h"
#include "service/request_checks.h"
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

// The first item error of an all-or-nothing batch call, as the reply names it.
std::optional<Error> ItemError(const EnqueueResult& r) {
  for (size_t i = 0; i < r.items.size(); ++i) {
    if (r.items[i].error) {
      return Error{r.items[i].error->code,
                   "batch.tasks[" + std::to_string(i) + "]: " + r.items[i].error->message};
    }
  }
  return std::nullopt;
}

}  // namespace

void ClientService::OnBatch(const std::string& identity, protocol::Batch& batch) {
  if (RefuseNewWork(identity, batch.req_id)) return;
  if (RefuseRequestId(identity, batch.req_id, batch.request_id)) return;
  RequestKey request;
  if (!batch.request_id.empty()) {
    request.digest = RequestDigest(batch);  // as sent: before labels merge and ids are given
    request.id = std::move(batch.request_id);
  }
  auto& spec = batch.batch;
  // Also merges the batch labels into its tasks, once they and the result are checked.
  if (auto valid = CheckBatch(spec, ctx_.options); !valid) {
    return ReplyError(identity, batch.req_id, valid.error());
  }
  if (RefuseForMemory(identity, batch.req_id, spec.tasks)) return;
  if (batch.subscribe) {
    // Judged before the batch exists, so a refusal leaves nothing behind.
    auto ok = quotas_.AdmitSubscription(ClientSubscriptions(identity),
                                        ctx_.events.subscriptions(),
                                        ctx_.events.watched_tasks(), spec.tasks.size());
    if (!ok) return ReplyError(identity, batch.req_id, ok.error());
  }
  auto warnings = UnservedTypeWarnings(ctx_.workers, spec.tasks, ServedByOtherBrokers());
  if (!spec.append_to.empty()) {
    return AppendToBatch(identity, batch, std::move(request), std::move(warnings));
  }
  protocol::CostMap budget = spec.budget;
  std::string on_failure = spec.on_failure;
  std::optional<protocol::TaskSpec> finally = std::move(spec.finally);
  if (finally && finally->id.empty()) finally->id = NewId();
  auto resolved = ResolveBatch(std::move(spec));
  if (!resolved) return ReplyError(identity, batch.req_id, resolved.error());
  protocol::BatchStatus status;
  status.id = resolved->batch_id;
  status.state = "running";
  status.total = static_cast<uint32_t>(resolved->tasks.size());
  status.tasks = resolved->ids_by_name;
  status.budget = std::move(budget);
  status.on_failure = on_failure;
  if (finally) status.finally_id = finally->id;
  // Arguments are evaluated in no set order: take what the call needs before the callback
  // captures `status` by move.
  std::string batch_id = resolved->batch_id;
  BatchSettings settings(status.budget);
  settings.on_failure = std::move(on_failure);
  settings.finally = std::move(finally);
  if (batch.subscribe) {
    // Announced before the batch is stored (SubmitBatch writes it now, not at the turn's
    // end), so a broker whose worker starts a task at once already knows who watches it.
    ctx_.bus.WatchBatch(batch_id);
    ctx_.bus.FlushWatches();
  }
  ctx_.lifecycle.SubmitBatch(
      std::move(batch_id), std::move(settings), std::move(resolved->tasks), caller_.key,
      [this, identity, req_id = batch.req_id, subscribe = batch.subscribe,
       status = std::move(status), owner = OwnerFilter(),
       warnings = std::move(warnings)](Result<EnqueueResult> r) mutable {
        if (!r) return ReplyError(identity, req_id, r.error());
        if (!r->replayed_batch.empty()) {
          return ReplayBatch(identity, req_id, subscribe, std::move(r->replayed_batch),
                             std::move(warnings), owner);
        }
        if (auto e = ItemError(*r)) return ReplyError(identity, req_id, *e);
        for (const auto& b : r->batches) {
          if (b.id != status.id) continue;
          auto names = std::move(status.tasks);
          status = b;
          status.tasks = std::move(names);
        }
        if (subscribe) ctx_.events.Subscribe(identity, status);
        protocol::Reply reply;
        reply.req_id = req_id;
        reply.batch = status;
        reply.warnings = std::move(warnings);
        Reply(identity, std::move(reply));
        ctx_.events.BatchStarted(status);
      },
      std::move(request));
}

void ClientService::AppendToBatch(const std::string& identity, protocol::Batch& batch,
                                  RequestKey request, std::vector<std::string> warnings) {
  std::string batch_id = batch.batch.append_to;
  Reads().GetOwnedBatch(
      batch_id,
      [this, identity, req_id = batch.req_id, subscribe = batch.subscribe,
       spec = std::move(batch.batch), request = std::move(request), owner = OwnerFilter(),
       warnings = std::move(warnings)](Result<std::optional<OwnedBatch>> r) mutable {
        if (!r) return ReplyError(identity, req_id, r.error());
        if (!*r) {
          return ReplyError(identity, req_id,
                            Error{ErrorCode::kNotFound, "no batch " + spec.append_to});
        }
        protocol::BatchStatus status = std::move((*r)->status);
        // The new tasks are the batch owner's, also when an admin appends them.
        std::string batch_owner = std::move((*r)->owner);
        if (status.state != "running") {
          return ReplyError(identity, req_id,
                            Error{ErrorCode::kConflict, "batch " + status.id + " has ended (" +
                                                            status.state +
                                                            "): no tasks can be added"});
        }
        auto resolved = ResolveBatch(std::move(spec), status.tasks);
        if (!resolved) return ReplyError(identity, req_id, resolved.error());
        BatchSettings settings;
        settings.append = true;
        settings.append_max = ctx_.options.max_batch_tasks;
        for (const auto& [name, id] : resolved->ids_by_name) status.tasks[name] = id;
        std::string id = status.id;
        ctx_.lifecycle.SubmitBatch(
            std::move(id), std::move(settings), std::move(resolved->tasks), std::move(batch_owner),
            [this, identity, req_id, subscribe, status = std::move(status), owner,
             warnings = std::move(warnings)](Result<EnqueueResult> stored) mutable {
              if (!stored) return ReplyError(identity, req_id, stored.error());
              if (!stored->replayed_batch.empty()) {
                return ReplayBatch(identity, req_id, subscribe,
                                   std::move(stored->replayed_batch), std::move(warnings), owner);
              }
              if (auto e = ItemError(*stored)) return ReplyError(identity, req_id, *e);
              for (const auto& b : stored->batches) {
                if (b.id != status.id) continue;
                auto names = std::move(status.tasks);
                status = b;
                status.tasks = std::move(names);
              }
              // Watchers here learn the new names at once (those on other brokers when the
              // batch's new total reaches them: BatchEvents::BatchesChanged).
              ctx_.events.TasksAdded(status);
              if (subscribe) ctx_.events.Subscribe(identity, status);
              protocol::Reply reply;
              reply.req_id = req_id;
              reply.batch = std::move(status);
              reply.warnings = std::move(warnings);
              Reply(identity, std::move(reply));
            },
            std::move(request));
      },
      OwnerFilter());
}

void ClientService::ReplayBatch(const std::string& identity, uint64_t req_id, bool subscribe,
                                std::string batch_id, std::vector<std::string> warnings,
                                const std::string& owner) {
  ++ctx_.counters.request_replays;
  Log()->debug("a resent BATCH: answered with batch {} of the first call", batch_id);
  Reads().GetBatch(
      batch_id,
      [this, identity, req_id, subscribe, batch_id,
       warnings = std::move(warnings)](Result<std::optional<protocol::BatchStatus>> r) mutable {
        if (!r) return ReplyError(identity, req_id, r.error());
        if (!*r) {
          return ReplyError(identity, req_id,
                            Error{ErrorCode::kNotFound, "this request_id stored batch " +
                                                            batch_id + ", which is gone"});
        }
        // Subscribed again here: the resend may come through another broker than the first.
        if (subscribe && (*r)->state == "running" && ctx_.client_peers.Connected(identity)) {
          ctx_.events.Subscribe(identity, **r);
        }
        protocol::Reply reply;
        reply.req_id = req_id;
        reply.batch = std::move(**r);
        reply.warnings = std::move(warnings);
        Reply(identity, std::move(reply));
      },
      owner);
}

void ClientService::OnSubscribe(const std::string& identity, const protocol::Subscribe& sub) {
  if (sub.unsubscribe) {
    ctx_.events.Unsubscribe(identity, sub.batch_id);
    protocol::Reply reply;
    reply.req_id = sub.req_id;
    return Reply(identity, std::move(reply));
  }
  Reads().GetBatch(
      sub.batch_id,
      [this, identity, req_id = sub.req_id,
       id = sub.batch_id](Result<std::optional<protocol::BatchStatus>> r) {
        if (!r) return ReplyError(identity, req_id, r.error());
        if (!*r) return ReplyError(identity, req_id, Error{ErrorCode::kNotFound, "no batch " + id});
        // A batch already over is answered with its final state; no events will follow.
        bool gone = !ctx_.client_peers.Connected(identity);
        if ((*r)->state == "running" && !gone && !SubscribeWithinQuota(identity, req_id, **r)) {
          return;
        }
        protocol::Reply reply;
        reply.req_id = req_id;
        reply.batch = std::move(**r);
        Reply(identity, std::move(reply));
      },
      OwnerFilter());
}

}  // namespace taskmill::broker
