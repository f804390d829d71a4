#include "handlers/isolation.h"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "taskmill/shared/clock.h"
#include "taskmill/shared/log.h"

extern char** environ;

namespace taskmill::worker {
namespace {

// The unprivileged user a root worker runs `full` tasks as (nobody on Debian and Alpine).
constexpr uid_t kNobody = 65534;
constexpr size_t kToolOutputCap = 4096;
// A git command gets at most this long when the task has no deadline of its own.
constexpr int64_t kToolDefaultMs = 120'000;
// How long the `full` probe may take.
constexpr int64_t kProbeMs = 10'000;

std::vector<std::string> ToolEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    if (kv.starts_with("TASKMILL_") || kv.starts_with("GIT_")) continue;
    env.emplace_back(kv);
  }
  env.emplace_back("GIT_TERMINAL_PROMPT=0");  // never wait for a password
  env.emplace_back("LC_ALL=C");
  return env;
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool IsUrl(const std::string& repo) {
  for (const char* scheme : {"https://", "http://", "ssh://", "git://", "file://"}) {
    if (repo.starts_with(scheme)) return true;
  }
  return false;
}

std::optional<std::string> CheckGitSpec(const GitSpec& git) {
  if (git.repo.empty()) return "git.repo is required at isolation branch";
  if (git.repo.find('\0') != std::string::npos) return "git.repo holds a NUL byte";
  if (!IsUrl(git.repo) && !std::filesystem::path(git.repo).is_absolute()) {
    return "git.repo must be an absolute path on the worker's host or an https://, http://, "
           "ssh://, git:// or file:// URL";
  }
  if (git.ref.empty()) return "git.ref is required at isolation branch";
  if (git.ref.size() > 256 || git.ref.starts_with('-') ||
      std::any_of(git.ref.begin(), git.ref.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == 0x7f; })) {
    return "git.ref must be a branch, tag or commit name (no leading '-', no blanks)";
  }
  return std::nullopt;
}

std::string Describe(const ToolResult& r) {
  if (r.status < 0) return "did not finish in time";
  std::string why = WIFEXITED(r.status) ? "exit " + std::to_string(WEXITSTATUS(r.status))
                                        : "signal " + std::to_string(WTERMSIG(r.status));
  std::string err = Trimmed(r.err);
  return err.empty() ? why : why + ": " + err;
}

bool Succeeded(const ToolResult& r) {
  return r.status >= 0 && WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
}

bool OnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "";
  while (!dirs.empty()) {
    auto colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) return true;
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return false;
}

Result<void> ProbeBranch() {
  auto r = RunTool({"git", "--version"}, "/", 0);
  if (!Succeeded(r)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "isolation branch needs git, which cannot run here: " + Describe(r));
  }
  return {};
}

Result<void> ProbeFull() {
  for (const char* tool : {"unshare", "prlimit", "setpriv"}) {
    if (!OnPath(tool)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       std::string("isolation full needs util-linux's ") + tool +
                           ", which is not on this host's PATH");
    }
  }
  auto dir = TempDir::Create("taskmill-probe-");
  if (!dir) return std::unexpected(dir.error());
  if (geteuid() == 0 && chown(dir->path().c_str(), kNobody, kNobody) != 0) {
    return MakeError(ErrorCode::kInternal, "cannot chown the probe directory to nobody");
  }
  const Clock& clock = SystemClock::Instance();
  auto r = RunTool(WrapArgv(IsolationLevel::kFull, {}, {"true"}), dir->path(),
                   clock.MonotonicMs() + kProbeMs);
  if (!Succeeded(r)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "isolation full is not available on this host (user, mount, PID and "
                     "network namespaces could not be made: " +
                         Describe(r) + ")");
  }
  return {};
}

}  // namespace

const char* IsolationLevelName(IsolationLevel level) {
  switch (level) {
    case IsolationLevel::kNone:
      return "none";
    case IsolationLevel::kDirectory:
      return "directory";
    case IsolationLevel::kBranch:
      return "branch";
    case IsolationLevel::kFull:
      return "full";
  }
  return "?";
}

std::optional<IsolationLevel> ParseIsolationLevel(std::string_view name) {
  for (auto level : {IsolationLevel::kNone, IsolationLevel::kDirectory, IsolationLevel::kBranch,
                     IsolationLevel::kFull}) {
    if (name == IsolationLevelName(level)) return level;
  }
  return std::nullopt;
}

