#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "service/authz.h"
#include "service/broker_context.h"
#include "service/quotas.h"
#include "service/stats_pages.h"
#include "service/task_waiters.h"
#include "service/unserved_types.h"
#include "service/wait_table.h"
#include "service/wrong_port.h"
#include "taskmill/shared/protocol/messages.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::broker {

// The client side of the broker, a protocol adapter: SUBMIT, BATCH, WAIT, GET, CANCEL,
// SUBSCRIBE, STATS, DLQ, SCHEDULE. It decodes, authorises, validates (request_checks.h, the one place a
// request is checked), calls the lifecycle layer (submits, cancels, dead-letter retries) or
// reads the store, and encodes the reply. Every request gets exactly one REPLY, an error one
// included. SUBMITs arriving in one reactor turn are stored with one store call at the turn's
// end (TaskLifecycle); a SUBMIT is answered only once Redis has the tasks. WAITs and RESULT
// pushes are settled by TaskWaiters, which subscribes to the layer's TaskEnded.
// Thread: the reactor thread. Owner: the Broker's runtime.
class ClientService {
 public:
  explicit ClientService(BrokerContext& ctx, QuotaLimits quotas = {});

  // `user_id`: the connection's ZAP user id (CURVE key), "" without CURVE; its roles decide
  // what the request may do (authz.h), and non-admins see only their own tasks and batches.
  void OnMessage(const std::string& identity, protocol::Message msg,
                 const std::string& user_id = "");
  // A frame the decoder refused: answered with an error (req_id 0: it could not be read).
  void OnBadMessage(const std::string& identity, const Error& error);
  // Pushes this turn's RESULTs that must be read back; answers expired WAITs.
  void EndTurn();
  // Expired WAITs are answered; every second, waited-on tasks are re-read (a task finished
  // through another broker is seen here).
  void OnTick();
  // Stop taking new work (shutdown); reads are still answered.
  void StopAccepting() { accepting_ = false; }
  // A client went away (its connection closed) or stopped reading its replies: its WAITs
  // and subscriptions are dropped, so nothing it asked for outlives it.
  void DropPeer(const std::string& identity);
  // The STATS "broker" section as of now.
  protocol::BrokerStats BrokerSection() const;
  const ClientQuotas& quotas() const { return quotas_; }

