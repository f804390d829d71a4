#include "redis/embedded_redis.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "taskmill/shared/clock.h"
#include "taskmill/shared/log.h"

namespace taskmill::broker {
namespace {

std::shared_ptr<spdlog::logger> Log() { return Logger("broker.redis"); }

void SleepMs(int ms) { poll(nullptr, 0, ms); }

// Waits up to timeout_ms for `pid` to exit; true iff it was reaped.
bool WaitExit(pid_t pid, int64_t timeout_ms) {
  const Clock& clock = SystemClock::Instance();
  const int64_t deadline = clock.MonotonicMs() + timeout_ms;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    if (clock.MonotonicMs() >= deadline) return false;
    SleepMs(5);
  }
}

// True while a server accepts connections on the unix socket at `path`.
bool SocketServed(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  bool served = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return served;
}

}  // namespace

EmbeddedRedis::EmbeddedRedis(EmbeddedRedisOptions options) : options_(std::move(options)) {
  socket_path_ = options_.data_dir + "/redis.sock";
}

EmbeddedRedis::EmbeddedRedis(EmbeddedRedis&& other) noexcept
    : options_(std::move(other.options_)),
      socket_path_(std::move(other.socket_path_)),
      pid_(std::exchange(other.pid_, -1)) {}

EmbeddedRedis& EmbeddedRedis::operator=(EmbeddedRedis&& other) noexcept {
  if (this != &other) {
    (void)Stop();
    options_ = std::move(other.options_);
    socket_path_ = std::move(other.socket_path_);
    pid_ = std::exchange(other.pid_, -1);
  }
  return *this;
}

EmbeddedRedis::~EmbeddedRedis() { (void)Stop(); }

Result<EmbeddedRedis> EmbeddedRedis::Start(EmbeddedRedisOptions options) {
  if (options.data_dir.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "embedded redis: data dir is required");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return MakeError(ErrorCode::kInvalidArgument, "embedded redis: cannot create data dir '" +
                                                      options.data_dir + "': " + ec.message());
  }
  options.data_dir = std::filesystem::absolute(options.data_dir).lexically_normal().string();
  if (options.data_dir.size() + sizeof("/redis.sock") > 104) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "embedded redis: data dir path is too long for a unix socket (max ~92 "
                     "characters): " +
                         options.data_dir);
  }
  EmbeddedRedis redis(std::move(options));
  if (auto r = redis.Restart(); !r) return std::unexpected(r.error());
  return redis;
}

RedisConfig EmbeddedRedis::config() const {
  RedisConfig cfg;
  cfg.unix_path = socket_path_;
  return cfg;
}

Result<void> EmbeddedRedis::Restart() {
  if (Running()) return {};
  if (auto r = Spawn(); !r) return r;
  return WaitUntilReady();
}

Result<void> EmbeddedRedis::Spawn() {
  std::vector<std::string> args = {
      options_.server_path,
      "--port",
      std::to_string(options_.port),
      "--unixsocket",
      socket_path_,
      "--unixsocketperm",
      "700",
      "--dir",
      options_.data_dir,
      "--appendonly",
      "yes",
      "--appendfsync",
      options_.appendfsync,
      "--save",
      "",
      // Task hashes hold values past Redis's default 64-byte listpack limit (payloads,
      // outputs), which turned every task into a hashtable; as a listpack a finished
      // 100-byte task takes ~700 B instead of ~1,800 B (taskmill-bench, 20k tasks).
      "--hash-max-listpack-value",
      "1024",
      "--daemonize",
      "no",
      "--logfile",
      options_.data_dir + "/redis.log",
  };
  if (options_.port != 0) {
    args.insert(args.end(), {"--bind", "127.0.0.1"});
  }
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // An earlier broker's redis-server may still serve this dir (that broker was killed a
  // moment ago and its Redis, told by PR_SET_PDEATHSIG, is flushing its AOF). Starting ours
  // now would have two servers on one AOF, and the old one's exit would unlink our socket:
  // wait for it to go. Its socket stops answering a moment before it unlinks the path, so
  // the sign that it has gone is the lock on `redis.lock` that every server started here
  // holds until it exits (below); the socket check covers a server started otherwise. A
  // socket nobody serves is a crash's leftover and is removed.
  const std::string lock_path = options_.data_dir + "/redis.lock";
  int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0) {
    return MakeError(ErrorCode::kStoreUnavailable,
                     "embedded redis: cannot open " + lock_path + ": " + strerror(errno));
  }
  const Clock& clock = SystemClock::Instance();
  const int64_t until = clock.MonotonicMs() + options_.previous_exit_timeout_ms;
  while (::flock(lock, LOCK_EX | LOCK_NB) != 0 || SocketServed(socket_path_)) {
    if (clock.MonotonicMs() >= until) {
      ::close(lock);
      return MakeError(ErrorCode::kStoreUnavailable,
                       "embedded redis: another redis-server still serves " + options_.data_dir +
                           " (its socket answers or it holds redis.lock) after " +
                           std::to_string(options_.previous_exit_timeout_ms) +
                           " ms; stop it, or give this broker its own --data-dir");
    }
    SleepMs(20);
  }
  ::unlink(socket_path_.c_str());

  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    ::close(lock);
    return MakeError(ErrorCode::kInternal, std::string("embedded redis: fork: ") + strerror(errno));
  }
  if (pid == 0) {
    // Child: die with the parent (its AOF is flushed on SIGTERM), keep stdio quiet, and keep
    // the lock across exec: it is released when redis-server (and any child it forked for an
    // AOF rewrite) has exited.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    fcntl(lock, F_SETFD, 0);
    // The broker blocks SIGTERM/SIGINT for its signalfd and a blocked mask survives exec:
    // unblocked here, or redis would ignore the SIGTERM that makes it flush and exit.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, STDIN_FILENO);
      dup2(devnull, STDOUT_FILENO);
      dup2(devnull, STDERR_FILENO);
    }
    execvp(argv[0], argv.data());
    _exit(127);
  }
  ::close(lock);  // the child's copy holds it now
  pid_ = pid;
  Log()->info("embedded redis-server started (pid {}, dir {})", pid_, options_.data_dir);
  return {};
}

