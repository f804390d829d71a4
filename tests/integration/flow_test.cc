// Tasks flow end to end: client -> broker -> Redis -> worker -> broker -> client, through
// real processes on loopback, for every built-in handler and the retry/priority rules.

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <thread>

#include "flow_helpers.h"
#include "support/launch.h"
#include "test_paths.h"  // TASKMILL_SOURCE_DIR, TASKMILL_BUILD_DIR

namespace taskmill::testing {
namespace {

using protocol::TaskState;

class FlowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Cluster::Start({});
    ASSERT_TRUE(c.has_value()) << c.error().message;
    cluster_ = std::move(*c);
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_->Logs();
  }
  WireClient& client() { return cluster_->client(); }
  std::unique_ptr<Cluster> cluster_;
};

TEST_F(FlowTest, EveryBuiltinHandlerRunsToItsResult) {
  ASSERT_TRUE(cluster_->StartWorker("w1", 4));
  auto echo = SubmitOne(client(), Spec("echo", "hello"));
  auto sleep = SubmitOne(client(), Spec("sleep", R"({"ms": 50})"));
  auto exec_ok = SubmitOne(
      client(),
      Spec(
          "exec",
          R"({"argv": ["sh", "-c", "printf '{\"usd\": 0.25, \"tokens_in\": 512}' > \"$TASKMILL_COST_FILE\"; echo out; echo err >&2"]})"));
  auto exec_fail = SubmitOne(
      client(),
      Spec("exec", R"({"argv": ["sh", "-c", "echo half; exit 3"], "retry_on_nonzero": false})"));
  auto tasks = WaitAll(client(), {echo, sleep, exec_ok, exec_fail});
  ASSERT_EQ(tasks.size(), 4u);

  EXPECT_EQ(tasks[0].state, TaskState::kSucceeded);
  EXPECT_EQ(tasks[0].output, "hello");
  EXPECT_EQ(tasks[0].attempts, 1u);
  EXPECT_EQ(tasks[0].worker, "w1");

  EXPECT_EQ(tasks[1].state, TaskState::kSucceeded);
  EXPECT_GE(tasks[1].duration_ms, 50u);

  EXPECT_EQ(tasks[2].state, TaskState::kSucceeded);
  EXPECT_EQ(tasks[2].exit_code, 0);
  EXPECT_EQ(tasks[2].stdout_data, "out\n");
  EXPECT_EQ(tasks[2].stderr_data, "err\n");
  EXPECT_DOUBLE_EQ(tasks[2].cost.at("usd"), 0.25);
  EXPECT_DOUBLE_EQ(tasks[2].cost.at("tokens_in"), 512);
  EXPECT_TRUE(tasks[2].cost.count("cpu_ms"));
  EXPECT_TRUE(tasks[2].cost.count("wall_ms"));

  EXPECT_EQ(tasks[3].state, TaskState::kFailed);
  EXPECT_EQ(tasks[3].exit_code, 3);
  EXPECT_EQ(tasks[3].stdout_data, "half\n");
  ASSERT_TRUE(tasks[3].error.has_value());
  EXPECT_FALSE(tasks[3].error->retryable);
  EXPECT_EQ(tasks[3].attempts, 1u);
}

TEST_F(FlowTest, OneWorkerRunsTasksInPriorityOrderFifoWithinAPriority) {
  std::vector<protocol::TaskSpec> specs;
  std::vector<int> priority;
  for (int i = 0; i < 24; ++i) {
    auto s = Spec("sleep", R"({"ms": 15})");
    s.priority = static_cast<uint8_t>((i * 7) % 4 * 50);  // 0, 150, 100, 50, ...
    priority.push_back(s.priority);
    specs.push_back(s);
  }
  auto ids = SubmitAll(client(), specs);  // queued before any worker exists
  ASSERT_EQ(ids.size(), 24u);
  ASSERT_TRUE(cluster_->StartWorker("solo", 1));
  auto tasks = WaitAll(client(), ids);
  ASSERT_EQ(tasks.size(), 24u);
  std::vector<size_t> order(24);
  for (size_t i = 0; i < 24; ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return tasks[a].started_ms < tasks[b].started_ms; });
  for (size_t k = 1; k < order.size(); ++k) {
    size_t prev = order[k - 1], cur = order[k];
    ASSERT_EQ(tasks[cur].state, TaskState::kSucceeded);
    EXPECT_GE(priority[prev], priority[cur]) << "task " << cur << " ran after a lower priority";
    if (priority[prev] == priority[cur]) {
      EXPECT_LT(prev, cur) << "FIFO broken in a priority";
    }
  }
}

