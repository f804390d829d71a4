#include "redis/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace taskmill::broker {
namespace {

// The holder's pid as the file says it ("" if it says nothing readable).
std::string HolderPid(int fd) {
  char buf[32] = {};
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  std::string out;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) out += buf[i];
  return out;
}

}  // namespace

Result<DataDirLock> DataDirLock::Acquire(const std::string& data_dir) {
  std::string path = data_dir + "/" + kFileName;
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "--data-dir: cannot open " + path + ": " + std::strerror(errno));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    std::string pid = err == EWOULDBLOCK ? HolderPid(fd) : "";
    close(fd);
    if (err != EWOULDBLOCK) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "--data-dir: cannot lock " + path + ": " + std::strerror(err));
    }
    return MakeError(ErrorCode::kConflict,
                     "--data-dir " + data_dir + " is in use by another broker (" +
                         (pid.empty() ? std::string("pid unknown") : "pid " + pid) +
                         ", holding " + path +
                         "); stop it, or give this broker its own --data-dir");
  }
  std::string mine = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, mine.data(), mine.size(), 0) < 0) {
    // The lock holds without the pid; a second broker then just cannot name us.
  }
  return DataDirLock(fd);
}

DataDirLock::DataDirLock(DataDirLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

DataDirLock& DataDirLock::operator=(DataDirLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) close(fd_);  // closing the last descriptor releases the flock
}

}  // namespace taskmill::broker