Result<void> EmbeddedRedis::WaitUntilReady() {
  const Clock& clock = SystemClock::Instance();
  const int64_t deadline = clock.MonotonicMs() + options_.start_timeout_ms;
  std::string last = "no answer";
  while (clock.MonotonicMs() < deadline) {
    if (!Running()) {
      return MakeError(ErrorCode::kStoreUnavailable,
                       "embedded redis-server exited during startup (is '" + options_.server_path +
                           "' installed?): " + LogTail());
    }
    timeval tv{0, 200'000};
    redisContext* c = redisConnectUnixWithTimeout(socket_path_.c_str(), tv);
    if (c != nullptr && !c->err) {
      auto* reply = static_cast<redisReply*>(redisCommand(c, "PING"));
      bool ok = reply != nullptr && reply->type == REDIS_REPLY_STATUS &&
                std::string_view(reply->str, reply->len) == "PONG";
      if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) last = reply->str;  // LOADING
      if (reply != nullptr) freeReplyObject(reply);
      redisFree(c);
      if (ok) return {};
    } else if (c != nullptr) {
      last = c->errstr;
      redisFree(c);
    }
    SleepMs(10);  // the socket appears, then AOF loading ends: poll for both with a deadline
  }
  return MakeError(ErrorCode::kTimeout, "embedded redis-server did not answer PING within " +
                                            std::to_string(options_.start_timeout_ms) + " ms (" +
                                            last + ")");
}

bool EmbeddedRedis::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  pid_ = -1;  // exited (reaped now) or not our child any more
  return false;
}

Result<bool> EmbeddedRedis::RestartIfDied() {
  if (pid_ <= 0 && options_.data_dir.empty()) return false;  // moved from
  if (Running()) return false;
  Log()->warn("embedded redis-server died; restarting it on {} ({})", options_.data_dir, LogTail());
  if (auto r = Restart(); !r) return std::unexpected(r.error());
  return true;
}

void EmbeddedRedis::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  WaitExit(pid_, 5000);
  pid_ = -1;
}

Result<void> EmbeddedRedis::Stop() {
  if (pid_ <= 0) return {};
  pid_t pid = std::exchange(pid_, -1);
  ::kill(pid, SIGTERM);
  if (WaitExit(pid, options_.stop_timeout_ms)) return {};
  ::kill(pid, SIGKILL);
  WaitExit(pid, 5000);
  return MakeError(ErrorCode::kTimeout, "embedded redis-server (pid " + std::to_string(pid) +
                                            ") ignored SIGTERM; killed");
}

std::string EmbeddedRedis::LogTail() const {
  std::ifstream in(options_.data_dir + "/redis.log");
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty()) last = line;
  }
  return last.empty() ? "(empty log)" : last;
}

}  // namespace taskmill::broker
