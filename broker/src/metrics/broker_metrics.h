#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace taskmill::broker {

// The per-broker series this broker measures as it works (histograms and the HTTP request
// counter), each labelled broker="<its name>"; Prometheus sums them over brokers.
// Thread: the Task*/Redis*/Turn* calls come from the reactor thread only; HttpAnswered and
// Collect from the HTTP threads (prometheus-cpp's metrics are thread-safe).
// Owner: Broker::Run; the reactor's context holds a pointer to it.
class BrokerMetrics {
 public:
  // Queues that get their own histogram series; later ones share queue="other".
  static constexpr size_t kMaxQueueSeries = 256;

  explicit BrokerMetrics(std::string broker_name);

  const std::string& broker() const { return broker_; }

  // A task was claimed after waiting `wait_ms` in its ready set (or since it was created).
  void TaskClaimed(const std::string& queue, int64_t wait_ms);
  // An attempt of a task of `queue` ended after `run_ms` (the worker's measure).
  void TaskRan(const std::string& queue, int64_t run_ms);
  // A Redis command was answered `seconds` after it was issued.
  void RedisReplied(double seconds) { redis_rtt_.Observe(seconds); }
  // One reactor turn (everything after the poll returned) took `seconds`.
  void TurnTook(double seconds) { turn_.Observe(seconds); }

  void HttpAnswered(int status);
  // An /api request refused: bad_input, unauthorized, forbidden, not_found.
  void HttpRefused(const std::string& reason);

  std::vector<prometheus::MetricFamily> Collect() const { return registry_.Collect(); }

 private:
  prometheus::Histogram& ForQueue(prometheus::Family<prometheus::Histogram>& family,
                                  std::unordered_map<std::string, prometheus::Histogram*>& cache,
                                  const std::string& queue);

  std::string broker_;
  prometheus::Registry registry_;
  prometheus::Family<prometheus::Histogram>& wait_;
  prometheus::Family<prometheus::Histogram>& run_;
  prometheus::Histogram& redis_rtt_;
  prometheus::Histogram& turn_;
  prometheus::Family<prometheus::Counter>& http_;
  prometheus::Family<prometheus::Counter>& http_refused_;
  // Reactor thread only: queue -> its series, so the hot path skips the family's lock.
  std::unordered_map<std::string, prometheus::Histogram*> wait_by_queue_;
  std::unordered_map<std::string, prometheus::Histogram*> run_by_queue_;
};

}  // namespace taskmill::broker
