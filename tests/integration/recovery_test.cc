// What happens when processes die or go silent: a worker killed or frozen while holding
// tasks, a broker killed and restarted under load or dying for good while another reaps its
// leases, graceful SIGTERM of broker and worker.

#include <signal.h>

#include <chrono>
#include <thread>

#include <filesystem>

#include "flow_helpers.h"
#include "support/launch.h"

namespace taskmill::testing {
namespace {

using protocol::TaskState;

class RecoveryTest : public ::testing::Test {
 protected:
  void StartCluster(Cluster::Options options = {}) {
    auto c = Cluster::Start(std::move(options));
    ASSERT_TRUE(c.has_value()) << c.error().message;
    cluster_ = std::move(*c);
  }
  void TearDown() override {
    if (HasFailure() && cluster_) std::cerr << cluster_->Logs();
  }
  // Polls GET until `n` of `ids` are in `state`, or the deadline.
  bool WaitForState(const std::vector<std::string>& ids, TaskState state, size_t n,
                    int64_t timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      protocol::Get g;
      g.ids = ids;
      auto reply = cluster_->client().Call(g);
      if (reply) {
        size_t count = std::count_if(reply->tasks.begin(), reply->tasks.end(),
                                     [&](const auto& t) { return t.state == state; });
        if (count >= n) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  std::unique_ptr<Cluster> cluster_;
};

TEST_F(RecoveryTest, KilledWorkersTasksCompleteExactlyOnceOnAnother) {
  StartCluster();
  auto w1 = cluster_->StartWorker("doomed", 4);
  ASSERT_TRUE(w1);
  std::vector<protocol::TaskSpec> specs(8, Spec("sleep", R"({"ms": 1500})"));
  auto ids = SubmitAll(cluster_->client(), specs);
  ASSERT_EQ(ids.size(), 8u);
  ASSERT_TRUE(WaitForState(ids, TaskState::kRunning, 4, 10000));
  auto killed_at = std::chrono::steady_clock::now();
  cluster_->worker(*w1).Kill9();
  ASSERT_TRUE(cluster_->StartWorker("rescuer", 8));
  auto tasks = WaitAll(cluster_->client(), ids, 30000);
  ASSERT_EQ(tasks.size(), 8u);
  size_t retried = 0;
  for (const auto& t : tasks) {
    EXPECT_EQ(t.state, TaskState::kSucceeded) << t.id;
    EXPECT_EQ(t.worker, "rescuer");
    EXPECT_LE(t.attempts, 2u);
    retried += t.attempts == 2;
  }
  EXPECT_EQ(retried, 4u) << "exactly the 4 tasks the dead worker held ran twice";
  // Detection is liveness x heartbeat (600 ms here), then a 1.5 s task.
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at, std::chrono::seconds(8));
}

// A worker frozen while it holds tasks sends nothing, but its connection stays up: only the
// heartbeat liveness (3 x 200 ms) can tell. Leases are 60 s, so the reaper cannot be what
// recovers the tasks in the time allowed.
TEST_F(RecoveryTest, ASilentWorkerHoldingTasksIsReleasedLongBeforeItsLeasesExpire) {
  Cluster::Options options;
  options.lease_ms = 60000;
  StartCluster(options);
  auto frozen = cluster_->StartWorker("frozen", 2);
  ASSERT_TRUE(frozen);
  std::vector<protocol::TaskSpec> specs(2, Spec("sleep", R"({"ms": 500})"));
  for (auto& s : specs) s.backoff = BackoffPolicy{50, 50, 1.0, false};
  auto ids = SubmitAll(cluster_->client(), specs);
  ASSERT_EQ(ids.size(), 2u);
  ASSERT_TRUE(WaitForState(ids, TaskState::kRunning, 2, 10000));
  auto silenced_at = std::chrono::steady_clock::now();
  cluster_->worker(*frozen).Signal(SIGSTOP);
  ASSERT_TRUE(cluster_->StartWorker("rescuer", 2));
  auto tasks = WaitAll(cluster_->client(), ids, 20000);
  auto took = std::chrono::steady_clock::now() - silenced_at;
  cluster_->worker(*frozen).Kill9();
  ASSERT_EQ(tasks.size(), 2u);
  for (const auto& t : tasks) {
    EXPECT_EQ(t.state, TaskState::kSucceeded) << t.id;
    EXPECT_EQ(t.worker, "rescuer") << t.id;
    EXPECT_EQ(t.attempts, 2u) << t.id;
    ASSERT_FALSE(t.history.empty()) << t.id;
    EXPECT_EQ(t.history.back().code, "worker_lost") << t.id;
  }
  // Liveness (600 ms) + backoff + a 500 ms run, with room for a loaded machine; the lease
  // would have taken 60 s.
  EXPECT_LT(took, std::chrono::seconds(10));
}

// A broker that dies for good holding leases: no broker knows the worker any more, so no
// heartbeat release happens, and only another broker's reaper (same Redis and prefix) can
// re-queue the tasks once their leases expire.
TEST_F(RecoveryTest, AnotherBrokersReaperRecoversTheLeasesOfABrokerThatDied) {
  Cluster::Options options;
  options.lease_ms = 1500;
  StartCluster(options);
  auto orphaned = cluster_->StartWorker("orphaned", 2);
  ASSERT_TRUE(orphaned);
  std::vector<protocol::TaskSpec> specs(2, Spec("sleep", R"({"ms": 1500})"));
  for (auto& s : specs) s.backoff = BackoffPolicy{50, 50, 1.0, false};
  auto ids = SubmitAll(cluster_->client(), specs);
  ASSERT_EQ(ids.size(), 2u);
  ASSERT_TRUE(WaitForState(ids, TaskState::kRunning, 2, 10000));
  cluster_->broker().Kill9();
  // The orphaned worker keeps running its attempts and redialling the dead broker.

  BrokerLaunch l;
  l.dir = cluster_->dir() + "/b2";
  std::filesystem::create_directories(l.dir);
  l.redis_url = "unix://" + cluster_->redis()->config().unix_path;
  l.prefix = "tmc" + std::to_string(getpid()) + ":";
  l.lease_ms = 1500;
  l.extra_args = {"--reap-ms", "100"};
  ChildProcess broker2, rescuer;
  auto b2 = LaunchBroker(l, broker2, [&] { return cluster_->Logs(); });
  ASSERT_TRUE(b2.has_value()) << b2.error().message;
  auto w = ChildProcess::Spawn(WorkerArgv(b2->backend, "rescuer", 2, "default", 200, 3),
                               l.dir + "/worker.log");
  ASSERT_TRUE(w.has_value());
  rescuer = std::move(*w);
  WireClient client(b2->frontend);
  auto tasks = WaitAll(client, ids, 20000);
  ASSERT_EQ(tasks.size(), 2u);
  for (const auto& t : tasks) {
    EXPECT_EQ(t.state, TaskState::kSucceeded) << t.id;
    EXPECT_EQ(t.worker, "rescuer") << t.id;
    EXPECT_EQ(t.attempts, 2u) << t.id;
    ASSERT_FALSE(t.history.empty()) << t.id;
    EXPECT_EQ(t.history.back().code, "lease_expired") << t.id;
  }
  rescuer.Kill9();
  broker2.Kill9();
}

TEST_F(RecoveryTest, AWorkerRestartedUnderTheSameIdDoesNotStrandItsTasks) {
  // Liveness of 20 x 200 ms: the restarted process says READY long before the old one would
  // be declared dead, and on the same routing id, so only READY's `running` can tell the
  // broker the old attempt is gone.
  Cluster::Options options;
  options.liveness = 20;
  options.lease_ms = 30000;
  StartCluster(options);
  auto w = cluster_->StartWorker("same-id", 1);
  ASSERT_TRUE(w);
  auto id = SubmitOne(cluster_->client(), Spec("exec", R"({"argv": ["sh", "-c",
                        "if [ \"$TASKMILL_ATTEMPT\" = 1 ]; then sleep 600; fi; echo second"]})"));
  ASSERT_TRUE(WaitForState({id}, TaskState::kRunning, 1, 10000));
  cluster_->worker(*w).Kill9();
  ASSERT_TRUE(cluster_->StartWorker("same-id", 1));
  auto tasks = WaitAll(cluster_->client(), {id}, 10000);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].state, TaskState::kSucceeded);
  EXPECT_EQ(tasks[0].attempts, 2u);
  EXPECT_EQ(tasks[0].output, "second\n");
}

