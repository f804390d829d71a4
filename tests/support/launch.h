#pragma once

// Starting taskmill processes for tests: the built binaries, a broker brought up and waited
// for through its ready file, and a worker's command line. Shared by the Cluster fixture
// and the fault suite's ChaosCluster so both start processes the same way.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "support/child_process.h"
#include "taskmill/shared/error.h"

namespace taskmill::testing {

// Path of a binary in the build tree, e.g. Binary("broker/taskmill-broker").
std::string Binary(const std::string& relative);
// Polls pred every 10 ms until it holds or timeout_ms passes.
bool WaitFor(const std::function<bool()>& pred, int64_t timeout_ms);

// Every member has a default, so a designated initializer may name only some of them.
struct BrokerLaunch {
  std::string dir{};        // ready file and broker.log go here
  std::string frontend{};   // empty: a random loopback port
  std::string backend{};    // empty: a random loopback port
  std::string redis_url{};  // empty: the embedded Redis in <dir>/data
  std::string prefix{};
  uint32_t heartbeat_ms = 200;
  uint32_t liveness = 3;
  uint32_t lease_ms = 3000;
  std::string http = "127.0.0.1:0";  // --http; a free port so parallel tests never collide
  std::vector<std::string> extra_args{};
};

struct BrokerEndpoints {
  std::string frontend;
  std::string backend;
  std::string http;  // HOST:PORT bound, or "off"
};

// Starts taskmill-broker into `process` and waits (20 s at most) until it serves; `logs`
// describes what went wrong when it does not.
Result<BrokerEndpoints> LaunchBroker(const BrokerLaunch& launch, ChildProcess& process,
                                     const std::function<std::string()>& logs);

// A taskmill-worker command line.
std::vector<std::string> WorkerArgv(const std::string& backend, const std::string& id,
                                    uint32_t concurrency, const std::string& queues,
                                    uint32_t heartbeat_ms, uint32_t liveness);

}  // namespace taskmill::testing