Result<void> CheckIsolationAvailable(IsolationLevel level) {
  // What the host allows does not change while the worker runs: probe once per level, not
  // once per task (Workspace::Prepare asks on every attempt). The caches are the one
  // process-wide state of this file, guarded by call_once.
  if (level == IsolationLevel::kBranch) {
    static std::once_flag once;
    static Result<void> available;
    std::call_once(once, [] { available = ProbeBranch(); });
    return available;
  }
  if (level != IsolationLevel::kFull) return {};
  static std::once_flag once;
  static Result<void> available;
  std::call_once(once, [] { available = ProbeFull(); });
  return available;
}

std::vector<std::string> WrapArgv(IsolationLevel level, const ResourceLimits& limits,
                                  const std::vector<std::string>& argv) {
  std::vector<std::string> out;
  if (level == IsolationLevel::kFull) {
    if (geteuid() == 0) {
      // Root inside the namespace must not be root outside it: the user namespace is made
      // by nobody, so its root maps to nobody and owns nothing on the host.
      out = {"setpriv", "--reuid=" + std::to_string(kNobody), "--regid=" + std::to_string(kNobody),
             "--clear-groups", "--no-new-privs", "--"};
    }
    // --kill-child: the namespace's processes die with unshare (a timeout kills the group).
    // --mount-proc: a /proc of the new PID namespace, so only the task's processes show.
    for (const char* a : {"unshare", "--map-root-user", "--pid", "--fork", "--kill-child",
                          "--mount", "--mount-proc", "--net", "--"}) {
      out.emplace_back(a);
    }
  }
  if (limits.any()) {
    out.emplace_back("prlimit");
    if (limits.cpu_seconds) {
      // Soft limit: SIGXCPU; the hard limit a second later: SIGKILL for a process that
      // catches SIGXCPU.
      out.push_back("--cpu=" + std::to_string(limits.cpu_seconds) + ":" +
                    std::to_string(limits.cpu_seconds + 1));
    }
    if (limits.memory_mb) out.push_back("--as=" + std::to_string(limits.memory_mb << 20));
    if (limits.open_files) out.push_back("--nofile=" + std::to_string(limits.open_files));
    if (limits.processes) out.push_back("--nproc=" + std::to_string(limits.processes));
    out.emplace_back("--");
  }
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

ToolResult RunTool(const std::vector<std::string>& argv, const std::string& cwd,
                   int64_t deadline_ms) {
  ToolResult result;
  const Clock& clock = SystemClock::Instance();
  if (deadline_ms <= 0) deadline_ms = clock.MonotonicMs() + kToolDefaultMs;
  auto child = ChildProcess::Spawn({argv, ToolEnvironment(), cwd});
  if (!child) {
    result.err = child.error().message;
    return result;
  }
  child->stdin_fd().Reset();
  std::array<UniqueFd*, 2> fds = {&child->stdout_fd(), &child->stderr_fd()};
  std::array<std::string*, 2> bufs = {&result.out, &result.err};
  bool timed_out = false;
  while (fds[0]->valid() || fds[1]->valid()) {
    int64_t left = deadline_ms - clock.MonotonicMs();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p[2];
    nfds_t n = 0;
    int which[2];
    for (int i = 0; i < 2; ++i) {
      if (fds[i]->valid()) {
        which[n] = i;
        p[n++] = {fds[i]->get(), POLLIN, 0};
      }
    }
    int rc = poll(p, n, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (rc < 0 && errno != EINTR) break;
    for (nfds_t k = 0; rc > 0 && k < n; ++k) {
      if (!p[k].revents) continue;
      char buf[4096];
      ssize_t got = read(p[k].fd, buf, sizeof buf);
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (got <= 0) {
        fds[which[k]]->Reset();
        continue;
      }
      std::string& b = *bufs[which[k]];
      b.append(buf, static_cast<size_t>(got));
      // stdout keeps its head (an answer), stderr its tail (the reason for failing).
      if (b.size() > kToolOutputCap) {
        if (which[k] == 0) {
          b.resize(kToolOutputCap);
        } else {
          b.erase(0, b.size() - kToolOutputCap);
        }
      }
    }
  }
  if (timed_out) child->KillGroup();
  auto exit = child->Wait();
  if (exit && !timed_out) result.status = exit->status;
  return result;
}

std::expected<Workspace, WorkspaceFailure> Workspace::Prepare(IsolationLevel level,
                                                              const std::optional<GitSpec>& git,
                                                              int64_t deadline_ms) {
  auto fail = [](std::string code, std::string message, bool retryable) {
    return std::unexpected(WorkspaceFailure{std::move(code), std::move(message), retryable});
  };
  if (git && level != IsolationLevel::kBranch) {
    return fail("bad_payload", "git is only read at isolation branch", false);
  }
  if (auto available = CheckIsolationAvailable(level); !available) {
    return fail("isolation_unavailable", available.error().message, false);
  }
  auto dir = TempDir::Create("taskmill-exec-");
  if (!dir) return fail("workdir", dir.error().message, true);
  Workspace ws(level, std::move(*dir));
  if (level == IsolationLevel::kFull) ws.GiveToTask(ws.control_.path());
  if (level == IsolationLevel::kNone) {
    std::error_code ec;
    ws.work_dir_ = std::filesystem::current_path(ec).string();
    if (ec) return fail("workdir", "cannot read the worker's directory: " + ec.message(), true);
  }
  if (level != IsolationLevel::kBranch) return ws;

  if (!git) return fail("bad_payload", "isolation branch needs git: {repo, ref}", false);
  if (auto bad = CheckGitSpec(*git)) return fail("bad_payload", *bad, false);
  std::string tree = ws.control_.path() + "/worktree";
  const std::string commit = git->ref + "^{commit}";
  if (IsUrl(git->repo)) {
    // A remote repository: a private clone, removed with the control directory.
    auto clone = RunTool({"git", "clone", "--quiet", "--no-checkout", "--", git->repo, tree},
                         ws.control_.path(), deadline_ms);
    if (!Succeeded(clone)) {
      return fail("git_failed", "cannot clone " + git->repo + ": " + Describe(clone), true);
    }
    ToolResult sha;
    for (const std::string& candidate : {commit, "origin/" + commit}) {
      sha = RunTool({"git", "rev-parse", "--verify", "--quiet", "--end-of-options", candidate},
                    tree, deadline_ms);
      if (Succeeded(sha)) break;
    }
    if (!Succeeded(sha)) {
      return fail("git_failed", "no commit " + git->ref + " in " + git->repo, false);
    }
    auto checkout =
        RunTool({"git", "checkout", "--quiet", "--detach", Trimmed(sha.out)}, tree, deadline_ms);
    if (!Succeeded(checkout)) {
      return fail("git_failed", "cannot check out " + git->ref + ": " + Describe(checkout), true);
    }
    ws.work_dir_ = tree;
    return ws;
  }
  auto sha = RunTool({"git", "-C", git->repo, "rev-parse", "--verify", "--quiet",
                      "--end-of-options", commit},
                     "/", deadline_ms);
  if (!Succeeded(sha)) {
    return fail("git_failed", "no commit " + git->ref + " in the repository " + git->repo,
                false);
  }
  auto add = RunTool({"git", "-C", git->repo, "worktree", "add", "--quiet", "--detach", tree,
                      Trimmed(sha.out)},
                     "/", deadline_ms);
  if (!Succeeded(add)) {
    return fail("git_failed", "cannot add a worktree of " + git->repo + ": " + Describe(add),
                true);
  }
  ws.worktree_repo_ = git->repo;
  ws.work_dir_ = tree;
  return ws;
}

void Workspace::GiveToTask(const std::string& path) const {
  if (level_ != IsolationLevel::kFull || geteuid() != 0) return;
  if (chown(path.c_str(), kNobody, kNobody) != 0) {
    Logger("worker.exec")->warn("cannot chown {} to nobody: {}", path, std::strerror(errno));
  }
}

Workspace::~Workspace() {
  if (worktree_repo_.empty() || control_.path().empty()) return;
  // Unregister the worktree from its repository (the directory goes with the control dir).
  auto r = RunTool({"git", "-C", worktree_repo_, "worktree", "remove", "--force",
                    control_.path() + "/worktree"},
                   "/", 0);
  if (!Succeeded(r)) {
    Logger("worker.exec")
        ->warn("cannot remove the worktree {}/worktree of {}: {}", control_.path(), worktree_repo_,
               Describe(r));
    std::error_code ec;
    std::filesystem::remove_all(control_.path() + "/worktree", ec);
    (void)RunTool({"git", "-C", worktree_repo_, "worktree", "prune"}, "/", 0);
  }
}

}  // namespace taskmill::worker