TEST_F(FlowTest, TasksQueuedWhileEveryWorkerIsBusyRunAsSlotsFreeHighestPriorityFirst) {
  // The broker claims only as many tasks as workers have free slots for, and a DONE claims
  // again only for a worker that may find something: tasks queued while every slot is busy
  // must still be claimed as slots free, by priority across the worker's queues.
  ASSERT_TRUE(cluster_->StartWorker("solo", 1, "hi,lo"));
  auto blocker = SubmitOne(client(), Spec("sleep", R"({"ms": 1500})", "lo"));
  ASSERT_TRUE(WaitFor([&] { return GetOne(client(), blocker).state == TaskState::kRunning; },
                      10000))
      << "the blocker never started";
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {  // one SUBMIT each, low priority first
    auto s = Spec("echo", "{}", i % 2 == 0 ? "lo" : "hi");
    s.priority = i % 2 == 0 ? 0 : 100;
    ids.push_back(SubmitOne(client(), s));
  }
  ASSERT_EQ(GetOne(client(), blocker).state, TaskState::kRunning) << "all queued while busy";
  auto tasks = WaitAll(client(), ids);
  ASSERT_EQ(tasks.size(), ids.size());
  auto first_lo = std::numeric_limits<int64_t>::max();
  int64_t last_hi = 0;
  for (size_t i = 0; i < tasks.size(); ++i) {
    ASSERT_EQ(tasks[i].state, TaskState::kSucceeded) << i;
    if (i % 2 == 0) first_lo = std::min(first_lo, tasks[i].started_ms);
    if (i % 2 == 1) last_hi = std::max(last_hi, tasks[i].started_ms);
  }
  EXPECT_LE(last_hi, first_lo) << "a low-priority task ran before a high-priority one";
}

TEST_F(FlowTest, FailingTwiceThenSucceedingTakesThreeAttemptsWithBackoff) {
  ASSERT_TRUE(cluster_->StartWorker("w1", 2));
  auto spec = Spec("fail", R"({"fail_attempts": 2, "retryable": true})");
  spec.backoff = BackoffPolicy{300, 5000, 2.0, false};
  auto id = SubmitOne(client(), spec);
  auto tasks = WaitAll(client(), {id});
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].state, TaskState::kSucceeded);
  EXPECT_EQ(tasks[0].attempts, 3u);
  // Delays of 300 ms and 600 ms between the attempts.
  EXPECT_GE(tasks[0].finished_ms - tasks[0].created_ms, 900);
}

TEST_F(FlowTest, LastAttemptFailingEndsInTheDeadLetterSet) {
  ASSERT_TRUE(cluster_->StartWorker("w1", 2));
  auto spec = Spec("fail", R"({"fail_attempts": 10, "retryable": true})");
  spec.max_attempts = 2;
  spec.backoff = BackoffPolicy{50, 50, 1.0, false};
  auto id = SubmitOne(client(), spec);
  auto tasks = WaitAll(client(), {id});
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].state, TaskState::kFailed);
  EXPECT_EQ(tasks[0].attempts, 2u);
  protocol::Dlq list;
  list.op = protocol::DlqOp::kList;
  auto dead = client().Call(list);
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->tasks.size(), 1u);
  EXPECT_EQ(dead->tasks[0].id, id);
  EXPECT_FALSE(dead->tasks[0].history.empty());
}

TEST_F(FlowTest, ExecTimeoutKillsTheChild) {
  ASSERT_TRUE(cluster_->StartWorker("w1", 1));
  auto spec = Spec("exec", R"({"argv": ["sleep", "30"], "timeout_ms": 300})");
  spec.max_attempts = 1;
  auto start = std::chrono::steady_clock::now();
  auto tasks = WaitAll(client(), {SubmitOne(client(), spec)});
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].state, TaskState::kFailed);
  ASSERT_TRUE(tasks[0].error);
  EXPECT_EQ(tasks[0].error->code, "timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(FlowTest, CancellingARunningExecTaskKillsIt) {
  ASSERT_TRUE(cluster_->StartWorker("w1", 1));
  auto id = SubmitOne(client(), Spec("exec", R"({"argv": ["sleep", "30"]})"));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (GetOne(client(), id).state != TaskState::kRunning) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "task never started";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // One CANCEL of the running task and a queued one (no worker serves its type): the
  // REPLY says which is still running, its cancel only requested (protocol-messages.md 8.5).
  auto queued = SubmitOne(client(), Spec("resize", "{}"));
  protocol::Cancel cancel;
  cancel.ids = {id, queued};
  auto reply = client().Call(cancel);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->count, 2u);
  EXPECT_EQ(reply->ids, (std::vector<std::string>{id, queued}));
  EXPECT_EQ(reply->requested, (std::vector<std::string>{id}));
  EXPECT_EQ(GetOne(client(), queued).state, TaskState::kCancelled);
  auto tasks = WaitAll(client(), {id}, 10000);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].state, TaskState::kCancelled);
  EXPECT_LT(tasks[0].finished_ms - tasks[0].started_ms, 10000);
}

