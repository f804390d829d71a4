#include "taskmill/client/client.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "connection.h"
#include "taskmill/client/batch_file.h"
#include "taskmill/shared/ids.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::client {
namespace {

// Pages one Stats() call reads at most (1,000 entries each: ten million queues and workers).
constexpr int kMaxStatsPages = 10'000;
// Task ids one WAIT or GET may carry (the broker refuses more).
constexpr size_t kMaxIdsPerRequest = 10'000;

Result<void> ValidateSpecs(const std::vector<protocol::TaskSpec>& specs) {
  if (specs.empty()) return MakeError(ErrorCode::kInvalidArgument, "tasks: empty");
  for (size_t i = 0; i < specs.size(); ++i) {
    auto valid = protocol::ValidateTaskSpec(specs[i], "tasks[" + std::to_string(i) + "]");
    if (!valid) return valid;
  }
  return {};
}

bool IsClientRequest(const protocol::Message& m) {
  return std::holds_alternative<protocol::Submit>(m) ||
         std::holds_alternative<protocol::Batch>(m) || std::holds_alternative<protocol::Wait>(m) ||
         std::holds_alternative<protocol::Get>(m) || std::holds_alternative<protocol::Cancel>(m) ||
         std::holds_alternative<protocol::Subscribe>(m) ||
         std::holds_alternative<protocol::Stats>(m) || std::holds_alternative<protocol::Dlq>(m) ||
         std::holds_alternative<protocol::Complete>(m) ||
         std::holds_alternative<protocol::Limit>(m) ||
         std::holds_alternative<protocol::Schedule>(m) ||
         std::holds_alternative<protocol::QueueAdmin>(m) ||
         std::holds_alternative<protocol::WorkerAdmin>(m) ||
         std::holds_alternative<protocol::List>(m) || std::holds_alternative<protocol::Update>(m);
}

AffectedTasks Affected(protocol::Reply& reply) {
  AffectedTasks out;
  out.ids = std::move(reply.ids);
  out.count = reply.count != 0 ? reply.count : static_cast<uint32_t>(out.ids.size());
  out.requested = std::move(reply.requested);
  return out;
}

}  // namespace

// ---- Subscription ----

Subscription::Subscription(Subscription&& other) noexcept
    : connection_(std::move(other.connection_)),
      id_(std::exchange(other.id_, 0)),
      batch_id_(std::move(other.batch_id_)) {}

Subscription& Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    Cancel();
    connection_ = std::move(other.connection_);
    id_ = std::exchange(other.id_, 0);
    batch_id_ = std::move(other.batch_id_);
  }
  return *this;
}

Subscription::~Subscription() { Cancel(); }

void Subscription::Cancel() {
  if (id_ == 0) return;
  if (auto connection = connection_.lock()) connection->RemoveSubscription(id_, true);
  id_ = 0;
}

// ---- Client ----

Client::Client(ClientOptions options, std::shared_ptr<Connection> connection)
    : options_(std::move(options)), connection_(std::move(connection)) {}

Client::~Client() { connection_->Stop(); }

Result<std::unique_ptr<Client>> Client::Connect(ClientOptions options) {
  bool from_env = false;
  if (options.endpoint.empty()) {
    const char* env = std::getenv("TASKMILL_BROKER");
    from_env = env != nullptr && *env != '\0';
    options.endpoint = from_env ? env : kDefaultClientEndpoint;
  }
  auto connection = Connection::Open(options);
  if (!connection) {
    Error error = connection.error();
    if (from_env) error.message = "TASKMILL_BROKER: " + error.message;
    return std::unexpected(std::move(error));
  }
  return std::unique_ptr<Client>(new Client(std::move(options), std::move(*connection)));
}

