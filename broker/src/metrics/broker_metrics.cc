#include "metrics/broker_metrics.h"

namespace taskmill::broker {
namespace {

// Task waits and runs: 5 ms to 1 hour.
const prometheus::Histogram::BucketBoundaries kTaskBuckets = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600};
// Redis round trips and reactor turns: 50 us to 1 s.
const prometheus::Histogram::BucketBoundaries kFastBuckets = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};

}  // namespace

BrokerMetrics::BrokerMetrics(std::string broker_name)
    : broker_(std::move(broker_name)),
      wait_(prometheus::BuildHistogram()
                .Name("taskmill_task_wait_seconds")
                .Help("Time from ready (or created) to claimed, per attempt, by broker")
                .Register(registry_)),
      run_(prometheus::BuildHistogram()
               .Name("taskmill_task_run_seconds")
               .Help("Run time of a finished attempt as its worker measured it, by broker")
               .Register(registry_)),
      redis_rtt_(prometheus::BuildHistogram()
                     .Name("taskmill_broker_redis_roundtrip_seconds")
                     .Help("Time from issuing a Redis command to its reply (pipelined)")
                     .Register(registry_)
                     .Add({{"broker", broker_}}, kFastBuckets)),
      turn_(prometheus::BuildHistogram()
                .Name("taskmill_broker_reactor_turn_seconds")
                .Help("Work time of one reactor turn (after the poll returned)")
                .Register(registry_)
                .Add({{"broker", broker_}}, kFastBuckets)),
      http_(prometheus::BuildCounter()
                .Name("taskmill_broker_http_requests_total")
                .Help("HTTP requests answered, by status code")
                .Register(registry_)),
      http_refused_(prometheus::BuildCounter()
                        .Name("taskmill_broker_http_refused_total")
                        .Help("Dashboard API requests refused, by reason")
                        .Register(registry_)) {}

prometheus::Histogram& BrokerMetrics::ForQueue(
    prometheus::Family<prometheus::Histogram>& family,
    std::unordered_map<std::string, prometheus::Histogram*>& cache, const std::string& queue) {
  auto it = cache.find(queue);
  if (it != cache.end()) return *it->second;
  // Past the cap every new queue shares one series, so a client inventing queue names
  // cannot grow the scrape without bound.
  const std::string& label = cache.size() < kMaxQueueSeries ? queue : "other";
  auto* h = &family.Add({{"broker", broker_}, {"queue", label}}, kTaskBuckets);
  if (label == queue || cache.size() < kMaxQueueSeries + 1024) cache.emplace(queue, h);
  return *h;
}

void BrokerMetrics::TaskClaimed(const std::string& queue, int64_t wait_ms) {
  double seconds = static_cast<double>(std::max<int64_t>(0, wait_ms)) / 1000.0;
  ForQueue(wait_, wait_by_queue_, queue).Observe(seconds);
}

void BrokerMetrics::TaskRan(const std::string& queue, int64_t run_ms) {
  double seconds = static_cast<double>(std::max<int64_t>(0, run_ms)) / 1000.0;
  ForQueue(run_, run_by_queue_, queue).Observe(seconds);
}

void BrokerMetrics::HttpAnswered(int status) {
  http_.Add({{"broker", broker_}, {"code", std::to_string(status)}}).Increment();
}

void BrokerMetrics::HttpRefused(const std::string& reason) {
  http_refused_.Add({{"broker", broker_}, {"reason", reason}}).Increment();
}

}  // namespace taskmill::broker