 private:
  // For a reply's unserved-type warnings: whether a worker of another live broker serves a
  // (queue, type), from the registry's last read; asked only for pairs no local worker serves.
  ServedElsewhere ServedByOtherBrokers() const;
  // Answers with an error and returns true while new work cannot be taken (shutting down,
  // or Redis unreachable: nothing may be acknowledged that is not stored).
  bool RefuseNewWork(const std::string& identity, uint64_t req_id);
  // Answers store_full and returns true while Redis is too near its maxmemory for `tasks`
  // (MemoryGuard): the room left is kept for the tasks already accepted.
  // A request_id that is set and not 1..64 printable ASCII bytes: refused (invalid_argument)
  // and counted (bad_request_ids). Returns true iff it replied.
  bool RefuseRequestId(const std::string& identity, uint64_t req_id,
                       const std::string& request_id);
  bool RefuseForMemory(const std::string& identity, uint64_t req_id,
                       const std::vector<protocol::TaskSpec>& tasks);
  void OnSubmit(const std::string& identity, protocol::Submit& submit);
  void OnWait(const std::string& identity, protocol::Wait& wait);
  void OnGet(const std::string& identity, protocol::Get& get);
  void OnBatch(const std::string& identity, protocol::Batch& batch);
  // A checked BATCH with append_to: the batch read (owner filter: the batch's owner or an
  // admin), its names given to ResolveBatch, the new tasks stored by enqueue.lua, which
  // judges again, atomically, whether the batch still takes them.
  void AppendToBatch(const std::string& identity, protocol::Batch& batch, RequestKey request,
                     std::vector<std::string> warnings);
  // A BATCH whose request_id was seen: answered with the first call's batch, read again
  // (`owner`: the caller's owner filter); subscribed here too when asked.
  void ReplayBatch(const std::string& identity, uint64_t req_id, bool subscribe,
                   std::string batch_id, std::vector<std::string> warnings,
                   const std::string& owner);
  void OnSubscribe(const std::string& identity, const protocol::Subscribe& subscribe);
  void OnCancel(const std::string& identity, protocol::Cancel& cancel);
  // `batch`: a CANCEL of that batch, `ids` its members (Store::Cancel).
  void CancelIds(const std::string& identity, uint64_t req_id, std::vector<std::string> ids,
                 const std::string& reason, const std::string& owner,
                 const std::string& batch = "");
  void OnStats(const std::string& identity, const protocol::Stats& stats);
  void OnDlq(const std::string& identity, protocol::Dlq& dlq);
  void OnComplete(const std::string& identity, protocol::Complete& complete);
  // LIMIT (client_limit.cc): checks the setting (limit_spec.h), then stores it.
  void OnLimit(const std::string& identity, protocol::Limit& limit);
  // SCHEDULE list/add/pause/resume/remove (schedule_requests.cc).
  void OnSchedule(const std::string& identity, protocol::Schedule& req);
  // LIST of tasks or batches, UPDATE of a waiting task (list_requests.cc).
  void OnList(const std::string& identity, protocol::List& req);
  void OnUpdate(const std::string& identity, protocol::Update& req);
  // QUEUE pause/resume and WORKER quiet/unquiet (admin_requests.cc).
  void OnQueueAdmin(const std::string& identity, const protocol::QueueAdmin& req);
  void OnWorkerAdmin(const std::string& identity, const protocol::WorkerAdmin& req);
  // Reads this turn's finished notify tasks in one chunked call and pushes their RESULTs.
  void FlushResults();
  using TasksCallback = std::function<void(Result<std::vector<std::optional<protocol::TaskInfo>>>)>;
  // Store::Get in chunks of kGetChunk ids, so one large WAIT or GET cannot hold Redis for
  // long; `cb` gets every result in order (or the first error) after the last chunk.
  // `owner`: as Store::Get ("" = every task).
  void GetChunked(std::vector<std::string> ids, TasksCallback cb, const std::string& owner = "");
  struct ChunkedGet {
    std::vector<std::string> ids;
    std::string owner;
    size_t next = 0;  // index of the first id of the next chunk
    std::vector<std::optional<protocol::TaskInfo>> tasks;
    TasksCallback cb;
  };
  void GetNextChunk(std::shared_ptr<ChunkedGet> get);
  // Reads `ids` and answers `req_id` with their TaskInfo.
  void AnswerWithTasks(const std::string& identity, uint64_t req_id, std::vector<std::string> ids,
                       const std::string& owner = "");
  void Reply(const std::string& identity, protocol::Reply reply);
  // Answers a WAIT that leaves the table (all settled, expired) and releases its quota.
  void AnswerWaiter(WaitTable::Waiter w);
  // The store expensive reads go to: BrokerContext::read_store, or the main one while the
  // read connection is down (just started, or reconnecting).
  Store& Reads() { return ctx_.read_store.ready() ? ctx_.read_store : ctx_.store; }
  // Subscribes `identity` to a running batch within the quotas; false (and an error reply
  // to req_id) when a quota refuses it.
  bool SubscribeWithinQuota(const std::string& identity, uint64_t req_id,
                            const protocol::BatchStatus& status);
  // Batches the client of `identity` subscribes to, over all its key's connections.
  uint64_t ClientSubscriptions(const std::string& identity) const;
  void ReplyError(const std::string& identity, uint64_t req_id, const Error& error);
  // A worker's message on this (client) port: counted, warned about (rate-limited) and
  // answered with an error naming the worker port.
  void OnWorkerMessage(const std::string& identity, std::string_view command);

  BrokerContext& ctx_;
  TaskWaiters waiters_;  // WAITs and RESULT notify; subscribed to ctx_.lifecycle
  ClientQuotas quotas_;
  StatsPages stats_pages_;
  WrongPortGuard wrong_port_;  // worker messages on the client port
  int64_t next_recheck_ms_ = 0;  // monotonic ms of the next re-read
  size_t recheck_offset_ = 0;    // where the next re-read pass starts
  bool accepting_ = true;        // false once shutting down
  // The sender of the message OnMessage is handling (set for that call only): the owner its
  // SUBMIT or BATCH stores, and the owner filter of its reads and cancels.
  Principal caller_;
  std::string OwnerFilter() const { return AccessPolicy::OwnerFilter(caller_); }
};

}  // namespace taskmill::broker
