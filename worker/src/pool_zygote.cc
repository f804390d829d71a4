#include "pool_zygote.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <cstdio>
#include <cstdlib>
#include <condition_variable>
#include <cstring>
#include <optional>
#include <vector>
#include <set>
#include <thread>

#include "executor_pool.h"
#include "pool_channel.h"
#include "taskmill/shared/log.h"
#include "taskmill/shared/protocol/codec.h"

namespace taskmill::worker {
namespace {

constexpr char kSpawn = 'S';
constexpr char kReap = 'R';

// Sends `value` and, if fd >= 0, the fd alongside (SCM_RIGHTS).
bool SendInt(int sock, int32_t value, int fd = -1) {
  iovec iov{&value, sizeof value};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  ssize_t n;
  do {
    n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(sizeof value);
}

// Receives an int and the fd sent with it (-1 if none); false when the peer is gone.
bool RecvInt(int sock, int32_t& value, int* fd = nullptr) {
  iovec iov{&value, sizeof value};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof value)) return false;
  if (fd != nullptr) {
    *fd = -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        std::memcpy(fd, CMSG_DATA(c), sizeof(int));
      }
    }
  }
  return true;
}

// PIDs whose parent is `parent`, from a scan of every process in /proc.
std::vector<pid_t> ScanChildrenOf(pid_t parent) {
  std::vector<pid_t> out;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* e = readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE* f = std::fopen(path, "r");
    if (f == nullptr) continue;
    char buf[512] = {};
    size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    const char* close_paren = std::strrchr(buf, ')');
    if (n == 0 || close_paren == nullptr) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(close_paren + 1, " %c %d", &state, &ppid) == 2 && ppid == parent) {
      out.push_back(static_cast<pid_t>(pid));
    }
  }
  closedir(proc);
  return out;
}

// PIDs whose parent is this process (the zygote, single-threaded: its one task's children
// are all of them). /proc/<pid>/task/<pid>/children is one read, where the scan opens the
// stat file of every process on the host, on every Reap; the scan stays for kernels built
// without CONFIG_PROC_CHILDREN.
std::vector<pid_t> ChildrenOfSelf() {
  const pid_t self = getpid();
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/task/%d/children", static_cast<int>(self),
                static_cast<int>(self));
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return ScanChildrenOf(self);
  std::vector<pid_t> out;
  long pid = 0;
  while (std::fscanf(f, "%ld", &pid) == 1) out.push_back(static_cast<pid_t>(pid));
  std::fclose(f);
  return out;
}

