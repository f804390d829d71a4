// The exec built-in: runs argv in the workspace of its isolation level (a fresh temporary
// directory by default), captures bounded stdout and stderr, kills the whole process group
// on timeout or cancel, and reports costs.

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "handlers/artifacts.h"
#include "handlers/child_process.h"
#include "handlers/exec_spec.h"
#include "handlers/isolation.h"
#include "handlers/payload.h"
#include "handlers/progress_file.h"
#include "taskmill/shared/clock.h"
#include "taskmill/shared/log.h"
#include "taskmill/shared/protocol/validate.h"
#include "taskmill/worker/builtins.h"

extern char** environ;

namespace taskmill::worker {
namespace {

constexpr const char* kCostFileName = ".taskmill-cost.json";
constexpr const char* kProgressFileName = ".taskmill-progress.jsonl";
constexpr const char* kResultFileName = ".taskmill-result.json";
// An on_failure=continue batch member's dead parents: {name: {code, message, retryable}}.
constexpr const char* kParentErrorsFileName = ".taskmill-parent-errors.json";
constexpr const char* kParentsDirName = ".taskmill-parents";
constexpr const char* kArtifactsDirName = ".taskmill-artifacts";
// The artifacts sweep runs at most this often per worker process.
constexpr int64_t kSweepEveryMs = 60'000;
// After the child exits, how long its pipes may stay open (a grandchild that escaped the
// process group) before we stop reading them.
constexpr int64_t kPipeDrainMs = 1000;

// A pipe read into a capped buffer that keeps the *last* `cap` bytes (the end of a log says
// why a process failed); earlier bytes are counted, not kept, and the pipe keeps being
// drained so the child never blocks on a full pipe.
struct Capture {
  std::string data;
  uint64_t dropped = 0;
  bool open = true;