namespace {

// A reply's error as a Result, else the reply (one conversion for Call and the submits).
Result<protocol::Reply> ReplyOrError(Result<protocol::Reply> reply) {
  if (reply && reply->error) {
    return MakeError(ErrorCodeFromName(reply->error->code), reply->error->message);
  }
  return reply;
}

// A SUBMIT's reply for `n` tasks as the ids and warnings it carries.
Result<SubmitResult> ToSubmitResult(Result<protocol::Reply> answer, size_t n) {
  auto reply = ReplyOrError(std::move(answer));
  if (!reply) return std::unexpected(reply.error());
  if (reply->ids.size() != n) {
    return MakeError(ErrorCode::kInternal, "the broker returned " +
                                               std::to_string(reply->ids.size()) + " ids for " +
                                               std::to_string(n) + " tasks");
  }
  return SubmitResult{std::move(reply->ids), std::move(reply->warnings)};
}

}  // namespace

Result<protocol::Reply> Client::Call(protocol::Message request, uint32_t timeout_ms) {
  if (!IsClientRequest(request)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string(protocol::CommandName(protocol::CommandOf(request))) +
                         " is not a client request");
  }
  return ReplyOrError(connection_->Call(
      std::move(request), timeout_ms == 0 ? options_.request_timeout_ms : timeout_ms));
}

std::string Client::endpoint_in_use() const { return connection_->current_endpoint(); }

Result<std::string> Client::Submit(const protocol::TaskSpec& spec, const SubmitOptions& how) {
  auto ids = SubmitMany({spec}, how);
  if (!ids) return std::unexpected(ids.error());
  return std::move(ids->front());
}

Result<std::vector<std::string>> Client::SubmitMany(std::vector<protocol::TaskSpec> specs,
                                                    const SubmitOptions& how) {
  auto submitted = SubmitTasks(std::move(specs), how);
  if (!submitted) return std::unexpected(submitted.error());
  return std::move(submitted->ids);
}

Result<SubmitResult> Client::SubmitTasks(std::vector<protocol::TaskSpec> specs,
                                         const SubmitOptions& how) {
  if (auto valid = ValidateSpecs(specs); !valid) return std::unexpected(valid.error());
  size_t n = specs.size();
  protocol::Submit submit;
  submit.tasks = std::move(specs);
  submit.notify = how.notify;
  submit.request_id = NewRequestId();  // the same on every resend: stored once
  return ToSubmitResult(connection_->Call(std::move(submit), options_.request_timeout_ms), n);
}

std::future<Result<SubmitResult>> Client::SubmitManyAsync(std::vector<protocol::TaskSpec> specs,
                                                          const SubmitOptions& how) {
  using Submitted = Result<SubmitResult>;
  if (auto valid = ValidateSpecs(specs); !valid) {
    std::promise<Submitted> refused;
    refused.set_value(std::unexpected(valid.error()));
    return refused.get_future();
  }
  size_t n = specs.size();
  protocol::Submit submit;
  submit.tasks = std::move(specs);
  submit.notify = how.notify;
  submit.request_id = NewRequestId();  // the same on every resend: stored once
  auto pending = connection_->Send(std::move(submit), options_.request_timeout_ms);
  // Deferred: runs in the caller's get(), on the caller's thread.
  return std::async(std::launch::deferred,
                    [n, pending = std::move(pending)]() mutable -> Submitted {
    return ToSubmitResult(Connection::Await(std::move(pending)), n);
  });
}

namespace {

// Errors after which the broker may answer a moment later (a broker restarting, its store
// loading): worth asking again while the deadline allows.
bool Transient(const Error& e) {
  return e.code == ErrorCode::kTimeout || e.code == ErrorCode::kBrokerUnavailable ||
         e.code == ErrorCode::kStoreUnavailable;
}

constexpr int64_t kRetryPauseMs = 100;

}  // namespace

Result<std::vector<protocol::TaskInfo>> Client::AskForResults(const std::vector<std::string>& ids,
                                                              int64_t deadline_ms) {
  while (true) {
    int64_t left = deadline_ms - SteadyMs();
    auto got = left > 0 ? Wait(ids, static_cast<uint32_t>(left)) : GetMany(ids);
    // Typically the first request on a connection re-established after a broker restart.
    if (got || !Transient(got.error()) || deadline_ms - SteadyMs() <= kRetryPauseMs) return got;
    std::this_thread::sleep_for(std::chrono::milliseconds(kRetryPauseMs));
  }
}

