#pragma once

// The workloads of taskmill-bench. Each runs to completion (every task's RESULT received) or
// fails at its deadline, and returns its figures as JSON (printed as a table by main).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "deployment.h"
#include "taskmill/shared/error.h"

namespace taskmill::bench {

// taskmill-bench's configuration; filled from flags, validated once in main.
struct BenchConfig {
  bool spawn = false;                           // start redis-server, broker and workers here
  std::string broker = "tcp://127.0.0.1:5555";  // without --spawn: the broker's frontend
  uint64_t tasks = 20000;                       // tasks per throughput / drain / priority run
  uint32_t producers = 2;                       // submitting sockets, one thread each
  uint32_t workers = 2;                         // --spawn: taskmill-worker processes
  uint32_t concurrency = 32;                    // --spawn: slots per worker
  uint32_t payload_bytes = 100;                 // size of each echo payload
  uint32_t chunk = 200;                         // tasks per SUBMIT
  uint32_t window = 4;                          // SUBMITs in flight per producer
  uint32_t latency_samples = 2000;              // timed round trips (after warm-up)
  uint32_t priority_levels = 10;                // priorities 0..levels-1 in the priority run
  uint64_t memory_tasks = 1000000;              // tasks of the memory run
  std::string completion = "notify";            // notify (RESULT pushes) or wait (WAIT per SUBMIT)
  std::string producer = "client";  // client (the C++ client library) or wire (by hand)
  uint32_t timeout_s = 600;                     // deadline of each scenario
  std::vector<std::string> scenarios;           // throughput, scraped, drain, latency, ...
  std::string json_path;                        // empty: no JSON file
  DeploymentOptions deployment;
};

// A scenario's context: the deployment (null without --spawn) and the broker endpoint.
struct BenchContext {
  const BenchConfig& config;
  Deployment* deployment = nullptr;
  std::string frontend;
};

Result<nlohmann::json> RunThroughput(BenchContext& ctx);
// The throughput run again with the broker's /metrics scraped once a second throughout
// (as Prometheus would); its figures plus the scrapes made, failed and their mean time.
Result<nlohmann::json> RunThroughputScraped(BenchContext& ctx);
Result<nlohmann::json> RunDrain(BenchContext& ctx);
Result<nlohmann::json> RunLatency(BenchContext& ctx);
Result<nlohmann::json> RunPriority(BenchContext& ctx);
Result<nlohmann::json> RunMemory(BenchContext& ctx);

}  // namespace taskmill::bench