  void Read(UniqueFd& fd, uint64_t cap) {
    char buf[65536];
    while (true) {
      ssize_t n = read(fd.get(), buf, sizeof buf);
      if (n > 0) {
        data.append(buf, static_cast<size_t>(n));
        // Trim in steps, not on every read, so the copy stays amortised O(1) per byte.
        if (data.size() > 2 * cap + sizeof buf) Trim(cap);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      open = false;  // EOF or a real error
      fd.Reset();
      return;
    }
  }

  void Trim(uint64_t cap) {
    if (data.size() <= cap) return;
    uint64_t cut = data.size() - cap;
    data.erase(0, cut);
    dropped += cut;
  }

  std::string Finish(uint64_t cap) && {
    Trim(cap);
    if (dropped > 0) data.insert(0, "[truncated " + std::to_string(dropped) + " bytes]\n");
    return std::move(data);
  }
};

enum class StopCause { kNone, kTimeout, kCancel };

struct RunResult {
  Capture out, err;
  StopCause stop = StopCause::kNone;
};

// Feeds stdin, drains stdout/stderr and watches the exit, the deadline and the cancel
// signal until the child has exited and its pipes are closed (or stopped reading).
// `progress`: the process's progress file, polled every ProgressFileTail::kPollMs while it
// runs; each poll's latest line goes to `ctx` as PROGRESS.
RunResult Supervise(ChildProcess& child, const std::string& stdin_data, int64_t deadline_ms,
                    int cancel_fd, uint64_t cap, ProgressFileTail& progress, TaskContext& ctx) {
  const Clock& clock = SystemClock::Instance();
  RunResult r;
  int64_t next_progress_ms = clock.MonotonicMs() + ProgressFileTail::kPollMs;
  size_t stdin_off = 0;
  if (stdin_data.empty()) child.stdin_fd().Reset();
  bool exited = false;
  int64_t drain_until = 0;
  while (true) {
    int64_t now = clock.MonotonicMs();
    if (!exited && (child.exit_fd() < 0 ? child.Exited() : false)) exited = true;
    if (exited && drain_until == 0) {
      child.KillGroup();  // leftovers of the task go with it, and their pipe ends close
      drain_until = now + kPipeDrainMs;
    }
    if (exited && ((!r.out.open && !r.err.open) || now >= drain_until)) break;
    if (r.stop == StopCause::kNone && deadline_ms > 0 && now >= deadline_ms) {
      r.stop = StopCause::kTimeout;
      child.KillGroup();
    }

    pollfd fds[5];
    int n = 0, in_at = -1, out_at = -1, err_at = -1, exit_at = -1, cancel_at = -1;
    if (child.stdin_fd().valid()) fds[in_at = n++] = {child.stdin_fd().get(), POLLOUT, 0};
    if (r.out.open) fds[out_at = n++] = {child.stdout_fd().get(), POLLIN, 0};
    if (r.err.open) fds[err_at = n++] = {child.stderr_fd().get(), POLLIN, 0};
    if (!exited && child.exit_fd() >= 0) fds[exit_at = n++] = {child.exit_fd(), POLLIN, 0};
    if (r.stop == StopCause::kNone && cancel_fd >= 0) {
      fds[cancel_at = n++] = {cancel_fd, POLLIN, 0};
    }
    int64_t wait = 60'000;
    if (exited) wait = drain_until - now;
    if (!exited && child.exit_fd() < 0) wait = 10;  // no pidfd: check the exit by polling
    if (r.stop == StopCause::kNone && deadline_ms > 0) wait = std::min(wait, deadline_ms - now);
    if (!exited) {
      if (now >= next_progress_ms) {
        if (auto line = progress.Poll()) ctx.ReportProgress(line->fraction, line->message);
        next_progress_ms = now + ProgressFileTail::kPollMs;
      }
      wait = std::min(wait, next_progress_ms - now);
    }
    int rc = poll(fds, static_cast<nfds_t>(n), static_cast<int>(std::max<int64_t>(wait, 0)));
    if (rc < 0 && errno != EINTR) {
      child.KillGroup();
      r.stop = StopCause::kCancel;
      exited = true;
      continue;
    }
    if (rc <= 0) continue;
    if (cancel_at >= 0 && fds[cancel_at].revents) {
      r.stop = StopCause::kCancel;
      child.KillGroup();
    }
    if (exit_at >= 0 && fds[exit_at].revents) exited = true;
    if (out_at >= 0 && fds[out_at].revents) r.out.Read(child.stdout_fd(), cap);
    if (err_at >= 0 && fds[err_at].revents) r.err.Read(child.stderr_fd(), cap);
    if (in_at >= 0 && fds[in_at].revents) {
      if (fds[in_at].revents & (POLLERR | POLLHUP)) {
        child.stdin_fd().Reset();  // the child closed its stdin: it gets no more
      } else {
        ssize_t w = write(child.stdin_fd().get(), stdin_data.data() + stdin_off,
                          std::min<size_t>(stdin_data.size() - stdin_off, 65536));
        if (w > 0) stdin_off += static_cast<size_t>(w);
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || stdin_off == stdin_data.size()) {
          child.stdin_fd().Reset();
        }
      }
    }
  }
  return r;
}

// Reads the flat JSON object of numbers the child may write to TASKMILL_COST_FILE.
void MergeCostFile(const std::string& path, uint64_t max_bytes, TaskContext& ctx) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return;
  auto log = Logger("worker.exec");
  auto size = std::filesystem::file_size(path, ec);
  if (ec || size > max_bytes) {
    log->warn("task {}: cost file ignored (larger than {} bytes)", ctx.task_id(), max_bytes);
    return;
  }
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto doc =
      ParseJson(text, PayloadLimits{.max_bytes = max_bytes, .max_items = 1000, .max_depth = 1});
  if (!doc || !doc->is_object()) {
    log->warn("task {}: cost file ignored (not a JSON object of numbers{})", ctx.task_id(),
              doc ? "" : ": " + doc.error().message);
    return;
  }
  for (const auto& [name, value] : doc->items()) {
    if (!value.is_number()) {
      log->warn("task {}: cost '{}' ignored (not a number)", ctx.task_id(), name);
      continue;
    }
    ctx.AddCost(name, value.get<double>());
  }
}

// Reads TASKMILL_RESULT_FILE after a clean exit: {"awaiting": true} or {"awaiting":
// {"deadline_ms": N}} turns the success into Outcome::Await(N). No file: a plain success. A
// file that is not such an object fails the attempt (not retryable), saying why.
std::optional<Outcome> ReadResultFile(const std::string& path, uint64_t max_bytes) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;
  auto size = std::filesystem::file_size(path, ec);
  if (ec || size > max_bytes) {
    return Outcome::Fail("bad_result_file",
                         "TASKMILL_RESULT_FILE is over " + std::to_string(max_bytes) + " bytes",
                         false);
  }
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto doc =
      ParseJson(text, PayloadLimits{.max_bytes = max_bytes, .max_items = 100, .max_depth = 3});
  if (!doc || !doc->is_object() || (!doc->contains("awaiting") && !doc->contains("poll"))) {
    return Outcome::Fail("bad_result_file",
                         "TASKMILL_RESULT_FILE must hold {\"awaiting\": {\"deadline_ms\": N}} "
                         "or {\"poll\": {\"after_ms\": N, \"state\": S, \"max_wait_ms\": M}}" +
                             (doc ? std::string() : ": " + doc.error().message),
                         false);
  }
  if (doc->contains("poll")) {
    // "Check again in after_ms": the next run gets `state` in $TASKMILL_POLL_STATE.
    const auto& check = doc->at("poll");
    auto u32 = [&](const char* key) -> std::optional<uint32_t> {
      auto it = check.find(key);
      if (it == check.end()) return 0u;
      if (!it->is_number_unsigned() || it->get<uint64_t>() > UINT32_MAX) return std::nullopt;
      return static_cast<uint32_t>(it->get<uint64_t>());
    };
    std::string state;
    bool ok = check.is_object();
    std::optional<uint32_t> after = ok ? u32("after_ms") : std::nullopt;
    std::optional<uint32_t> max_wait = ok ? u32("max_wait_ms") : std::nullopt;
    if (ok && check.contains("state")) {
      ok = check.at("state").is_string();
      if (ok) state = check.at("state").get<std::string>();
    }
    if (!ok || !after || !max_wait || *after == 0 ||
        state.size() > protocol::kMaxPollStateBytes || state.find('\0') != std::string::npos) {
      return Outcome::Fail("bad_result_file",
                           "TASKMILL_RESULT_FILE: poll is {\"after_ms\": 1 to 4294967295, "
                           "\"state\": text of at most 4096 bytes, \"max_wait_ms\": N}",
                           false);
    }
    return Outcome::Poll(*after, std::move(state), *max_wait);
  }
  const auto& aw = doc->at("awaiting");
  if (aw.is_boolean() && aw.get<bool>()) return Outcome::Await(0);
  if (aw.is_object()) {
    auto it = aw.find("deadline_ms");
    if (it == aw.end()) return Outcome::Await(0);
    if (it->is_number_unsigned() && it->get<uint64_t>() <= UINT32_MAX) {
      return Outcome::Await(static_cast<uint32_t>(it->get<uint64_t>()));
    }
  }
  return Outcome::Fail("bad_result_file",
                       "TASKMILL_RESULT_FILE: awaiting must be true or {\"deadline_ms\": 0 to "
                       "4294967295}",
                       false);
}

