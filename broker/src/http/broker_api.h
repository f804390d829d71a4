#pragma once

#include <functional>
#include <string>

#include "http/api_access.h"
#include "http/throughput_history.h"
#include "metrics/broker_metrics.h"
#include "metrics/reactor_board.h"
#include "metrics/store_reader.h"
#include "store/store_types.h"
#include "taskmill/shared/clock.h"
#include "taskmill/shared/http_server.h"

namespace taskmill::broker {

// Bounds of the /api lists: every list is paged and no page grows past these.
constexpr uint32_t kApiMaxPage = 500;         // queues, workers, a batch's tasks
constexpr uint32_t kApiMaxBatches = 50;       // batches summarised in one page
constexpr uint32_t kApiMaxDeadLetters = 200;  // dead letters in one page
constexpr uint32_t kApiListScanEntries = 2000;  // index entries one /api/tasks page reads
constexpr uint32_t kApiMaxDeadOffset = 1000;  // deepest dead-letter page start
constexpr uint32_t kApiMaxIds = 100;          // ids in one POST
constexpr size_t kApiTasksPerRead = 50;       // tasks per get.lua call
constexpr size_t kApiMaxBodyBytes = 16 << 10;
// The reactor copies workers and recent batches into its snapshots for this long after a
// request needed them; a request finding none waits this long for the next snapshot.
constexpr int64_t kDetailWantedMs = 30000;
constexpr int64_t kDetailWaitMs = 600;
// How long a webhook's completion waits for the reactor (then 503, "may still happen").
constexpr int64_t kApiCompleteWaitMs = 10000;

// How POST /api/tasks/ID/complete reaches the lifecycle layer: BrokerRuntime runs
// TaskLifecycle::Complete on the reactor thread (ReactorInbox::Call), as for a client's
// COMPLETE, so the WAITs, RESULT pushes and other brokers hear of it at once. Unset: 503.
using CompleteFn = std::function<Result<FinishOutcome>(protocol::Complete)>;

// The dashboard's JSON API (docs/http-api.md): reads through the HTTP threads' own Redis
// connection with the store's scripts (stats, get, get_batch, dead_list) and the reactor's
// snapshots; admin writes (dead_retry, dead_purge, cancel) through the same connection, so
// the reactor never waits: a retried task is claimed on the next idle sweep, a running
// task's cancel reaches its worker with the next lease extension. A webhook's completion goes
// to the reactor instead (CompleteFn).
// Thread: the HttpServer's (several at once; the reader serialises Redis calls). Owner:
// BrokerHttp; outlives nothing it points to.
class BrokerApi {
 public:
  BrokerApi(const ReactorBoard& board, StoreReader& reader, BrokerMetrics& metrics,
            HttpTokens tokens, const Clock& clock, CompleteFn complete = {});

  // GET /api/access, /api/overview, /api/workers, /api/batches, /api/batch, /api/task,
  // /api/dead; POST /api/dead/retry, /api/dead/purge, /api/cancel, /api/tasks/ID/complete.
  void AddRoutes(HttpServer& server);

  // The handlers, callable without a listener.
  HttpResponse Access(const HttpRequest& r);
  HttpResponse Overview(const HttpRequest& r);
  HttpResponse Workers(const HttpRequest& r);
  HttpResponse Batches(const HttpRequest& r);
  HttpResponse Batch(const HttpRequest& r);
  HttpResponse Task(const HttpRequest& r);
  HttpResponse DeadLetters(const HttpRequest& r);
  // GET /api/schedules: every schedule (up to 1000) with its next run and counters.
  HttpResponse Schedules(const HttpRequest& r);
  // GET /api/tasks (LIST of tasks) and POST /api/update (UPDATE).
  HttpResponse ListTasks(const HttpRequest& r);
  HttpResponse UpdateTask(const HttpRequest& r);
  // GET /api/batches/all: every stored batch by creation, a LIST page at a time.
  HttpResponse AllBatches(const HttpRequest& r);
  HttpResponse DeadRetry(const HttpRequest& r) { return DeadAction(r, "dead_retry"); }
  HttpResponse DeadPurge(const HttpRequest& r) { return DeadAction(r, "dead_purge"); }
  HttpResponse Cancel(const HttpRequest& r);
  // POST /api/tasks/ID/complete: a webhook completing an awaiting task (its token in the body).
  HttpResponse Complete(const HttpRequest& r);

  // Feeds the chart from queue figures read elsewhere (a /metrics scrape).
  void Sample(const std::vector<QueueCounters>& queues);

 private:
  HttpResponse DeadAction(const HttpRequest& r, const char* script);
  // A 4xx/5xx JSON answer {"error": message}; counted by reason.
  HttpResponse Refuse(int status, const std::string& reason, const std::string& message);
  std::optional<HttpResponse> Guard(const HttpRequest& r, ApiNeed need);
  // A snapshot with the workers and recent batches (asking the reactor for them).
  ReactorSnapshot Detail();

  const ReactorBoard& board_;
  StoreReader& reader_;
  BrokerMetrics& metrics_;
  const HttpTokens tokens_;
  const Clock& clock_;
  const CompleteFn complete_;
  ThroughputHistory history_;
};

}  // namespace taskmill::broker
