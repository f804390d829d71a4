#pragma once

// A gtest fixture for end-to-end tests of brokers as one: a redis-server of its own, brokers
// started by id on it (one key prefix, a directory each), worker processes by id, and the
// CLI run in process against any broker. The integration suites of issues 17, 21 and 22
// (brokers, limits, schedules, admin_ctl, task_options) derive from it and keep only their
// own helpers and tests.

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "support/child_process.h"
#include "support/launch.h"
#include "support/redis_fixture.h"

namespace taskmill::testing {

// Lifecycle: SetUp makes a fresh temp dir, starts the redis-server and the brokers listed in
// the Setup; TearDown prints every log when the test failed, kills each process by its PID
// (workers, then brokers), stops Redis and removes the dir. Thread: the test's thread.
class BrokersOnOneRedis : public ::testing::Test {
 public:
  struct Setup {
    std::string name;    // temp dir taskmill-<name>-XXXXXX
    std::string prefix;  // key prefix <prefix><pid>:, the same for every broker
    std::vector<std::string> brokers;  // ids started by SetUp, in this order
    // Every broker's settings (dir, redis_url and prefix are filled in); extra_args come
    // after --broker-id <id>. Workers use its heartbeat_ms and liveness too.
    BrokerLaunch launch;
  };

 protected:
  explicit BrokersOnOneRedis(Setup setup) : setup_(std::move(setup)) {}

  void SetUp() override;
  void TearDown() override;
  // Broker `id`'s own extra flags (a subclass's), after the Setup's, at every start.
  virtual std::vector<std::string> ExtraArgs(const std::string& /*id*/) const { return {}; }

  // Starts broker `id` (again after a kill: a new process, new ports) in <dir>/<id>, with
  // `extra` after the Setup's arguments.
  void StartBroker(const std::string& id, const std::vector<std::string>& extra = {});
  // Starts a worker process `id` on broker `broker`'s backend; log <dir>/worker-<id>.log.
  void StartWorker(const std::string& broker, const std::string& id, uint32_t concurrency = 2,
                   const std::string& queues = "default");
  // Every broker's log, then every worker's (the last 30000 characters).
  std::string Logs() const;
  // `taskmill ARGS...` through broker `broker`, in process, with no environment: {exit code,
  // stdout + stderr}.
  std::pair<int, std::string> Cli(const std::string& broker, std::vector<std::string> args);

  const Setup setup_;
  std::string dir_;
  std::string prefix_;
  std::unique_ptr<RedisServer> redis_;
  std::map<std::string, ChildProcess> brokers_;       // by broker id
  std::map<std::string, BrokerEndpoints> endpoints_;  // by broker id, once it serves
  std::map<std::string, ChildProcess> workers_;       // by worker id
  std::vector<std::string> worker_logs_;              // every worker's log, first start first
};

}  // namespace taskmill::testing