TEST_F(RecoveryTest, BrokerKilledAndRestartedLosesNoAcknowledgedTask) {
  StartCluster();
  ASSERT_TRUE(cluster_->StartWorker("w1", 4));
  std::vector<protocol::TaskSpec> specs(40, Spec("sleep", R"({"ms": 100})"));
  auto ids = SubmitAll(cluster_->client(), specs);
  ASSERT_EQ(ids.size(), 40u);
  ASSERT_TRUE(WaitForState(ids, TaskState::kSucceeded, 4, 10000));
  cluster_->broker().Kill9();
  ASSERT_TRUE(cluster_->StartBroker());
  auto tasks = WaitAll(cluster_->client(), ids, 40000);
  ASSERT_EQ(tasks.size(), 40u);
  for (const auto& t : tasks) EXPECT_EQ(t.state, TaskState::kSucceeded) << t.id;
}

TEST_F(RecoveryTest, WorkerSigtermFinishesItsTaskAndExitsCleanly) {
  StartCluster();
  auto w = cluster_->StartWorker("w1", 1);
  ASSERT_TRUE(w);
  auto id = SubmitOne(cluster_->client(), Spec("sleep", R"({"ms": 600})"));
  ASSERT_TRUE(WaitForState({id}, TaskState::kRunning, 1, 10000));
  cluster_->worker(*w).Signal(SIGTERM);
  auto code = cluster_->worker(*w).Wait(10000);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
  auto tasks = WaitAll(cluster_->client(), {id}, 5000);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].state, TaskState::kSucceeded);
  EXPECT_EQ(tasks[0].attempts, 1u);
}

