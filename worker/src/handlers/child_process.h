#pragma once

// RAII wrappers for the C handles the exec handler uses: fds, a temporary directory and a
// child process in its own process group.

#include <sys/resource.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "taskmill/shared/error.h"

namespace taskmill::worker {

// Owns one file descriptor; closes it on destruction. Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = other.Release();
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset();

 private:
  int fd_ = -1;
};

// A fresh directory (mkdtemp under $TMPDIR, else /tmp), removed with everything in it on
// destruction. Move-only; owned by the exec call that runs one task.
class TempDir {
 public:
  static Result<TempDir> Create(const std::string& prefix);
  TempDir() = default;
  ~TempDir();
  TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  TempDir& operator=(TempDir&&) = delete;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;  // empty once moved from
};

struct SpawnSpec {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH unless it has a '/'
  std::vector<std::string> env;   // the child's whole environment, "NAME=value"
  std::string cwd;                // working directory
};

// A child process leading its own process group, with pipes on its stdin, stdout and
// stderr (the parent's ends are non-blocking and close-on-exec).
// Lifecycle: Spawn, use the pipes, Wait once. Destroying it unwaited kills the whole
// group and reaps the child, so no task leaves a process behind. Owned by one thread.
class ChildProcess {
 public:
  static Result<ChildProcess> Spawn(const SpawnSpec& spec);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  UniqueFd& stdin_fd() { return stdin_; }
  UniqueFd& stdout_fd() { return stdout_; }
  UniqueFd& stderr_fd() { return stderr_; }
  // Readable once the child has exited (a pidfd), or -1 where pidfds are missing.
  int exit_fd() const { return pidfd_.get(); }

  // True once the child has exited; it stays a zombie (so its group id stays ours)
  // until Wait.
  bool Exited() const;
  // SIGKILL to every process in the group, grandchildren included.
  void KillGroup() const;

  struct Exit {
    int status = 0;  // as from wait(2)
    rusage usage{};  // the child's (and its waited-for descendants') resource use
  };
  // Reaps the child, blocking until it exits.
  Result<Exit> Wait();

 private:
  ChildProcess() = default;

  pid_t pid_ = -1;   // > 0 until reaped
  UniqueFd stdin_;   // write end of the child's stdin
  UniqueFd stdout_;  // read end of the child's stdout
  UniqueFd stderr_;  // read end of the child's stderr
  UniqueFd pidfd_;   // pollable exit notification, may be invalid
};

}  // namespace taskmill::worker