Result<protocol::TaskInfo> Client::WaitResult(const std::string& id, uint32_t timeout_ms) {
  auto tasks = WaitResults({id}, timeout_ms);
  if (!tasks) return std::unexpected(tasks.error());
  if (tasks->size() != 1) {
    return MakeError(ErrorCode::kInternal,
                     "the broker returned " + std::to_string(tasks->size()) + " tasks for one id");
  }
  return std::move(tasks->front());
}

Result<std::vector<protocol::TaskInfo>> Client::WaitResults(const std::vector<std::string>& ids,
                                                            uint32_t timeout_ms) {
  int64_t deadline = SteadyMs() + timeout_ms;
  auto awaited = connection_->AwaitResults(ids, deadline);
  std::vector<std::string> missing;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!awaited.tasks[i]) missing.push_back(ids[i]);
  }
  std::vector<protocol::TaskInfo> out;
  out.reserve(ids.size());
  if (missing.empty()) {
    for (auto& t : awaited.tasks) out.push_back(std::move(*t));
    return out;
  }
  // No push for these (yet): ask the broker, for the time that is left, in requests of at
  // most the ids one WAIT or GET may carry.
  std::vector<protocol::TaskInfo> asked;
  asked.reserve(missing.size());
  for (size_t first = 0; first < missing.size(); first += kMaxIdsPerRequest) {
    size_t end = std::min(missing.size(), first + kMaxIdsPerRequest);
    std::vector<std::string> part(missing.begin() + static_cast<ptrdiff_t>(first),
                                  missing.begin() + static_cast<ptrdiff_t>(end));
    auto got = AskForResults(part, deadline);
    if (!got) return std::unexpected(got.error());
    asked.insert(asked.end(), std::make_move_iterator(got->begin()),
                 std::make_move_iterator(got->end()));
  }
  if (asked.size() != missing.size()) {
    return MakeError(ErrorCode::kInternal, "the broker returned " +
                                               std::to_string(asked.size()) + " tasks for " +
                                               std::to_string(missing.size()) + " ids");
  }
  size_t next = 0;
  for (auto& t : awaited.tasks) out.push_back(t ? std::move(*t) : std::move(asked[next++]));
  return out;
}

Result<std::vector<protocol::TaskInfo>> Client::Wait(const std::vector<std::string>& ids,
                                                     uint32_t timeout_ms) {
  if (ids.empty()) return std::vector<protocol::TaskInfo>{};
  protocol::Wait wait;
  wait.ids = ids;
  wait.timeout_ms = timeout_ms;
  uint64_t deadline = uint64_t{timeout_ms} + options_.request_timeout_ms;
  auto reply =
      Call(std::move(wait), static_cast<uint32_t>(std::min<uint64_t>(deadline, UINT32_MAX)));
  if (!reply) return std::unexpected(reply.error());
  return std::move(reply->tasks);
}

Result<std::vector<protocol::TaskInfo>> Client::Wait(const std::vector<std::string>& ids,
                                                     uint32_t timeout_ms,
                                                     ProgressCallback on_progress) {
  if (ids.empty()) return std::vector<protocol::TaskInfo>{};
  if (!on_progress) return Wait(ids, timeout_ms);
  // Registered before the WAIT goes out, so the first report cannot beat it.
  uint64_t sub_id = connection_->AddTaskProgress(
      ids, [cb = std::move(on_progress)](const protocol::Event& e) {
        if (e.type == "task_progress") cb(e.task_id, e.progress, e.message);
      });
  protocol::Wait wait;
  wait.ids = ids;
  wait.timeout_ms = timeout_ms;
  wait.progress = true;
  uint64_t deadline = uint64_t{timeout_ms} + options_.request_timeout_ms;
  auto reply =
      Call(std::move(wait), static_cast<uint32_t>(std::min<uint64_t>(deadline, UINT32_MAX)));
  connection_->RemoveSubscription(sub_id, false);
  if (!reply) return std::unexpected(reply.error());
  return std::move(reply->tasks);
}