std::vector<std::string> ChildEnvironment(const ExecSpec& spec, const TaskContext& ctx,
                                          const std::string& cost_file,
                                          const std::string& progress_file,
                                          const std::string& tmp_dir,
                                          const std::string& parents_dir,
                                          const std::string& artifacts_dir) {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    // The worker's own configuration is not the task's business.
    if (kv.starts_with("TASKMILL_")) continue;
    env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  for (const auto& [k, v] : spec.env) env[k] = v;
  env["TASKMILL_COST_FILE"] = cost_file;
  env["TASKMILL_PROGRESS_FILE"] = progress_file;
  env["TASKMILL_TASK_ID"] = ctx.task_id();
  env["TASKMILL_ATTEMPT"] = std::to_string(ctx.attempt());
  env["TMPDIR"] = tmp_dir;
  if (!parents_dir.empty()) env["TASKMILL_PARENTS_DIR"] = parents_dir;
  if (!ctx.parent_errors().empty()) {
    env["TASKMILL_PARENT_ERRORS_FILE"] = tmp_dir + "/" + kParentErrorsFileName;
  }
  env["TASKMILL_ARTIFACTS_DIR"] = artifacts_dir;
  // Completion modes: the process may hand the task to an outside system, which completes it
  // with this token, by writing {"awaiting": {"deadline_ms": N}} to the result file.
  env["TASKMILL_RESULT_FILE"] = tmp_dir + "/" + kResultFileName;
  env["TASKMILL_COMPLETION_TOKEN"] = ctx.CompletionToken();
  if (!ctx.poll_state().empty()) env["TASKMILL_POLL_STATE"] = std::string(ctx.poll_state());
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

std::string DescribeLimits(const ResourceLimits& l) {
  std::string s;
  auto add = [&](uint64_t v, const char* what, const char* unit) {
    if (!v) return;
    if (!s.empty()) s += ", ";
    s += std::string(what) + " " + std::to_string(v) + unit;
  };
  add(l.cpu_seconds, "cpu", " s");
  add(l.memory_mb, "memory", " MiB");
  add(l.open_files, "open files", "");
  add(l.processes, "processes", "");
  return s;
}

// Keeps the attempt's artifacts in `out`; a refusal fails a successful attempt, and is
// added to the message of a failed one.
void KeepFiles(const std::string& artifacts_dir, const TaskContext& ctx,
               const ExecOptions& options, Outcome& out) {
  auto kept = KeepArtifacts(artifacts_dir, ctx.task_id(), ctx.attempt(), options);
  if (kept) {
    out.artifacts = std::move(*kept);
  } else if (out.ok) {
    out = Outcome::Fail(kept.error().code, kept.error().message, kept.error().retryable);
  } else if (out.error) {
    out.error->message += "; artifacts not kept: " + kept.error().message;
  }
  if (options.artifacts_dir.empty()) return;
  // One sweep a minute per worker process is plenty for a retention counted in hours; the
  // timestamp is the one process-wide state here, an atomic.
  static std::atomic<int64_t> last_sweep_ms{0};
  const Clock& clock = SystemClock::Instance();
  int64_t now = clock.MonotonicMs();
  int64_t last = last_sweep_ms.load();
  if (last != 0 && now - last < kSweepEveryMs) return;
  if (!last_sweep_ms.compare_exchange_strong(last, now)) return;
  size_t removed =
      SweepArtifacts(options.artifacts_dir, options.artifacts_retention_hours, clock.NowMs() / 1000);
  if (removed > 0) Logger("worker.exec")->info("removed {} expired artifact dirs", removed);
}

}  // namespace

