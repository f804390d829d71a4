#pragma once

// The fault suite's deployment: a redis-server (AOF everysec, or no persistence for the
// negative control) in a private dir, one taskmill-broker and several taskmill-worker
// processes on loopback, and a load client that logs every submit and acknowledgement.
// Tasks are `exec` runs of a shell line that appends "id attempt worker start end" to
// the execution log and reports a cost of 0.001 USD, so every run leaves a record without
// changing the worker.

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "chaos/checker.h"
#include "redis/embedded_redis.h"
#include "support/child_process.h"
#include "support/launch.h"
#include "support/wire_client.h"

namespace taskmill::chaos {

// Epoch ms (the clock the store and the execution log use).
int64_t NowMs();
// Polls a condition until it holds or a deadline passes (tests/support/launch.h).
using taskmill::testing::WaitFor;

// Durations and sizes, raised by TASKMILL_CHAOS_LONG=1 (scripts/chaos.sh --long).
struct Scale {
  int64_t load_ms;    // how long the client keeps submitting
  int64_t task_ms;    // how long each task's command sleeps
  int64_t settle_ms;  // how long to wait for acknowledged tasks to finish
  static Scale FromEnv();
};

// Everything of one scenario. Destructor kills its processes by PID and deletes its dir
// (kept when TASKMILL_CHAOS_KEEP=1). Thread: the test's thread. Owner: the test.
class ChaosCluster {
 public:
  struct Options {
    uint32_t heartbeat_ms = 200;
    uint32_t liveness = 3;
    uint32_t lease_ms = 2000;
    uint32_t reap_ms = 200;
    bool redis_persistent = true;  // false: --appendonly no (negative control)
    int redis_tcp_port = 0;        // also serve Redis on 127.0.0.1:<port> (a proxy's upstream)
    std::vector<std::string> broker_args;
    // Set: the brokers use this Redis (e.g. a SentinelGroup's redis+sentinel:// URL) and no
    // redis-server of the cluster's own is started (redis() must not be called).
    std::string redis_url;
  };
  static Result<std::unique_ptr<ChaosCluster>> Start(const std::string& scenario, Options options);
  ~ChaosCluster();

  // Starts the broker (again on the same endpoints after the first time).
  Result<void> StartBroker();
  // Starts another broker on the same Redis and key prefix (its own dir `name` and random
  // endpoints) into `process`, with broker_args and `extra_args`; `redis_url` (e.g. through a
  // proxy) instead of the Redis's unix socket.
  Result<taskmill::testing::BrokerEndpoints> StartExtraBroker(
      const std::string& name, taskmill::testing::ChildProcess& process,
      const std::vector<std::string>& extra_args = {}, const std::string& redis_url = "");
  // The same on given endpoints (a broker of an endpoint list restarted where it was).
  Result<taskmill::testing::BrokerEndpoints> StartExtraBrokerOn(
      const std::string& name, taskmill::testing::ChildProcess& process,
      const taskmill::testing::BrokerEndpoints& at,
      const std::vector<std::string>& extra_args = {});
  taskmill::testing::ChildProcess& broker() { return broker_; }
  // Starts a worker labelled `label` (its id too); returns its index. `endpoint`: where it
  // connects instead of the broker's backend (a proxy in front of it).
  Result<size_t> StartWorker(const std::string& label, uint32_t concurrency,
                             const std::string& endpoint = "",
                             const std::vector<std::string>& extra_args = {});
  taskmill::testing::ChildProcess& worker(size_t i) { return workers_.at(i); }
  size_t worker_count() const { return workers_.size(); }
  broker::EmbeddedRedis& redis() { return *redis_; }

  const std::string& frontend() const { return frontend_; }
  const std::string& backend() const { return backend_; }
  // The broker's HTTP listener, HOST:PORT ("off" when started with --http off).
  const std::string& http() const { return http_; }
  // The broker's log (its counters line says how many frames it refused, say).
  std::string BrokerLog() const;
  const std::string& queue() const { return queue_; }
  const std::string& dir() const { return dir_; }
  // The exec payload of a normal task: sleeps task_ms, logs its run, reports 0.001 USD.
  std::string TaskPayload(int64_t task_ms) const;
  std::vector<Execution> Executions() const;
  std::string Logs() const;

 private:
  ChaosCluster(std::string scenario, Options options)
      : scenario_(std::move(scenario)), options_(std::move(options)) {}
  // A broker's launch in `dir` (created) for StartBroker and the extra brokers: the Redis
  // (`redis_url`, or the cluster's), prefix, timings, broker_args then `extra_args`; random
  // endpoints until the caller sets them.
  taskmill::testing::BrokerLaunch LaunchIn(const std::string& dir,
                                           const std::vector<std::string>& extra_args,
                                           const std::string& redis_url) const;

  std::string scenario_;
  Options options_;
  std::string dir_;
  std::string queue_;     // unique per scenario, so STATS counts only its tasks
  std::string frontend_;  // resolved client endpoint
  std::string backend_;   // resolved worker endpoint
  std::string http_;      // the broker's HTTP listener, HOST:PORT
  std::unique_ptr<broker::EmbeddedRedis> redis_;
  taskmill::testing::ChildProcess broker_;
  std::vector<taskmill::testing::ChildProcess> workers_;
  std::vector<std::string> worker_logs_;
};

// Submits tasks with client-chosen ids ("<prefix>-<n>") from its own thread, one SUBMIT
// every interval_ms for duration_ms (at most max_tasks), logging each submit and its
// acknowledgement. Thread: owns one; Start/Join/submissions from the test's thread.
class LoadClient {
 public:
  LoadClient(std::string endpoint, std::string queue, std::string payload, std::string prefix)
      : endpoint_(std::move(endpoint)),
        queue_(std::move(queue)),
        payload_(std::move(payload)),
        prefix_(std::move(prefix)) {}
  ~LoadClient() { Join(); }
  void Start(int64_t duration_ms, int64_t interval_ms, size_t max_tasks = 2000);
  void Join();
  // Acknowledged so far (safe while running).
  size_t acknowledged() const { return acknowledged_; }
  // Valid after Join().
  const std::vector<Submission>& submissions() const { return submissions_; }

 private:
  void Run(int64_t duration_ms, int64_t interval_ms, size_t max_tasks);

  std::string endpoint_, queue_, payload_, prefix_;
  std::thread thread_;
  std::atomic<size_t> acknowledged_{0};
  std::vector<Submission> submissions_;  // written by the thread until Join
};

// Waits (bounded) until every acknowledged id is terminal, then reads the store's final
// state of every submitted id and the queue's STATS, and runs the checker.
CheckReport Settle(ChaosCluster& cluster, const std::vector<Submission>& submissions,
                   int64_t fault_ms, int64_t settle_ms);

// The value of `name` in the broker's last "counters: name=N ..." log line; -1 if none.
int64_t LastCounter(const std::string& broker_log, const std::string& name);

// The broker's resident set in KiB (VmRSS of /proc/<pid>/status); -1 if unreadable.
int64_t RssKib(pid_t pid);

// A small JSON string literal (quotes, backslashes and control characters escaped).
std::string JsonString(const std::string& s);

}  // namespace taskmill::chaos
