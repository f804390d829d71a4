#pragma once

// A healthy client for the hostile-input tests: it keeps submitting one echo task every
// 10 ms and times each round trip, so an attack's effect on everyone else is a figure
// (p50/p99 before and during the attack). Thread: the test thread that calls Run.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/wire_client.h"
#include "taskmill/shared/protocol/messages.h"

namespace taskmill::chaos {

using taskmill::testing::WireClient;

inline int64_t Percentile(std::vector<int64_t> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// A healthy client: one SUBMIT of an echo task every 10 ms, each round trip timed in us.
struct HealthyClient {
  WireClient client;
  std::string queue;
  std::vector<std::string> ids;
  size_t failures = 0;
  HealthyClient(const std::string& endpoint, std::string q,
                const WireClient::Options& options = {})
      : client(endpoint, options), queue(std::move(q)) {}
  // Until duration_ms passes, max_calls were made or *stop is set.
  std::vector<int64_t> Run(const std::string& prefix, int64_t duration_ms, size_t max_calls,
                           const std::atomic<bool>* stop = nullptr) {
    std::vector<int64_t> latencies;
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(duration_ms);
    for (size_t n = 0; n < max_calls && std::chrono::steady_clock::now() < end; ++n) {
      if (stop != nullptr && *stop) break;
      protocol::Submit s;
      protocol::TaskSpec t;
      t.id = prefix + "-" + std::to_string(n);
      t.type = "echo";
      t.queue = queue;
      t.payload = "hi";
      s.tasks = {t};
      auto t0 = std::chrono::steady_clock::now();
      auto reply = client.Call(s, 5000);
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - t0)
                    .count();
      if (!reply || reply->error) {
        ++failures;
      } else {
        latencies.push_back(us);
        ids.push_back(t.id);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // pacing only
    }
    return latencies;
  }
};

}  // namespace taskmill::chaos
