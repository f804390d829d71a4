#pragma once

// What taskmill-bench starts with --spawn: a redis-server (AOF everysec, unix socket, private
// temp dir), a taskmill-broker on it and W taskmill-worker processes; and what it reads
// about them from /proc (CPU time, resident and peak memory) and from Redis (INFO memory).

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "redis/embedded_redis.h"
#include "support/child_process.h"
#include "taskmill/shared/error.h"

namespace taskmill::bench {

// One reading of a process from /proc/<pid>/stat and /proc/<pid>/status.
struct ProcessSample {
  double cpu_ms = 0;    // user + system time since the process started
  uint64_t rss_kb = 0;  // VmRSS: resident now
  uint64_t hwm_kb = 0;  // VmHWM: peak resident since start (or the last ResetPeakRss)
};

// Reads /proc; nullopt when the process is gone.
std::optional<ProcessSample> ReadProcess(pid_t pid);
// Resets VmHWM to the current RSS (writes 5 to /proc/<pid>/clear_refs); best effort.
void ResetPeakRss(pid_t pid);

struct DeploymentOptions {
  std::string broker_bin;  // taskmill-broker
  std::string worker_bin;  // taskmill-worker
  std::string redis_server = "redis-server";
  uint32_t workers = 2;                  // taskmill-worker processes
  uint32_t brokers = 1;                  // taskmill-broker processes on the one Redis; workers
                                         // and producers are spread over them round-robin
  uint32_t concurrency = 32;             // --concurrency of each worker
  std::vector<std::string> broker_args;  // appended to the broker's command line
  std::vector<std::string> worker_args;  // appended to each worker's command line
  std::string log_level = "warn";        // of the broker and the workers
  bool keep_dir = false;                 // keep the temp dir (logs, AOF) after the run
};

// A whole local deployment. Start() blocks until the broker serves; StartWorkers() until the
// broker lists every worker. The destructor stops workers, broker and Redis (by PID) and
// removes the temp dir. Thread: the bench's main thread. Owner: main().
class Deployment {
 public:
  static Result<std::unique_ptr<Deployment>> Start(DeploymentOptions options);
  ~Deployment();
  Deployment(const Deployment&) = delete;
  Deployment& operator=(const Deployment&) = delete;

  // Spawns the workers and waits until the broker has registered all of them.
  Result<void> StartWorkers();
  // SIGTERM (the workers drain and say BYE), then SIGKILL after a grace period; waits until
  // the broker lists no worker.
  Result<void> StopWorkers();

  const std::string& frontend() const { return frontend_; }
  // Every broker's client endpoint, comma-separated (one broker: frontend()).
  std::string frontends() const;
  // The broker's HTTP listener, HOST:PORT (from its ready file).
  const std::string& http() const { return http_; }
  const std::string& dir() const { return dir_; }
  pid_t broker_pid() const { return broker_.pid(); }
  // The other brokers' pids (--brokers > 1).
  std::vector<pid_t> extra_broker_pids() const;
  pid_t redis_pid() const { return redis_ ? redis_->pid() : -1; }
  std::vector<pid_t> worker_pids() const;
  // Sum of CPU ms of the live workers, per PID (so restarted workers count from zero).
  std::map<pid_t, double> WorkerCpu() const;

  // A field of Redis's INFO (e.g. used_memory), read over a fresh connection.
  Result<uint64_t> RedisInfoField(const std::string& section, const std::string& field) const;
  // INFO commandstats: command -> {calls, usec} (commands run inside scripts included).
  std::map<std::string, std::pair<uint64_t, uint64_t>> RedisCommandStats() const;
  // The tail of the broker's log, for error messages.
  std::string BrokerLogTail() const;

 private:
  explicit Deployment(DeploymentOptions options) : options_(std::move(options)) {}
  Result<void> WaitForWorkers(size_t count, int64_t timeout_ms);
  // The text of INFO <section>; empty on failure.
  std::string RedisInfo(const std::string& section) const;
  // Starts broker `index` (0: the first) and waits for its ready file.
  Result<void> SpawnBroker(uint32_t index);

  DeploymentOptions options_;
  std::string dir_;                               // private temp dir
  std::unique_ptr<broker::EmbeddedRedis> redis_;  // the redis-server child
  testing::ChildProcess broker_;                  // taskmill-broker
  std::vector<testing::ChildProcess> workers_;    // live taskmill-worker processes
  std::string frontend_;                          // broker's client endpoint
  std::string backend_;                           // broker's worker endpoint
  std::string http_;                              // broker's HTTP listener, HOST:PORT
  std::vector<testing::ChildProcess> extra_brokers_;  // brokers 1.. (--brokers)
  std::vector<std::string> frontends_;            // every broker's, broker 0 first
  std::vector<std::string> backends_;             // every broker's, broker 0 first
  uint32_t worker_generation_ = 0;                // distinguishes worker ids across restarts
};

}  // namespace taskmill::bench