Result<protocol::TaskInfo> Client::Get(const std::string& id) {
  auto tasks = GetMany({id});
  if (!tasks) return std::unexpected(tasks.error());
  if (tasks->size() != 1) {
    return MakeError(ErrorCode::kInternal,
                     "the broker returned " + std::to_string(tasks->size()) + " tasks for one id");
  }
  if (tasks->front().state == protocol::TaskState::kUnknown) {
    return MakeError(ErrorCode::kNotFound, "no task " + id);
  }
  return std::move(tasks->front());
}

Result<std::vector<protocol::TaskInfo>> Client::GetMany(const std::vector<std::string>& ids) {
  if (ids.empty()) return std::vector<protocol::TaskInfo>{};
  protocol::Get get;
  get.ids = ids;
  auto reply = Call(std::move(get));
  if (!reply) return std::unexpected(reply.error());
  return std::move(reply->tasks);
}

Result<uint32_t> Client::Cancel(const std::string& id, const std::string& reason) {
  auto r = CancelMany({id}, reason);
  if (!r) return std::unexpected(r.error());
  return r->count;
}

Result<void> Client::Complete(protocol::Complete complete) {
  if (complete.task_id.empty()) return MakeError(ErrorCode::kInvalidArgument, "task id: empty");
  auto reply = Call(std::move(complete));
  if (!reply) return std::unexpected(reply.error());
  return {};
}

Result<AffectedTasks> Client::CancelMany(const std::vector<std::string>& ids,
                                         const std::string& reason) {
  if (ids.empty()) return MakeError(ErrorCode::kInvalidArgument, "ids: empty");
  protocol::Cancel cancel;
  cancel.ids = ids;
  cancel.reason = reason;
  auto reply = Call(std::move(cancel));
  if (!reply) return std::unexpected(reply.error());
  return Affected(*reply);
}

Result<AffectedTasks> Client::CancelBatch(const std::string& batch_id, const std::string& reason) {
  if (batch_id.empty()) return MakeError(ErrorCode::kInvalidArgument, "batch_id: empty");
  protocol::Cancel cancel;
  cancel.batch_id = batch_id;
  cancel.reason = reason;
  auto reply = Call(std::move(cancel));
  if (!reply) return std::unexpected(reply.error());
  return Affected(*reply);
}

Result<protocol::BatchStatus> Client::SubmitBatch(protocol::BatchSpec batch) {
  if (auto valid = ValidateBatchSpec(batch); !valid) return std::unexpected(valid.error());
  protocol::Batch request;
  request.batch = std::move(batch);
  request.request_id = NewRequestId();  // the same on every resend: stored once
  auto reply = Call(std::move(request));
  if (!reply) return std::unexpected(reply.error());
  if (!reply->batch) return MakeError(ErrorCode::kInternal, "the broker's reply has no batch");
  return std::move(*reply->batch);
}

Result<protocol::BatchStatus> Client::AppendToBatch(const std::string& batch_id,
                                                    std::vector<protocol::TaskSpec> tasks) {
  protocol::BatchSpec batch;
  batch.append_to = batch_id;
  batch.tasks = std::move(tasks);
  return SubmitBatch(std::move(batch));
}

Result<SubscribedBatch> Client::SubmitBatch(protocol::BatchSpec batch, EventCallback on_event) {
  if (batch.id.empty() && batch.append_to.empty()) batch.id = NewId();
  if (auto valid = ValidateBatchSpec(batch); !valid) return std::unexpected(valid.error());
  std::string batch_id = batch.append_to.empty() ? batch.id : batch.append_to;
  uint64_t sub_id = connection_->AddSubscription(batch_id, std::move(on_event));
  protocol::Batch request;
  request.batch = std::move(batch);
  request.request_id = NewRequestId();  // the same on every resend: stored once
  request.subscribe = true;
  auto reply = Call(std::move(request));
  if (reply && !reply->batch) {
    reply = MakeError(ErrorCode::kInternal, "the broker's reply has no batch");
  }
  if (!reply) {
    // After a timeout the broker may have the batch (and the subscription): tell it.
    connection_->RemoveSubscription(sub_id, reply.error().code == ErrorCode::kTimeout);
    return std::unexpected(reply.error());
  }
  return SubscribedBatch{std::move(*reply->batch), Subscription(connection_, sub_id, batch_id),
                         std::move(reply->warnings)};
}

