#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "taskmill/shared/clock.h"
#include "taskmill/shared/http_server.h"

namespace taskmill::worker {

// The worker's --http listener and what it reports: /healthz (the I/O thread turned
// recently), /readyz (linked to a broker that has spoken on the link, not draining) and
// /metrics (slots, attempts, handler time), every series labelled worker="<id>".
// Thread: EndTurn and AttemptFinished from the I/O thread only (atomic stores and
// prometheus-cpp's thread-safe metrics); the handlers on the HTTP threads.
// Lifecycle: built by Worker::Run when --http is set, started before the I/O loop, stopped
// (joined) after it. Owner: Worker::Run; the IoLoop holds a pointer.
class WorkerTelemetry {
 public:
  WorkerTelemetry(std::string worker_id, uint32_t heartbeat_ms,
                  const Clock& clock = SystemClock::Instance());
  ~WorkerTelemetry();

  Result<HttpAddress> Start(const HttpAddress& address);
  void Stop();

  // End of an I/O turn: the slot figures and link state as they are now.
  void EndTurn(int64_t now_ms, uint32_t busy, uint32_t free, bool registered, bool draining);
  // A handler finished an attempt after `seconds`.
  void AttemptFinished(double seconds);

  int64_t healthy_turn_age_ms() const { return healthy_turn_age_ms_; }
  HttpResponse Healthz() const;
  HttpResponse Readyz() const;
  HttpResponse Metrics() const;

 private:
  const Clock& clock_;
  int64_t healthy_turn_age_ms_;  // /healthz fails past this (the loop turns every heartbeat)
  std::atomic<int64_t> last_turn_ms_;      // monotonic ms of the I/O thread's last turn
  std::atomic<bool> registered_{false};    // true iff linked and the broker has answered
  std::atomic<bool> draining_{false};      // true iff a drain has started
  prometheus::Registry registry_;
  prometheus::Family<prometheus::Gauge>& slots_;
  prometheus::Gauge& busy_;
  prometheus::Gauge& free_;
  prometheus::Gauge& registered_gauge_;
  prometheus::Counter& attempts_;
  prometheus::Histogram& handler_;
  prometheus::Family<prometheus::Counter>& http_;
  std::string id_;
  std::unique_ptr<HttpServer> server_;  // null until Start
};

}  // namespace taskmill::worker
