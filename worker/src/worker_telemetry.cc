#include "worker_telemetry.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <sstream>

namespace taskmill::worker {

WorkerTelemetry::WorkerTelemetry(std::string worker_id, uint32_t heartbeat_ms, const Clock& clock)
    : clock_(clock),
      // The loop wakes at least once per heartbeat; allow two missed ones and 5 s at least.
      healthy_turn_age_ms_(std::max<int64_t>(5000, 2 * int64_t{heartbeat_ms} + 1000)),
      last_turn_ms_(clock.MonotonicMs()),
      slots_(prometheus::BuildGauge()
                 .Name("taskmill_worker_executor_slots")
                 .Help("Executor slots of this worker: busy (running an attempt) or free")
                 .Register(registry_)),
      busy_(slots_.Add({{"worker", worker_id}, {"state", "busy"}})),
      free_(slots_.Add({{"worker", worker_id}, {"state", "free"}})),
      registered_gauge_(prometheus::BuildGauge()
                            .Name("taskmill_worker_registered")
                            .Help("1 while linked to a broker that has answered")
                            .Register(registry_)
                            .Add({{"worker", worker_id}})),
      attempts_(prometheus::BuildCounter()
                    .Name("taskmill_worker_attempts_total")
                    .Help("Attempts a handler of this worker ran to an end")
                    .Register(registry_)
                    .Add({{"worker", worker_id}})),
      handler_(prometheus::BuildHistogram()
                   .Name("taskmill_worker_handler_seconds")
                   .Help("Time a handler took for one attempt")
                   .Register(registry_)
                   .Add({{"worker", worker_id}},
                        prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1,
                                                                0.25, 0.5, 1, 2.5, 5, 10, 30,
                                                                60, 300, 900, 3600})),
      http_(prometheus::BuildCounter()
                .Name("taskmill_worker_http_requests_total")
                .Help("HTTP requests answered, by status code")
                .Register(registry_)),
      id_(std::move(worker_id)) {}

WorkerTelemetry::~WorkerTelemetry() { Stop(); }

Result<HttpAddress> WorkerTelemetry::Start(const HttpAddress& address) {
  server_ = std::make_unique<HttpServer>();
  server_->Route("/healthz", [this] { return Healthz(); });
  server_->Route("/readyz", [this] { return Readyz(); });
  server_->Route("/metrics", [this] { return Metrics(); });
  server_->OnAnswer([this](int status) {
    http_.Add({{"worker", id_}, {"code", std::to_string(status)}}).Increment();
  });
  return server_->Start(address);
}

void WorkerTelemetry::Stop() {
  if (server_) server_->Stop();
}

void WorkerTelemetry::EndTurn(int64_t now_ms, uint32_t busy, uint32_t free, bool registered,
                              bool draining) {
  last_turn_ms_.store(now_ms, std::memory_order_relaxed);
  registered_.store(registered, std::memory_order_relaxed);
  draining_.store(draining, std::memory_order_relaxed);
  busy_.Set(busy);
  free_.Set(free);
  registered_gauge_.Set(registered ? 1 : 0);
}

void WorkerTelemetry::AttemptFinished(double seconds) {
  attempts_.Increment();
  handler_.Observe(seconds);
}

HttpResponse WorkerTelemetry::Healthz() const {
  int64_t age = clock_.MonotonicMs() - last_turn_ms_.load(std::memory_order_relaxed);
  if (age > healthy_turn_age_ms_) {
    return {503, "text/plain; charset=utf-8",
            "unhealthy: the I/O thread has not turned for " + std::to_string(age) + " ms\n"};
  }
  return {200, "text/plain; charset=utf-8", "ok\n"};
}

HttpResponse WorkerTelemetry::Readyz() const {
  if (draining_.load(std::memory_order_relaxed)) {
    return {503, "text/plain; charset=utf-8", "not ready: draining\n"};
  }
  if (!registered_.load(std::memory_order_relaxed)) {
    return {503, "text/plain; charset=utf-8", "not ready: not registered with a broker\n"};
  }
  return {200, "text/plain; charset=utf-8", "ready\n"};
}

HttpResponse WorkerTelemetry::Metrics() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_.Collect());
  return {200, "text/plain; version=0.0.4; charset=utf-8", out.str()};
}

}  // namespace taskmill::worker