Result<protocol::BatchStatus> Client::GetBatch(const std::string& batch_id) {
  if (batch_id.empty()) return MakeError(ErrorCode::kInvalidArgument, "batch_id: empty");
  protocol::Get get;
  get.batch_id = batch_id;
  auto reply = Call(std::move(get));
  if (!reply) return std::unexpected(reply.error());
  if (!reply->batch) return MakeError(ErrorCode::kNotFound, "no batch " + batch_id);
  return std::move(*reply->batch);
}

Result<Subscription> Client::Subscribe(const std::string& batch_id, EventCallback on_event) {
  if (auto valid = protocol::ValidateName(batch_id, "batch_id"); !valid) {
    return std::unexpected(valid.error());
  }
  uint64_t sub_id = connection_->AddSubscription(batch_id, std::move(on_event));
  return SubscribeRegistered(sub_id, batch_id);
}

Result<Subscription> Client::SubscribeRegistered(uint64_t sub_id, const std::string& batch_id) {
  protocol::Subscribe subscribe;
  subscribe.batch_id = batch_id;
  auto reply = Call(std::move(subscribe));
  if (!reply) {
    connection_->RemoveSubscription(sub_id, reply.error().code == ErrorCode::kTimeout);
    return std::unexpected(reply.error());
  }
  return Subscription(connection_, sub_id, batch_id);
}

Result<StatsReply> Client::Stats(const std::vector<std::string>& queues) {
  StatsReply out;
  std::string cursor;
  // Bounded: a broker whose cursor does not move on is an error, not a loop.
  for (int page = 0; page < kMaxStatsPages; ++page) {
    protocol::Stats stats;
    stats.queues = queues;
    stats.cursor = cursor;
    auto reply = Call(std::move(stats));
    if (!reply) return std::unexpected(reply.error());
    for (auto& q : reply->queues) out.queues.push_back(std::move(q));
    for (auto& w : reply->workers) out.workers.push_back(std::move(w));
    if (reply->broker) out.broker = *reply->broker;
    if (reply->next_cursor.empty()) return out;
    if (reply->next_cursor == cursor) {
      return MakeError(ErrorCode::kInternal, "STATS: the broker returned the same cursor twice");
    }
    cursor = std::move(reply->next_cursor);
  }
  return MakeError(ErrorCode::kInternal,
                   "STATS: more than " + std::to_string(kMaxStatsPages) + " pages");
}

Result<std::vector<protocol::TaskInfo>> Client::ListDeadLetters(const std::string& queue,
                                                                uint32_t limit) {
  protocol::Dlq dlq;
  dlq.op = protocol::DlqOp::kList;
  dlq.queue = queue;
  dlq.limit = limit;
  auto reply = Call(std::move(dlq));
  if (!reply) return std::unexpected(reply.error());
  return std::move(reply->tasks);
}

Result<protocol::ScheduleInfo> Client::AddSchedule(const protocol::ScheduleInfo& schedule) {
  if (auto valid = protocol::ValidateSchedule(schedule, "schedule"); !valid) {
    return std::unexpected(valid.error());
  }
  auto reply = Call(protocol::Schedule{0, protocol::ScheduleOp::kAdd, "", schedule});
  if (!reply) return std::unexpected(reply.error());
  if (reply->schedules.empty()) {
    return MakeError(ErrorCode::kInternal, "the broker's reply names no schedule");
  }
  return std::move(reply->schedules.front());
}

Result<std::vector<protocol::ScheduleInfo>> Client::ListSchedules() {
  auto reply = Call(protocol::Schedule{0, protocol::ScheduleOp::kList, "", std::nullopt});
  if (!reply) return std::unexpected(reply.error());
  return std::move(reply->schedules);
}

