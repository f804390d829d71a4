// Chaos scenarios of the worker's process pool (--processes, issue 20): a pool process is
// killed with SIGKILL while it runs a task. The checker must find nothing lost and every
// result recorded once; the attempt is failed as retryable (handler_crashed) and re-run;
// the worker process itself stays up with the same PID and replaces the child.

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <iostream>

#include "chaos/harness.h"

namespace taskmill::chaos {
namespace {

// PIDs whose parent is `parent` (from /proc/*/stat).
std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> out;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* e = readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    std::string stat = "/proc/" + std::string(e->d_name) + "/stat";
    FILE* f = std::fopen(stat.c_str(), "r");
    if (f == nullptr) continue;
    char buf[512] = {};
    size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    const char* paren = std::strrchr(buf, ')');
    char state = 0;
    int ppid = 0;
    if (n > 0 && paren != nullptr && std::sscanf(paren + 1, " %c %d", &state, &ppid) == 2 &&
        ppid == parent && state != 'Z') {
      out.push_back(static_cast<pid_t>(pid));
    }
  }
  closedir(proc);
  return out;
}

// A pool process of worker `worker` that is running a task (its exec command is its child);
// -1 if none is right now. The worker's only child is its fork server, whose children are
// the pool processes.
pid_t BusyPoolProcess(pid_t worker) {
  for (pid_t zygote : ChildrenOf(worker)) {
    for (pid_t pool : ChildrenOf(zygote)) {
      if (!ChildrenOf(pool).empty()) return pool;
    }
  }
  return -1;
}

TEST(ChaosPoolTest, PoolProcessKill9MidTask) {
  const std::string scenario = "pool-child-kill9";
  Scale scale = Scale::FromEnv();
  auto c = ChaosCluster::Start(scenario, {});
  ASSERT_TRUE(c.has_value()) << c.error().message;
  auto& cluster = **c;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(cluster.StartWorker("w" + std::to_string(i), 2, "", {"--processes", "2"}));
  }
  const pid_t worker_pid = cluster.worker(0).pid();
  LoadClient load(cluster.frontend(), cluster.queue(), cluster.TaskPayload(scale.task_ms),
                  scenario);
  load.Start(scale.load_ms, 20);
  ASSERT_TRUE(WaitFor(
      [&] { return load.acknowledged() >= 10 && cluster.Executions().size() >= 6; }, 20000))
      << "no traffic\n"
      << cluster.Logs();
  pid_t victim = -1;
  ASSERT_TRUE(WaitFor([&] { return (victim = BusyPoolProcess(worker_pid)) > 0; }, 10000))
      << "no pool process of w0 ran a task";
  int64_t fault = NowMs();
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  const std::string log_path = cluster.dir() + "/worker-w0.log";
  EXPECT_TRUE(WaitFor(
      [&] {
        std::string log = taskmill::testing::ReadFile(log_path);
        return log.find("handler_crashed") != std::string::npos &&
               log.find("after its predecessor ended") != std::string::npos;
      },
      10000))
      << "no handler_crashed attempt or no replacement in w0's log";
  load.Join();
  auto r = Settle(cluster, load.submissions(), fault, scale.settle_ms);
  std::cout << r.Row(scenario) << std::endl;
  EXPECT_TRUE(r.Clean()) << r.Summary() << "\n" << cluster.Logs();
  EXPECT_GT(r.succeeded, 0u);
  EXPECT_EQ(r.failed, 0u) << "the crashed attempt was not retried";
  EXPECT_LE(r.duplicate_executions, 1u) << "re-runs beyond the one attempt cut";
  // The worker itself never went down: same process, still running, still serving.
  EXPECT_TRUE(cluster.worker(0).Running());
  EXPECT_EQ(cluster.worker(0).pid(), worker_pid);
  EXPECT_EQ(kill(worker_pid, 0), 0);
}

}  // namespace
}  // namespace taskmill::chaos
