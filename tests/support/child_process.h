#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "taskmill/shared/error.h"

namespace taskmill::testing {

// A child process started by a test: stdout and stderr go to `log_path`. Signals are
// only ever sent to its own PID. The destructor SIGKILLs it if still running and reaps it.
// Move-only. Thread: the test's thread.
class ChildProcess {
 public:
  ChildProcess() = default;
  static Result<ChildProcess> Spawn(const std::vector<std::string>& argv,
                                    const std::string& log_path,
                                    const std::vector<std::string>& extra_env = {});
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Waits up to timeout_ms for it to exit; its exit code, or -signal; nullopt on timeout.
  std::optional<int> Wait(int64_t timeout_ms);
  bool Running();
  // SIGKILL and reap.
  void Kill9();

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;             // -1 once reaped or moved from
  std::optional<int> status_;  // exit code (or -signal) once reaped
};

// Reads a file whole; empty if missing.
std::string ReadFile(const std::string& path);

}  // namespace taskmill::testing