Outcome RunExec(TaskContext& ctx, const ExecOptions& options) {
  auto log = Logger("worker.exec");
  auto spec = ParseExecSpec(ctx.payload(), options);
  if (!spec) return Outcome::Fail("bad_payload", spec.error().message, /*retryable=*/false);

  const Clock& clock = SystemClock::Instance();
  int64_t start = clock.MonotonicMs();
  uint64_t timeout = spec->timeout_ms > 0 ? spec->timeout_ms : ctx.timeout_ms();
  int64_t deadline = timeout > 0 ? start + static_cast<int64_t>(timeout) : 0;

  auto ws = Workspace::Prepare(spec->isolation, spec->git, deadline);
  if (!ws) return Outcome::Fail(ws.error().code, ws.error().message, ws.error().retryable);
  std::string cwd = ws->work_dir();
  if (!spec->cwd.empty()) {
    cwd = (std::filesystem::path(ws->work_dir()) / spec->cwd).string();
    std::error_code ec;
    std::filesystem::create_directories(cwd, ec);
    if (ec) return Outcome::Fail("workdir", "cannot create cwd: " + ec.message(), false);
  }
  const std::string& control = ws->control_dir();
  std::string cost_file = control + "/" + kCostFileName;
  std::string progress_file = control + "/" + kProgressFileName;
  // A batch member's parents' outputs, one file per parent name: a step's output feeds the
  // next step's input. Names are [A-Za-z0-9_.-] and never "." or "..", so they are safe
  // file names.
  // Files the process leaves here are kept (handlers/artifacts.h).
  std::string artifacts_dir = control + "/" + kArtifactsDirName;
  {
    std::error_code ec;
    std::filesystem::create_directories(artifacts_dir, ec);
    if (ec) return Outcome::Fail("workdir", "cannot create the artifacts dir: " + ec.message(), true);
    ws->GiveToTask(artifacts_dir);
  }
  std::string parents_dir;
  if (!ctx.parents().empty()) {
    parents_dir = control + "/" + kParentsDirName;
    std::error_code ec;
    std::filesystem::create_directories(parents_dir, ec);
    if (ec) return Outcome::Fail("workdir", "cannot create the parents dir: " + ec.message(), true);
    for (const auto& [name, output] : ctx.parents()) {
      std::ofstream f(parents_dir + "/" + name, std::ios::binary);
      f.write(output.data(), static_cast<std::streamsize>(output.size()));
      if (!f) return Outcome::Fail("workdir", "cannot write parent output " + name, true);
    }
  }

  if (!ctx.parent_errors().empty()) {
    // A file, not a variable: a thousand parents' messages would pass the kernel's ARG_MAX.
    nlohmann::json errors = nlohmann::json::object();
    for (const auto& e : ctx.parent_errors()) {
      errors[e.name] = {{"code", e.code}, {"message", e.message}, {"retryable", e.retryable}};
    }
    std::ofstream f(control + "/" + kParentErrorsFileName, std::ios::binary);
    // Invalid UTF-8 in a message is replaced, never thrown on.
    f << errors.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (!f) return Outcome::Fail("workdir", "cannot write the parent errors file", true);
  }

  SpawnSpec spawn{WrapArgv(spec->isolation, spec->limits, spec->argv),
                  ChildEnvironment(*spec, ctx, cost_file, progress_file, control, parents_dir,
                                   artifacts_dir),
                  cwd};
  auto child = ChildProcess::Spawn(spawn);
  if (!child) return Outcome::Fail("spawn_failed", child.error().message, /*retryable=*/false);
  log->debug("task {}: started pid {}", ctx.task_id(), child->pid());

  ProgressFileTail progress(progress_file);
  RunResult run = Supervise(*child, spec->stdin_data, deadline, ctx.cancel_fd(),
                            spec->max_output_bytes, progress, ctx);
  auto exit = child->Wait();
  // What the process wrote last, a final line without its newline included.
  if (auto line = progress.Finish()) ctx.ReportProgress(line->fraction, line->message);
  if (progress.bad_lines() > 0) {
    log->debug("task {}: {} progress file lines ignored (not {{\"progress\": number}})",
               ctx.task_id(), progress.bad_lines());
  }
  int64_t wall_ms = clock.MonotonicMs() - start;

  Outcome out;
  double cpu_ms = 0;
  if (exit) {
    const rusage& u = exit->usage;
    cpu_ms = (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000.0 +
                    (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1000.0;
    MergeCostFile(cost_file, options.max_cost_file_bytes, ctx);
    ctx.AddCost("cpu_ms", cpu_ms);
  }
  ctx.AddCost("wall_ms", static_cast<double>(wall_ms));

  int status = exit ? exit->status : 0;
  std::optional<int32_t> code;
  if (exit && WIFEXITED(status)) code = WEXITSTATUS(status);
  if (exit && WIFSIGNALED(status)) code = 128 + WTERMSIG(status);

  if (run.stop == StopCause::kTimeout) {
    out = Outcome::Fail("timeout", "killed after " + std::to_string(timeout) + " ms", true);
  } else if (run.stop == StopCause::kCancel) {
    out = Outcome::Fail("cancelled",
                        std::string("killed: ") + CancelReasonName(ctx.cancel_reason()), false);
  } else if (!exit) {
    out = Outcome::Fail("internal", exit.error().message, true);
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    auto result = ReadResultFile(control + "/" + kResultFileName, options.max_cost_file_bytes);
    out = result ? std::move(*result) : Outcome::Ok();
  } else if (WIFEXITED(status)) {
    out = Outcome::Fail("exit_status", "exited with status " + std::to_string(*code),
                        spec->retry_on_nonzero);
  } else if (spec->limits.cpu_seconds > 0 &&
             (WTERMSIG(status) == SIGXCPU ||
              (WTERMSIG(status) == SIGKILL && cpu_ms >= spec->limits.cpu_seconds * 1000.0))) {
    // The kernel's rlimit signals: SIGXCPU at the soft limit, SIGKILL at the hard one.
    out = Outcome::Fail("cpu_limit",
                        "exceeded its CPU limit of " + std::to_string(spec->limits.cpu_seconds) +
                            " s",
                        false);
  } else {
    out = Outcome::Fail("signal", std::string("killed by signal ") + strsignal(WTERMSIG(status)),
                        spec->retry_on_nonzero);
  }
  if (out.error && spec->limits.any() &&
      (out.error->code == "exit_status" || out.error->code == "signal")) {
    // An allocation refused under RLIMIT_AS shows only as the program's own failure: say
    // which limits it ran under, so the record explains it.
    out.error->message += " (under limits: " + DescribeLimits(spec->limits) + ")";
  }
  out.exit_code = code;
  out.stdout_data = std::move(run.out).Finish(spec->max_output_bytes);
  out.stderr_data = std::move(run.err).Finish(spec->max_output_bytes);
  out.output = out.stdout_data;
  KeepFiles(artifacts_dir, ctx, options, out);
  return out;
}

}  // namespace taskmill::worker
