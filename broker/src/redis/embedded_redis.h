#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "redis/redis_config.h"
#include "taskmill/shared/error.h"

namespace taskmill::broker {

struct EmbeddedRedisOptions {
  std::string data_dir;                      // required; created if missing; holds AOF + socket
  std::string server_path = "redis-server";  // looked up in PATH
  int port = 0;                              // 0: no TCP listener at all (unix socket only)
  std::string appendfsync = "everysec";      // AOF fsync policy: always | everysec | no
  std::vector<std::string> extra_args;       // appended to the command line (--maxmemory ...)
  int64_t start_timeout_ms = 10000;          // until it answers PING (AOF loading included)
  int64_t stop_timeout_ms = 10000;           // SIGTERM grace before SIGKILL
  // How long to wait for an earlier redis-server still serving data_dir (an earlier broker's,
  // killed a moment ago and still flushing its AOF) to exit before starting ours.
  int64_t previous_exit_timeout_ms = 15000;
};

// A redis-server child process: unix socket `<data_dir>/redis.sock` (mode 700), AOF on, no
// RDB snapshots, log in `<data_dir>/redis.log`. The child gets SIGTERM if this process dies,
// and holds a lock on `<data_dir>/redis.lock` until it has exited: a Start on the same dir
// waits for it (up to previous_exit_timeout_ms), so two servers never share one AOF.
//
// Lifecycle: Start() forks, execs and blocks until the server answers PING (or fails with
// the log's last line); the destructor stops it (SIGTERM, which makes redis flush its AOF,
// then SIGKILL after stop_timeout_ms). Move-only; signals only ever go to its own PID.
// Thread: any single thread; the broker calls RestartIfDied() from a reactor timer, and
// Start/Restart block for up to start_timeout_ms. The thread that starts the server must
// outlive it: the child's PR_SET_PDEATHSIG fires when that thread (not the process) exits. Owner: the broker's main (or a fixture).
class EmbeddedRedis {
 public:
  static Result<EmbeddedRedis> Start(EmbeddedRedisOptions options);

  EmbeddedRedis(EmbeddedRedis&& other) noexcept;
  EmbeddedRedis& operator=(EmbeddedRedis&& other) noexcept;
  EmbeddedRedis(const EmbeddedRedis&) = delete;
  EmbeddedRedis& operator=(const EmbeddedRedis&) = delete;
  ~EmbeddedRedis();

  // How to connect: the unix socket (and no password).
  RedisConfig config() const;
  const std::string& socket_path() const { return socket_path_; }
  const std::string& data_dir() const { return options_.data_dir; }
  int port() const { return options_.port; }
  pid_t pid() const { return pid_; }

  // True iff the child is alive (reaps it if it exited).
  bool Running();
  // Starts the server again on the same dir if it died; true iff it did restart.
  Result<bool> RestartIfDied();
  // SIGKILL and reap: a crash, for tests (kill -9). No AOF flush beyond what the OS has.
  void Kill();
  // Clean stop: SIGTERM, wait, SIGKILL after the timeout. Idempotent.
  Result<void> Stop();
  // Starts it again on the same dir (after Kill or Stop) and waits for PING.
  Result<void> Restart();

 private:
  explicit EmbeddedRedis(EmbeddedRedisOptions options);
  Result<void> Spawn();
  Result<void> WaitUntilReady();
  std::string LogTail() const;

  EmbeddedRedisOptions options_;
  std::string socket_path_;
  pid_t pid_ = -1;  // the child's PID; -1 when not running (or moved from)
};

}  // namespace taskmill::broker
