#pragma once

#include <memory>
#include <string>
#include <vector>

#include "support/child_process.h"
#include "support/redis_fixture.h"
#include "support/wire_client.h"

namespace taskmill::testing {

// A real taskmill deployment for integration tests: a redis-server (external, so the
// broker can be killed and restarted on it), one taskmill-broker process bound to random
// loopback ports, and any number of taskmill-worker processes. Everything lives in a fresh
// temp dir with per-process logs; the destructor kills whatever still runs (by PID).
// Thread: the test's thread. Owner: the test.
class Cluster {
 public:
  struct Options {
    uint32_t heartbeat_ms = 200;
    uint32_t liveness = 3;
    uint32_t lease_ms = 3000;
    bool embedded_redis = false;  // true: the broker starts its own redis-server
    std::vector<std::string> broker_args;
  };
  static Result<std::unique_ptr<Cluster>> Start(Options options);
  ~Cluster();

  // Starts the broker (again, on the same endpoints after the first time).
  Result<void> StartBroker();
  ChildProcess& broker() { return broker_; }
  // Starts a worker; returns its index.
  Result<size_t> StartWorker(const std::string& id, uint32_t concurrency = 2,
                             const std::string& queues = "default",
                             std::vector<std::string> extra_args = {});
  ChildProcess& worker(size_t i) { return workers_.at(i); }

  WireClient& client();
  const std::string& frontend() const { return frontend_; }
  const std::string& backend() const { return backend_; }
  // The broker's HTTP listener, HOST:PORT (a free port picked at each start).
  const std::string& http() const { return http_; }
  const std::string& dir() const { return dir_; }
  RedisServer* redis() { return redis_.get(); }
  // Broker and worker logs, for failure messages.
  std::string Logs() const;

 private:
  explicit Cluster(Options options) : options_(std::move(options)) {}

  Options options_;
  std::string dir_;
  std::unique_ptr<RedisServer> redis_;
  ChildProcess broker_;
  std::vector<ChildProcess> workers_;
  std::vector<std::string> worker_logs_;
  std::string frontend_;  // resolved client endpoint
  std::string backend_;   // resolved worker endpoint
  std::string http_;      // bound HTTP listener
  std::unique_ptr<WireClient> client_;
};

// Builds a TaskSpec for a built-in handler with a JSON payload.
protocol::TaskSpec Spec(const std::string& type, const std::string& json_payload = "{}",
                        const std::string& queue = "default");

}  // namespace taskmill::testing
