#pragma once

#include <memory>
#include <string>

#include "http/broker_api.h"
#include "metrics/broker_metrics.h"
#include "metrics/reactor_board.h"
#include "metrics/store_reader.h"
#include "taskmill/shared/clock.h"
#include "taskmill/shared/http_server.h"

namespace taskmill::broker {

// The reactor must have turned within this long for /healthz to answer 200 (it turns at
// least once a second when idle).
constexpr int64_t kHealthyTurnAgeMs = 5000;

// The broker's HTTP endpoints: /healthz, /readyz, /metrics, the dashboard at / and its
// JSON API under /api/ (BrokerApi). They read only the ReactorBoard (snapshots the reactor
// publishes), the BrokerMetrics (thread-safe) and their own StoreReader connection: nothing
// here can make the reactor wait.
// Lifecycle: construct, Start() (serving on the HttpServer's threads), Stop() or destroy,
// before the board, metrics and reader it points to. Owner: Broker::Run.
class BrokerHttp {
 public:
  BrokerHttp(const ReactorBoard& board, BrokerMetrics& metrics, StoreReader& reader,
             const Clock& clock, HttpTokens tokens = {}, CompleteFn complete = {});
  ~BrokerHttp();

  Result<HttpAddress> Start(const HttpAddress& address);
  void Stop();

  // The handlers, callable without a listener (unit tests).
  HttpResponse Healthz() const;
  HttpResponse Readyz() const;
  HttpResponse Metrics();
  BrokerApi& api() { return api_; }

 private:
  const ReactorBoard& board_;
  BrokerMetrics& metrics_;
  StoreReader& reader_;
  const Clock& clock_;
  BrokerApi api_;
  std::unique_ptr<HttpServer> server_;  // null until Start
};

// The broker's `broker` label: "<hostname>:<frontend port>" (stable across restarts, unique
// per host), or "<hostname>:<endpoint>" for a non-TCP frontend.
std::string BrokerName(const std::string& frontend_endpoint);

}  // namespace taskmill::broker
