#include "handlers/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "taskmill/shared/log.h"

namespace taskmill::worker {
namespace {

std::unexpected<Error> Errno(const std::string& what, int err) {
  return MakeError(ErrorCode::kInternal, what + ": " + std::strerror(err));
}

// posix_spawn's C handles, released on every path.
struct SpawnHandles {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnHandles() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnHandles() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnHandles(const SpawnHandles&) = delete;
  SpawnHandles& operator=(const SpawnHandles&) = delete;
};

}  // namespace

void UniqueFd::Reset() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

Result<TempDir> TempDir::Create(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/" + prefix + "XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) return Errno("mkdtemp " + templ, errno);
  TempDir dir;
  dir.path_ = templ;
  return dir;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  if (ec) Logger("worker.exec")->warn("cannot remove {}: {}", path_, ec.message());
}

Result<ChildProcess> ChildProcess::Spawn(const SpawnSpec& spec) {
  if (spec.argv.empty()) return MakeError(ErrorCode::kInvalidArgument, "argv is empty");
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0) return Errno("pipe", errno);
  UniqueFd in_r(in[0]), in_w(in[1]);
  if (pipe2(out, O_CLOEXEC) != 0) return Errno("pipe", errno);
  UniqueFd out_r(out[0]), out_w(out[1]);
  if (pipe2(err, O_CLOEXEC) != 0) return Errno("pipe", errno);
  UniqueFd err_r(err[0]), err_w(err[1]);

  SpawnHandles h;
  posix_spawn_file_actions_adddup2(&h.actions, in_r.get(), 0);
  posix_spawn_file_actions_adddup2(&h.actions, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&h.actions, err_w.get(), 2);
  if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&h.actions, spec.cwd.c_str());
  // Own process group (so a timeout can kill grandchildren too), no blocked signals and
  // default dispositions: the worker blocks SIGTERM for its signalfd, the task must not.
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setflags(&h.attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&h.attr, 0);
  posix_spawnattr_setsigmask(&h.attr, &empty);
  posix_spawnattr_setsigdefault(&h.attr, &defaults);

  std::vector<char*> argv, envp;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argv[0], &h.actions, &h.attr, argv.data(), envp.data());
  if (rc != 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "cannot run '" + spec.argv[0] + "': " + std::strerror(rc));
  }
  ChildProcess child;
  child.pid_ = pid;
  // glibc 2.36 declares pidfd_open without C linkage, so call the syscall directly.
  child.pidfd_ = UniqueFd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  for (int fd : {in_w.get(), out_r.get(), err_r.get()}) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  child.stdin_ = std::move(in_w);
  child.stdout_ = std::move(out_r);
  child.stderr_ = std::move(err_r);
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(other.pid_),
      stdin_(std::move(other.stdin_)),
      stdout_(std::move(other.stdout_)),
      stderr_(std::move(other.stderr_)),
      pidfd_(std::move(other.pidfd_)) {
  other.pid_ = -1;
}

ChildProcess::~ChildProcess() {
  if (pid_ <= 0) return;
  KillGroup();
  (void)Wait();
}

bool ChildProcess::Exited() const {
  if (pid_ <= 0) return true;
  siginfo_t info{};
  // WNOWAIT leaves the zombie in place: its pid and group id cannot be reused until Wait.
  if (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return errno == ECHILD;
  }
  return info.si_pid == pid_;
}

void ChildProcess::KillGroup() const {
  if (pid_ > 0) kill(-pid_, SIGKILL);
}

Result<ChildProcess::Exit> ChildProcess::Wait() {
  if (pid_ <= 0) return MakeError(ErrorCode::kConflict, "child already reaped");
  Exit exit;
  while (true) {
    pid_t r = wait4(pid_, &exit.status, 0, &exit.usage);
    if (r == pid_) break;
    if (r < 0 && errno == EINTR) continue;
    int e = errno;
    pid_ = -1;
    return Errno("wait4", e);
  }
  pid_ = -1;
  return exit;
}

}  // namespace taskmill::worker