// The zygote is a child subreaper: what a dead pool process left running (an exec
// handler's command, a handler's own helper) is reparented here instead of to init. Those
// are killed with their process group and reaped, so "killed with its process" holds for
// whatever the handler started. Pool processes (`children`) are left alone.
void KillOrphans(const std::set<pid_t>& children) {
  for (int round = 0; round < 16; ++round) {
    bool found = false;
    for (pid_t pid : ChildrenOfSelf()) {
      if (children.contains(pid)) continue;
      found = true;
      kill(-pid, SIGKILL);  // its group, if it leads one (exec's commands do)
      kill(pid, SIGKILL);
      while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    if (!found) return;
  }
}

// The zygote's loop: one request at a time from the worker, until the worker is gone.
[[noreturn]] void ZygoteMain(int sock, const std::map<std::string, HandlerEntry>& handlers,
                             uint64_t max_output_bytes) {
  std::set<pid_t> children;
  while (true) {
    char req[1 + sizeof(int32_t)] = {};
    ssize_t n = recv(sock, req, sizeof req, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the worker closed its end (or died)
    if (req[0] == kSpawn) {
      int pair[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        SendInt(sock, -errno);
        continue;
      }
      pid_t pid = fork();
      if (pid == 0) {
        close(sock);
        close(pair[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1) _exit(0);
        RunPoolChild(pair[1], handlers, max_output_bytes);
        _exit(0);
      }
      int err = errno;
      close(pair[1]);
      if (pid < 0) {
        close(pair[0]);
        SendInt(sock, -err);
        continue;
      }
      children.insert(pid);
      SendInt(sock, pid, pair[0]);
      close(pair[0]);
    } else if (req[0] == kReap && n == static_cast<ssize_t>(sizeof req)) {
      int32_t pid;
      std::memcpy(&pid, req + 1, sizeof pid);
      int status = -1;
      if (children.erase(pid) == 1) {
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        KillOrphans(children);
      }
      SendInt(sock, status);
    }
  }
  for (pid_t pid : children) kill(pid, SIGKILL);
  for (pid_t pid : children) {
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  KillOrphans({});
  _exit(0);
}

}  // namespace

Result<std::unique_ptr<PoolZygote>> PoolZygote::Start(
    const std::map<std::string, HandlerEntry>& handlers, uint64_t max_output_bytes) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return MakeError(ErrorCode::kInternal,
                     std::string("process pool: socketpair: ") + strerror(errno));
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    close(pair[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);  // the worker died before prctl
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    ZygoteMain(pair[1], handlers, max_output_bytes);
  }
  int err = errno;
  close(pair[1]);
  if (pid < 0) {
    close(pair[0]);
    return MakeError(ErrorCode::kInternal, std::string("process pool: fork: ") + strerror(err));
  }
  return std::unique_ptr<PoolZygote>(new PoolZygote(pid, pair[0]));
}

PoolZygote::~PoolZygote() {
  fd_.Reset();  // the zygote kills and reaps its children, then exits
  while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

Result<PoolProcess> PoolZygote::Spawn() {
  std::lock_guard lock(mu_);
  char req[1 + sizeof(int32_t)] = {kSpawn};
  if (send(fd_.get(), req, sizeof req, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof req)) {
    return MakeError(ErrorCode::kInternal, "process pool: the fork server is gone");
  }
  int32_t pid = 0;
  int fd = -1;
  if (!RecvInt(fd_.get(), pid, &fd)) {
    return MakeError(ErrorCode::kInternal, "process pool: the fork server is gone");
  }
  if (pid <= 0 || fd < 0) {
    if (fd >= 0) close(fd);
    return MakeError(ErrorCode::kInternal,
                     std::string("process pool: cannot fork a pool process: ") + strerror(-pid));
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return PoolProcess{pid, UniqueFd(fd)};
}

int PoolZygote::Reap(pid_t pid) {
  std::lock_guard lock(mu_);
  char req[1 + sizeof(int32_t)] = {kReap};
  int32_t p = pid;
  std::memcpy(req + 1, &p, sizeof p);
  if (send(fd_.get(), req, sizeof req, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof req)) {
    return -1;
  }
  int32_t status = -1;
  if (!RecvInt(fd_.get(), status)) return -1;
  return status;
}

std::string DescribeWaitStatus(int status) {
  if (status == -1) return "status unknown";
  if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  }
  return "status " + std::to_string(status);
}

void RunPoolChild(int fd, const std::map<std::string, HandlerEntry>& handlers,
                  uint64_t max_output_bytes) {
  auto log = Logger("worker.pool");
  std::mutex write_mu;  // the handler's thread and its progress threads share fd
  auto write = [&](PoolFrame kind, std::string_view payload) {
    std::lock_guard lock(write_mu);
    return WritePoolFrame(fd, kind, payload);
  };
  if (!write(PoolFrame::kReady, {})) return;
  // One runner thread for the life of the process runs the attempts; this thread keeps
  // reading the channel meanwhile, for cancels. The worker sends one task at a time.
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Job> pending;            // guarded by mu: handed to the runner
  std::shared_ptr<CancelSignal> cancel;  // guarded by mu: the current attempt's; co-owned
                                         // with its Job
  std::thread runner([&] {
    while (true) {
      Job job;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return pending.has_value(); });
        job = std::move(*pending);
        pending.reset();
      }
      auto progress = [&](double fraction, std::string_view message) {
        protocol::Progress p{job.task.task_id, job.task.token, fraction, std::string(message)};
        write(PoolFrame::kProgress, protocol::EncodeBody(std::move(p)));
      };
      protocol::Done done = RunAttempt(job, progress, *log, max_output_bytes);
      // Moved into the Message it is encoded from: a result of many MiB is not copied.
      write(PoolFrame::kDone, protocol::EncodeBody(std::move(done)));
    }
  });
  runner.detach();  // never joined: the process ends with _exit
  // The worker's frames: a TaskMsg may be as big as the broker lets a task be.
  const uint64_t cap = PoolFrameCap(64u << 20);
  while (auto frame = ReadPoolFrame(fd, cap)) {
    if (frame->kind == PoolFrame::kCancel) {
      std::lock_guard lock(mu);
      auto reason = static_cast<uint8_t>(frame->payload.empty() ? 0xff : frame->payload[0]);
      if (cancel && frame->payload.size() == 1 &&
          reason <= static_cast<uint8_t>(CancelReason::kDraining)) {
        cancel->Cancel(static_cast<CancelReason>(frame->payload[0]));
      }
      continue;
    }
    if (frame->kind != PoolFrame::kTask) continue;
    auto msg = protocol::DecodeBody(protocol::Command::kTask, frame->payload);
    if (!msg || !std::holds_alternative<protocol::TaskMsg>(*msg)) {
      log->error("pool process {}: undecodable task from the worker", getpid());
      break;
    }
    auto task = std::get<protocol::TaskMsg>(std::move(*msg));
    auto handler = handlers.find(task.type);
    if (handler == handlers.end()) break;  // the worker checked the type: a bug
    {
      std::lock_guard lock(mu);
      cancel = std::make_shared<CancelSignal>();
      pending = Job{std::move(task), cancel, &handler->second.handler};
    }
    cv.notify_one();
  }
  // The worker closed the channel (recycling, shutdown) or sent nonsense: leave at once,
  // whatever a handler is still doing.
  _exit(0);
}

}  // namespace taskmill::worker
