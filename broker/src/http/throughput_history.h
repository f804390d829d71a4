#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

namespace taskmill::broker {

// Totals over every queue at one moment, for the dashboard's chart.
struct ThroughputSample {
  int64_t at_ms = 0;  // epoch ms
  uint64_t submitted = 0;
  uint64_t succeeded = 0;
  uint64_t failed = 0;
  uint64_t ready = 0;
  uint64_t running = 0;
  uint64_t dead = 0;
};

// A ring of recent samples, taken when the HTTP side reads the queue figures anyway (the
// overview, a scrape) and at most one per `every_ms`: the chart's rates are the differences
// between neighbours. Nothing samples while nobody looks, so the chart starts when the
// first page is opened (or Prometheus scrapes).
// Thread: any (a mutex). Owner: BrokerApi.
class ThroughputHistory {
 public:
  static constexpr size_t kMaxSamples = 180;  // 6 minutes at one sample per 2 s

  explicit ThroughputHistory(int64_t every_ms = 2000) : every_ms_(every_ms) {}

  void Add(const ThroughputSample& s) {
    std::lock_guard lock(mu_);
    if (!samples_.empty() && s.at_ms - samples_.back().at_ms < every_ms_) return;
    samples_.push_back(s);
    if (samples_.size() > kMaxSamples) samples_.pop_front();
  }
  std::vector<ThroughputSample> Samples() const {
    std::lock_guard lock(mu_);
    return {samples_.begin(), samples_.end()};
  }

 private:
  int64_t every_ms_;
  mutable std::mutex mu_;
  std::deque<ThroughputSample> samples_;  // oldest first; guarded by mu_
};

}  // namespace taskmill::broker