TEST_F(FlowTest, CancellingAQueuedTaskIsImmediate) {
  auto id = SubmitOne(client(), Spec("echo", "x"));
  protocol::Cancel cancel;
  cancel.ids = {id};
  auto reply = client().Call(cancel);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->ids, (std::vector<std::string>{id}));
  EXPECT_TRUE(reply->requested.empty());
  EXPECT_EQ(GetOne(client(), id).state, TaskState::kCancelled);
}

TEST_F(FlowTest, ATypeNoWorkerHandlesStaysQueued) {
  ASSERT_TRUE(cluster_->StartWorker("w1", 2));
  auto unknown = SubmitOne(client(), Spec("resize", "{}"));
  auto echo = SubmitOne(client(), Spec("echo", "x"));
  auto tasks = WaitAll(client(), {echo});
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].state, TaskState::kSucceeded);
  EXPECT_EQ(GetOne(client(), unknown).state, TaskState::kQueued);
}

TEST_F(FlowTest, BadRequestsGetErrorsAndTheBrokerCarriesOn) {
  auto& c = client();
  protocol::Submit bad;
  bad.tasks = {Spec("echo", "x", "no spaces allowed")};
  auto reply = c.Call(bad);
  ASSERT_TRUE(reply);
  ASSERT_TRUE(reply->error);
  EXPECT_EQ(reply->error->code, "invalid_argument");
  EXPECT_NE(reply->error->message.find("tasks[0].queue"), std::string::npos);

  c.SendRaw({"TM1", std::string(1, '\x01'), std::string("\xdd\xff\xff\xff\xff", 5)});
  auto refused = c.Receive(5000);
  ASSERT_TRUE(refused);
  auto* r = std::get_if<protocol::Reply>(&*refused);
  ASSERT_NE(r, nullptr);
  ASSERT_TRUE(r->error);
  EXPECT_EQ(r->error->code, "wrong_type");

  c.SendRaw({"XYZ", "\x01", "\x80"});
  refused = c.Receive(5000);
  ASSERT_TRUE(refused);
  EXPECT_EQ(std::get<protocol::Reply>(*refused).error->code, "unknown_version");

  ASSERT_TRUE(cluster_->StartWorker("w1", 1));
  auto tasks = WaitAll(c, {SubmitOne(c, Spec("echo", "still here"))});
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].output, "still here");
}

TEST_F(FlowTest, TheCppExampleProgramRunsAgainstARealBroker) {
  ASSERT_TRUE(cluster_->StartWorker("w1", 2));
  std::string log = cluster_->dir() + "/example.log";
  auto example = ChildProcess::Spawn(
      {std::string(TASKMILL_BUILD_DIR) + "/examples/taskmill-example-cpp", cluster_->frontend()},
      log);
  ASSERT_TRUE(example);
  auto code = example->Wait(30000);
  std::string out = ReadFile(log);
  ASSERT_TRUE(code.has_value()) << out;
  EXPECT_EQ(*code, 0) << out;
  EXPECT_NE(out.find("words counted: 6"), std::string::npos) << out;
  EXPECT_NE(out.find("succeeded, cost usd 0.001"), std::string::npos) << out;
}

TEST_F(FlowTest, AWaitOnManyTasksAnswersEveryOneInOrder) {
  ASSERT_TRUE(cluster_->StartWorker("w1", 8));
  // More ids than one store read carries (500), so the answer is assembled from chunks.
  std::vector<protocol::TaskSpec> specs;
  for (int i = 0; i < 1234; ++i) specs.push_back(Spec("echo", "n" + std::to_string(i)));
  auto ids = SubmitAll(client(), specs);
  ASSERT_EQ(ids.size(), 1234u);
  auto tasks = WaitAll(client(), ids, 60000);
  ASSERT_EQ(tasks.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(tasks[i].id, ids[i]);
    EXPECT_EQ(tasks[i].state, TaskState::kSucceeded);
    EXPECT_EQ(tasks[i].output, "n" + std::to_string(i));
  }
}

