#pragma once

// The workspace an exec task runs in, made for its isolation level, and the command line
// that puts the process into the level's namespaces and limits. See worker/README.md,
// "Isolation levels", for what each level gives and what the host must allow.

#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "handlers/child_process.h"
#include "taskmill/worker/builtins.h"

namespace taskmill::worker {

// The repository and ref of a `branch` task.
struct GitSpec {
  std::string repo;  // an absolute path on the worker's host, or an http(s)/ssh/git/file URL
  std::string ref;   // a branch, tag or commit
};

// Why a workspace could not be made: the attempt's error code, message and retryability.
struct WorkspaceFailure {
  std::string code;  // isolation_unavailable, git_failed or workdir
  std::string message;
  bool retryable = false;
};

// One task's directories: a private control directory (the cost file, the parents'
// outputs, artifacts), removed with everything in it, and the directory the process
// starts in (the control directory, the worker's cwd, or a git worktree inside the control
// directory, unregistered from its repository on destruction).
// Lifecycle: Prepare, run the task, destroy. Move-only; owned by the exec call.
class Workspace {
 public:
  // `deadline_ms` (monotonic, 0: none) bounds the git commands of a branch workspace.
  static std::expected<Workspace, WorkspaceFailure> Prepare(IsolationLevel level,
                                                            const std::optional<GitSpec>& git,
                                                            int64_t deadline_ms);
  Workspace(Workspace&& other) noexcept = default;
  Workspace& operator=(Workspace&&) = delete;
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  ~Workspace();

  const std::string& control_dir() const { return control_.path(); }
  const std::string& work_dir() const { return work_dir_; }
  // Makes `path` (inside the control dir) writable by the task's user at level full.
  void GiveToTask(const std::string& path) const;

 private:
  Workspace(IsolationLevel level, TempDir control)
      : level_(level), control_(std::move(control)), work_dir_(control_.path()) {}

  IsolationLevel level_ = IsolationLevel::kDirectory;
  TempDir control_;
  std::string work_dir_;       // where the process starts
  std::string worktree_repo_;  // the local repository that holds our worktree, or empty
};

// The command to spawn for `argv` at `level` under `limits`: argv itself, or argv behind
// setpriv (root workers run full tasks as nobody), unshare (namespaces) and prlimit.
std::vector<std::string> WrapArgv(IsolationLevel level, const ResourceLimits& limits,
                                  const std::vector<std::string>& argv);

// Runs a short helper command (git) to completion within `deadline_ms` (monotonic, 0:
// none), returning its exit status (or an error) and the tail of its stderr.
struct ToolResult {
  int status = -1;  // as from wait(2); -1 when it could not run or was killed on time
  std::string err;  // last ~4 KiB of its stderr
  std::string out;  // first ~4 KiB of its stdout
};
ToolResult RunTool(const std::vector<std::string>& argv, const std::string& cwd,
                   int64_t deadline_ms);

}  // namespace taskmill::worker