// SIGTERM hands off (issue 17): the worker gets MOVE, keeps its task and keeps running; with
// its single endpoint it reconnects once the broker is back and its result is recorded.
TEST_F(RecoveryTest, BrokerSigtermHandsOffWorkersAndStopsItsEmbeddedRedis) {
  Cluster::Options options;
  options.embedded_redis = true;
  StartCluster(options);
  auto w = cluster_->StartWorker("w1", 1);
  ASSERT_TRUE(w);
  pid_t worker_pid = cluster_->worker(*w).pid();
  auto id = SubmitOne(cluster_->client(), Spec("sleep", R"({"ms": 500})"));
  ASSERT_TRUE(WaitForState({id}, TaskState::kRunning, 1, 10000));
  cluster_->broker().Signal(SIGTERM);
  auto broker_code = cluster_->broker().Wait(15000);
  ASSERT_TRUE(broker_code.has_value()) << "broker did not exit";
  EXPECT_EQ(*broker_code, 0);
  // Redis got SIGTERM and flushed its AOF itself; it was not SIGKILLed after a timeout.
  std::string broker_log = ReadFile(cluster_->dir() + "/broker.log");
  EXPECT_EQ(broker_log.find("ignored SIGTERM"), std::string::npos);
  EXPECT_NE(broker_log.find("MOVE to 1 worker(s)"), std::string::npos) << broker_log;
  EXPECT_TRUE(cluster_->worker(*w).Running()) << "a broker's SIGTERM must not stop its workers";
  ASSERT_TRUE(cluster_->StartBroker());
  auto tasks = WaitAll(cluster_->client(), {id}, 15000);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].state, TaskState::kSucceeded);
  EXPECT_TRUE(cluster_->worker(*w).Running());
  EXPECT_EQ(cluster_->worker(*w).pid(), worker_pid);
}

// A second broker on a --data-dir in use stops at once and names the first one's pid,
// instead of waiting (15 s) for the first one's redis-server to go; the first carries on.
TEST_F(RecoveryTest, ASecondBrokerOnTheSameDataDirSaysAtOnceWhoHoldsIt) {
  Cluster::Options options;
  options.embedded_redis = true;
  StartCluster(options);
  std::string log = cluster_->dir() + "/second-broker.log";
  auto second = ChildProcess::Spawn(
      {Binary("broker/taskmill-broker"), "--frontend", "tcp://127.0.0.1:*", "--backend",
       "tcp://127.0.0.1:*", "--http", "off", "--data-dir", cluster_->dir() + "/data"},
      log);
  ASSERT_TRUE(second) << second.error().message;
  auto started = std::chrono::steady_clock::now();
  auto code = second->Wait(10000);
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(code.has_value()) << "the second broker is still running:\n" << ReadFile(log);
  EXPECT_NE(*code, 0);
  EXPECT_LT(took, std::chrono::seconds(5)) << "it waited instead of saying why";
  std::string said = ReadFile(log);
  EXPECT_NE(said.find("in use by another broker (pid " +
                      std::to_string(cluster_->broker().pid()) + ","),
            std::string::npos)
      << said;
  auto id = SubmitOne(cluster_->client(), Spec("echo", "still here"));
  ASSERT_TRUE(cluster_->StartWorker("w1", 1));
  auto tasks = WaitAll(cluster_->client(), {id}, 10000);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].state, TaskState::kSucceeded);
}

}  // namespace
}  // namespace taskmill::testing