namespace {
Result<protocol::ScheduleInfo> OneSchedule(Result<protocol::Reply> reply) {
  if (!reply) return std::unexpected(reply.error());
  if (reply->schedules.empty()) {
    return MakeError(ErrorCode::kInternal, "the broker's reply names no schedule");
  }
  return std::move(reply->schedules.front());
}
}  // namespace

Result<protocol::ScheduleInfo> Client::PauseSchedule(const std::string& name) {
  return OneSchedule(Call(protocol::Schedule{0, protocol::ScheduleOp::kPause, name, std::nullopt}));
}

Result<protocol::ScheduleInfo> Client::ResumeSchedule(const std::string& name) {
  return OneSchedule(
      Call(protocol::Schedule{0, protocol::ScheduleOp::kResume, name, std::nullopt}));
}

Result<void> Client::RemoveSchedule(const std::string& name) {
  auto reply = Call(protocol::Schedule{0, protocol::ScheduleOp::kRemove, name, std::nullopt});
  if (!reply) return std::unexpected(reply.error());
  return {};
}

Result<AffectedTasks> Client::RetryDeadLetters(const std::string& queue,
                                               const std::vector<std::string>& ids) {
  protocol::Dlq dlq;
  dlq.op = protocol::DlqOp::kRetry;
  dlq.queue = queue;
  dlq.ids = ids;
  auto reply = Call(std::move(dlq));
  if (!reply) return std::unexpected(reply.error());
  return Affected(*reply);
}

Result<AffectedTasks> Client::PurgeDeadLetters(const std::string& queue,
                                               const std::vector<std::string>& ids) {
  protocol::Dlq dlq;
  dlq.op = protocol::DlqOp::kPurge;
  dlq.queue = queue;
  dlq.ids = ids;
  auto reply = Call(std::move(dlq));
  if (!reply) return std::unexpected(reply.error());
  return Affected(*reply);
}

Result<std::string> Client::SetQueueLimit(protocol::Limit limit) {
  auto reply = Call(std::move(limit));
  if (!reply) return std::unexpected(reply.error());
  return reply->queues.empty() ? std::string() : std::move(reply->queues.front().limit);
}

Result<void> Client::ClearQueueLimit(const std::string& queue) {
  protocol::Limit limit;
  limit.queue = queue;
  limit.clear = true;
  auto reply = Call(std::move(limit));
  if (!reply) return std::unexpected(reply.error());
  return {};
}

namespace {

Result<protocol::QueueStats> QueueOf(Result<protocol::Reply> reply, const std::string& queue) {
  if (!reply) return std::unexpected(reply.error());
  if (reply->queues.empty()) {
    protocol::QueueStats q;
    q.queue = queue;
    return q;
  }
  return std::move(reply->queues.front());
}

Result<protocol::WorkerInfo> WorkerOf(Result<protocol::Reply> reply, const std::string& id) {
  if (!reply) return std::unexpected(reply.error());
  if (reply->workers.empty()) {
    protocol::WorkerInfo w;
    w.id = id;
    return w;
  }
  return std::move(reply->workers.front());
}

}  // namespace

Result<protocol::QueueStats> Client::PauseQueue(const std::string& queue) {
  return QueueOf(Call(protocol::QueueAdmin{0, protocol::QueueOp::kPause, queue}), queue);
}

Result<protocol::QueueStats> Client::ResumeQueue(const std::string& queue) {
  return QueueOf(Call(protocol::QueueAdmin{0, protocol::QueueOp::kResume, queue}), queue);
}

Result<protocol::WorkerInfo> Client::QuietWorker(const std::string& worker_id) {
  return WorkerOf(Call(protocol::WorkerAdmin{0, protocol::WorkerOp::kQuiet, worker_id}),
                  worker_id);
}

Result<protocol::WorkerInfo> Client::UnquietWorker(const std::string& worker_id) {
  return WorkerOf(Call(protocol::WorkerAdmin{0, protocol::WorkerOp::kUnquiet, worker_id}),
                  worker_id);
}

}  // namespace taskmill::client