TEST_F(FlowTest, NotifyPushesOneResultPerTaskEvenForAFinishedDuplicate) {
  ASSERT_TRUE(cluster_->StartWorker("w1", 4));
  protocol::Submit s;
  s.notify = true;
  for (int i = 0; i < 3; ++i) s.tasks.push_back(Spec("echo", "r" + std::to_string(i)));
  s.tasks[0].idempotency_key = "once";
  auto reply = client().Call(s);
  ASSERT_TRUE(reply && !reply->error && reply->ids.size() == 3);
  std::map<std::string, std::string> outputs;
  while (outputs.size() < 3) {
    auto push = client().NextPush(10000);
    ASSERT_TRUE(push) << "got " << outputs.size() << " RESULTs";
    auto& task = std::get<protocol::ResultMsg>(*push).task;
    EXPECT_EQ(task.state, TaskState::kSucceeded);
    outputs[task.id] = task.output;
  }
  for (int i = 0; i < 3; ++i) EXPECT_EQ(outputs[reply->ids[i]], "r" + std::to_string(i));
  // Resubmitting the finished task under its key: same id, and its RESULT comes at once.
  protocol::Submit again;
  again.notify = true;
  again.tasks = {s.tasks[0]};
  auto second = client().Call(again);
  ASSERT_TRUE(second && !second->error);
  EXPECT_EQ(second->ids.at(0), reply->ids[0]);
  auto push = client().NextPush(10000);
  ASSERT_TRUE(push);
  EXPECT_EQ(std::get<protocol::ResultMsg>(*push).task.id, reply->ids[0]);
}

// A RESULT push is built from what the broker holds when it can (a first attempt); it must
// say exactly what a GET reads from the store afterwards, on that path and the other.
TEST_F(FlowTest, ANotifiedResultIsTheTaskAsAGetReadsIt) {
  ASSERT_TRUE(cluster_->StartWorker("w1", 4));
  protocol::Submit s;
  s.notify = true;
  auto exec = Spec(
      "exec",
      R"({"argv": ["sh", "-c", "printf '{\"usd\": 0.1}' > \"$TASKMILL_COST_FILE\"; echo out; echo err >&2; exit 0"]})");
  exec.name = "with-costs";
  exec.priority = 7;
  exec.max_attempts = 4;
  auto retried = Spec("fail", R"({"fail_attempts": 1, "retryable": true})");
  retried.backoff = BackoffPolicy{20, 20, 1.0, false};
  s.tasks = {exec, Spec("echo", "plain"), retried};
  auto reply = client().Call(s);
  ASSERT_TRUE(reply && !reply->error && reply->ids.size() == 3);
  std::map<std::string, protocol::TaskInfo> pushed;
  while (pushed.size() < 3) {
    auto push = client().NextPush(15000);
    ASSERT_TRUE(push) << "got " << pushed.size() << " RESULTs";
    auto& task = std::get<protocol::ResultMsg>(*push).task;
    pushed[task.id] = task;
  }
  for (const auto& id : reply->ids) {
    protocol::TaskInfo read = GetOne(client(), id);
    EXPECT_EQ(pushed[id], read) << "task " << id << " (" << read.type << ")";
  }
  EXPECT_EQ(pushed[reply->ids[0]].name, "with-costs");
  EXPECT_EQ(pushed[reply->ids[0]].priority, 7);
  EXPECT_DOUBLE_EQ(pushed[reply->ids[0]].cost.at("usd"), 0.1);
  EXPECT_EQ(pushed[reply->ids[0]].stdout_data, "out\n");
  EXPECT_EQ(pushed[reply->ids[2]].attempts, 2u);
}

TEST_F(FlowTest, StatsShowQueuesAndWorkers) {
  ASSERT_TRUE(cluster_->StartWorker("w1", 3));
  WaitAll(client(), {SubmitOne(client(), Spec("echo", "x"))});
  protocol::Stats stats;
  auto reply = client().Call(stats);
  ASSERT_TRUE(reply);
  ASSERT_FALSE(reply->queues.empty());
  EXPECT_EQ(reply->queues[0].queue, "default");
  EXPECT_EQ(reply->queues[0].succeeded, 1u);
  ASSERT_EQ(reply->workers.size(), 1u);
  EXPECT_EQ(reply->workers[0].id, "w1");
  EXPECT_EQ(reply->workers[0].concurrency, 3u);
}

}  // namespace
}  // namespace taskmill::testing
