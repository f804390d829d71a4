#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "redis/embedded_redis.h"
#include "redis/sync_redis.h"
#include "support/child_process.h"

namespace taskmill::testing {

// A Redis HA group on loopback for tests: one primary, `replicas` replicas (redis-server,
// AOF on, random free ports) and `sentinels` Sentinels (`redis-server <conf> --sentinel`,
// random free ports) monitoring them with short timeouts, so a killed primary is replaced
// within a few seconds. Everything lives in a fresh temp dir; the destructor kills what
// still runs, by PID, and deletes the dir (kept with TASKMILL_CHAOS_KEEP=1).
// Thread: the test's thread. Owner: a test (or a chaos scenario).
class SentinelGroup {
 public:
  struct Options {
    int replicas = 1;
    int sentinels = 3;
    int quorum = 2;
    int down_after_ms = 600;         // sentinel down-after-milliseconds
    int failover_timeout_ms = 3000;  // sentinel failover-timeout
    std::string master_name = "tm-master";
    std::string appendfsync = "everysec";
  };
  static Result<std::unique_ptr<SentinelGroup>> Start(Options options);
  static Result<std::unique_ptr<SentinelGroup>> Start() { return Start(Options{}); }
  ~SentinelGroup();
  SentinelGroup(const SentinelGroup&) = delete;
  SentinelGroup& operator=(const SentinelGroup&) = delete;

  // redis+sentinel://127.0.0.1:<s1>,...:<sN>/<master_name>
  std::string Url() const;
  const std::string& master_name() const { return options_.master_name; }
  const std::string& dir() const { return dir_; }
  // Data nodes: 0 is the first primary, then the replicas.
  size_t node_count() const { return nodes_.size(); }
  broker::EmbeddedRedis& node(size_t i) { return *nodes_.at(i); }
  int node_port(size_t i) const { return nodes_.at(i)->port(); }
  // A plain config for one data node (to read or write it directly).
  broker::RedisConfig NodeConfig(size_t i) const;
  int sentinel_port(size_t i) const { return sentinel_ports_.at(i); }
  ChildProcess& sentinel(size_t i) { return sentinels_.at(i); }

  // One blocking command on 127.0.0.1:port (a node or a Sentinel).
  static Result<broker::RedisReplyPtr> Ask(int port, const std::vector<std::string>& args);
  // The node the broker's discovery finds (LocateRedis: the first Sentinel's answer whose
  // ROLE says master).
  Result<size_t> CurrentMaster();
  // Waits until the Sentinels name a master other than `old_master` whose ROLE says master.
  Result<size_t> AwaitFailover(size_t old_master, int64_t timeout_ms);
  // Waits until every Sentinel knows the replicas and the other Sentinels, and every
  // replica's link to the master is up: a failover can happen from then on.
  Result<void> AwaitReady(int64_t timeout_ms);
  // Cuts the replication links of node `i` and keeps them down: a requirepass the replicas
  // do not know (connections already open, the brokers' and the Sentinels', stay
  // authenticated), then CLIENT KILL TYPE replica. What `i` acknowledges from then on is on
  // no replica: the loss window held open, for the chaos scenario.
  Result<void> CutReplicaLinks(size_t i);
  // Every log (nodes and Sentinels), for failure messages.
  std::string Logs() const;

 private:
  explicit SentinelGroup(Options options) : options_(std::move(options)) {}

  Options options_;
  std::string dir_;
  std::vector<std::unique_ptr<broker::EmbeddedRedis>> nodes_;
  std::vector<int> sentinel_ports_;
  std::vector<ChildProcess> sentinels_;
};

}  // namespace taskmill::testing
