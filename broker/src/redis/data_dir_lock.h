#pragma once

// The claim a broker lays on its --data-dir, so a second broker started on the same
// directory stops at once and says who holds it, instead of waiting for the first one's
// embedded redis-server to go away (docs/architecture.md, "Connection and process
// supervision").

#include <string>

#include "taskmill/shared/error.h"

namespace taskmill::broker {

// An exclusive flock(2) on <data dir>/broker.lock, which holds the owner's pid as text.
// The kernel drops the lock when the holder exits, however it exits (kill -9 included), so a
// stale file never blocks a restart; the fd is O_CLOEXEC, so the embedded redis-server does
// not inherit it. Lifecycle: Acquire at startup, keep until the embedded Redis is stopped.
// Move-only; owned by Broker::Run; any one thread.
class DataDirLock {
 public:
  // The lock file's name inside the data dir.
  static constexpr const char* kFileName = "broker.lock";

  // Errors: kConflict naming the pid that holds it ("... is in use by another broker (pid
  // 1234) ..."), kInvalidArgument when the file cannot be opened.
  static Result<DataDirLock> Acquire(const std::string& data_dir);

  DataDirLock(DataDirLock&& other) noexcept;
  DataDirLock& operator=(DataDirLock&& other) noexcept;
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;
  ~DataDirLock();

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_ = -1;  // the locked file; -1 once moved from
};

}  // namespace taskmill::broker
