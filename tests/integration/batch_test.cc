// Batches end to end: DAG order, output-to-input, cycle rejection, dependency_failed
// cascades, batch states, cost sums, budgets and the event stream.

#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>

#include "flow_helpers.h"
#include "support/launch.h"

namespace taskmill::testing {
namespace {

using protocol::TaskState;

protocol::TaskSpec Node(const std::string& name, const std::string& type,
                        const std::string& payload, std::vector<std::string> deps = {}) {
  auto s = Spec(type, payload);
  s.name = name;
  s.depends_on = std::move(deps);
  s.max_attempts = 1;
  return s;
}

// An exec task that prints `out` and reports `usd` as its cost.
protocol::TaskSpec Costly(const std::string& name, double usd, std::vector<std::string> deps = {}) {
  std::string script = "printf '{\\\"usd\\\": " + std::to_string(usd) +
                       "}' > \\\"$TASKMILL_COST_FILE\\\"; printf " + name;
  return Node(name, "exec", R"({"argv": ["sh", "-c", ")" + script + R"("]})", std::move(deps));
}

class BatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Cluster::Start({});
    ASSERT_TRUE(c.has_value()) << c.error().message;
    cluster_ = std::move(*c);
    ASSERT_TRUE(cluster_->StartWorker("w1", 4));
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_->Logs();
  }
  Result<protocol::Reply> Submit(protocol::BatchSpec spec, bool subscribe = false) {
    protocol::Batch b;
    b.batch = std::move(spec);
    b.subscribe = subscribe;
    return cluster_->client().Call(b);
  }
  // Waits for every task of the batch and returns them by name.
  std::map<std::string, protocol::TaskInfo> Finish(const protocol::BatchStatus& b) {
    std::vector<std::string> ids;
    std::vector<std::string> names;
    for (const auto& [name, id] : b.tasks) {
      names.push_back(name);
      ids.push_back(id);
    }
    auto tasks = WaitAll(cluster_->client(), ids, 30000);
    std::map<std::string, protocol::TaskInfo> out;
    for (size_t i = 0; i < tasks.size(); ++i) out[names[i]] = tasks[i];
    return out;
  }
  protocol::BatchStatus Status(const std::string& id) {
    protocol::Get g;
    g.batch_id = id;
    auto r = cluster_->client().Call(g);
    EXPECT_TRUE(r && r->batch);
    return r && r->batch ? *r->batch : protocol::BatchStatus{};
  }
  std::unique_ptr<Cluster> cluster_;
};

// The middle steps take very different times, so a join released by its first parent
// (early) starts long before the slow parent ends, and the order is decisive.
TEST_F(BatchTest, DiamondRunsInDependencyOrder) {
  protocol::BatchSpec spec;
  spec.tasks = {Node("a", "sleep", R"({"ms": 30})"), Node("b", "sleep", R"({"ms": 20})", {"a"}),
                Node("c", "sleep", R"({"ms": 700})", {"a"}),
                Node("d", "echo", "joined", {"b", "c"})};
  auto reply = Submit(spec);
  ASSERT_TRUE(reply);
  ASSERT_FALSE(reply->error) << reply->error->message;
  ASSERT_TRUE(reply->batch);
  EXPECT_EQ(reply->batch->total, 4u);
  auto t = Finish(*reply->batch);
  for (const char* n : {"a", "b", "c", "d"}) EXPECT_EQ(t[n].state, TaskState::kSucceeded) << n;
  EXPECT_GE(t["b"].started_ms, t["a"].finished_ms);
  EXPECT_GE(t["c"].started_ms, t["a"].finished_ms);
  // b and c ran side by side (4 slots): b was long done while c still slept.
  EXPECT_LT(t["b"].finished_ms + 300, t["c"].finished_ms);
  // The join waited for the slow parent, not only for the first one to end.
  EXPECT_GE(t["d"].started_ms, t["c"].finished_ms);
  EXPECT_GE(t["d"].started_ms, t["b"].finished_ms);
  auto status = Status(reply->batch->id);
  EXPECT_EQ(status.state, "succeeded");
  EXPECT_EQ(status.counts["succeeded"], 4u);
  // a -> c -> d: at least the two sleeps.
  EXPECT_GE(status.critical_path_ms, 730u);
}

TEST_F(BatchTest, EachStepReceivesItsParentsOutputs) {
  auto cat = [](const std::string& name, std::vector<std::string> deps) {
    std::string script = "printf '" + name +
                         "('; for p in $(ls \\\"$TASKMILL_PARENTS_DIR\\\" | sort); do cat "
                         "\\\"$TASKMILL_PARENTS_DIR/$p\\\"; done; printf ')'";
    return Node(name, "exec", R"({"argv": ["sh", "-c", ")" + script + R"("]})", std::move(deps));
  };
  protocol::BatchSpec spec;
  spec.tasks = {Node("a", "exec", R"({"argv": ["printf", "A"]})"), cat("b", {"a"}), cat("c", {"a"}),
                cat("d", {"b", "c"})};
  auto reply = Submit(spec);
  ASSERT_TRUE(reply && reply->batch) << (reply && reply->error ? reply->error->message : "");
  auto t = Finish(*reply->batch);
  EXPECT_EQ(t["b"].output, "b(A)");
  EXPECT_EQ(t["c"].output, "c(A)");
  EXPECT_EQ(t["d"].output, "d(b(A)c(A))");
}

TEST_F(BatchTest, ACycleIsRejectedWithItsPathAndNothingIsStored) {
  protocol::BatchSpec spec;
  spec.tasks = {Node("a", "echo", "", {"c"}), Node("b", "echo", "", {"a"}),
                Node("c", "echo", "", {"b"}), Node("free", "echo", "")};
  auto reply = Submit(spec);
  ASSERT_TRUE(reply);
  ASSERT_TRUE(reply->error);
  EXPECT_EQ(reply->error->code, "cycle");
  EXPECT_NE(reply->error->message.find("->"), std::string::npos) << reply->error->message;
  protocol::Stats stats;
  auto s = cluster_->client().Call(stats);
  ASSERT_TRUE(s);
  for (const auto& q : s->queues) EXPECT_EQ(q.submitted, 0u);

  spec.tasks = {Node("a", "echo", "", {"ghost"})};
  reply = Submit(spec);
  ASSERT_TRUE(reply && reply->error);
  EXPECT_EQ(reply->error->code, "invalid_argument");
  EXPECT_NE(reply->error->message.find("ghost"), std::string::npos);
}

TEST_F(BatchTest, ADeadParentCancelsExactlyItsDescendants) {
  protocol::BatchSpec spec;
  spec.tasks = {Node("root", "fail", R"({"fail_attempts": 9, "retryable": false})"),
                Node("child", "echo", "", {"root"}), Node("grandchild", "echo", "", {"child"}),
                Node("other", "echo", "x"), Node("after_other", "echo", "y", {"other"})};
  auto reply = Submit(spec);
  ASSERT_TRUE(reply && reply->batch);
  auto t = Finish(*reply->batch);
  EXPECT_EQ(t["root"].state, TaskState::kFailed);
  EXPECT_EQ(t["child"].state, TaskState::kCancelled);
  EXPECT_EQ(t["grandchild"].state, TaskState::kCancelled);
  EXPECT_EQ(t["other"].state, TaskState::kSucceeded);
  EXPECT_EQ(t["after_other"].state, TaskState::kSucceeded);
  EXPECT_EQ(t["child"].attempts, 0u);
  auto status = Status(reply->batch->id);
  EXPECT_EQ(status.state, "partial");
  EXPECT_EQ(status.counts["cancelled"], 2u);
}

TEST_F(BatchTest, BatchStateIsFailedOnlyWhenEveryTaskFailed) {
  protocol::BatchSpec spec;
  spec.tasks = {Node("x", "fail", R"({"fail_attempts": 9, "retryable": false})"),
                Node("y", "fail", R"({"fail_attempts": 9, "retryable": false})")};
  auto reply = Submit(spec);
  ASSERT_TRUE(reply && reply->batch);
  Finish(*reply->batch);
  EXPECT_EQ(Status(reply->batch->id).state, "failed");
}

TEST_F(BatchTest, CostsSumExactlyAcrossTasksAndIntoTheQueue) {
  protocol::BatchSpec spec;
  spec.tasks = {Costly("a", 0.125), Costly("b", 0.25, {"a"}), Costly("c", 0.0625, {"a"})};
  auto reply = Submit(spec);
  ASSERT_TRUE(reply && reply->batch);
  auto t = Finish(*reply->batch);
  std::map<std::string, double> summed;
  for (const auto& [name, task] : t) {
    ASSERT_EQ(task.state, TaskState::kSucceeded) << name;
    for (const auto& [k, v] : task.cost) summed[k] += v;
  }
  auto status = Status(reply->batch->id);
  EXPECT_DOUBLE_EQ(summed["usd"], 0.4375);
  for (const auto& [k, v] : summed) EXPECT_NEAR(status.cost[k], v, 1e-9) << k;
  protocol::Stats stats;
  auto s = cluster_->client().Call(stats);
  ASSERT_TRUE(s && !s->queues.empty());
  EXPECT_NEAR(s->queues[0].cost["usd"], 0.4375, 1e-9);
}

TEST_F(BatchTest, CrossingTheBudgetCancelsTheNotYetStartedRest) {
  protocol::BatchSpec spec;
  spec.budget = {{"usd", 0.25}};
  spec.tasks = {Costly("s1", 0.1), Costly("s2", 0.1, {"s1"}), Costly("s3", 0.1, {"s2"}),
                Costly("s4", 0.1, {"s3"}), Costly("s5", 0.1, {"s4"})};
  auto reply = Submit(spec, /*subscribe=*/true);
  ASSERT_TRUE(reply && reply->batch);
  auto t = Finish(*reply->batch);
  EXPECT_EQ(t["s1"].state, TaskState::kSucceeded);
  EXPECT_EQ(t["s2"].state, TaskState::kSucceeded);
  EXPECT_EQ(t["s3"].state, TaskState::kSucceeded);  // it crossed the budget when it ended
  EXPECT_EQ(t["s4"].state, TaskState::kCancelled);
  EXPECT_EQ(t["s5"].state, TaskState::kCancelled);
  auto status = Status(reply->batch->id);
  EXPECT_TRUE(status.budget_exceeded);
  EXPECT_NEAR(status.cost["usd"], 0.3, 1e-9);
  // Every unstarted member is cancelled for the budget, not for its parent (whichever of
  // s4 and s5 the script meets first), and the events say the reason GET says.
  std::map<std::string, std::string> event_reason;
  for (bool completed = false; !completed;) {
    auto push = cluster_->client().NextPush(20000);
    ASSERT_TRUE(push) << "no batch_completed event";
    auto* e = std::get_if<protocol::Event>(&*push);
    ASSERT_NE(e, nullptr);
    completed = e->type == "batch_completed";
    if (e->state == "cancelled" && e->error) event_reason[e->task_name] = e->error->code;
  }
  for (const char* n : {"s4", "s5"}) {
    ASSERT_TRUE(t[n].error) << n;
    EXPECT_EQ(t[n].error->message, "budget_exceeded") << n << ": GET's reason";
    EXPECT_EQ(event_reason[n], t[n].error->message) << n << ": the event's reason";
  }
}

TEST_F(BatchTest, NothingRetriesOnceTheBudgetIsExceeded) {
  // "slow_fail" is already running when "spender" crosses the budget; its retryable failure
  // must end it (cancelled), not schedule another paid attempt.
  protocol::BatchSpec spec;
  spec.budget = {{"usd", 0.15}};
  auto slow_fail = Node("slow_fail", "exec", R"({"argv": ["sh", "-c", "sleep 0.5; exit 1"]})");
  slow_fail.max_attempts = 3;
  slow_fail.backoff = BackoffPolicy{10, 10, 1.0, false};
  spec.tasks = {slow_fail, Costly("spender", 0.2)};
  auto reply = Submit(spec);
  ASSERT_TRUE(reply && reply->batch);
  auto t = Finish(*reply->batch);
  EXPECT_EQ(t["spender"].state, TaskState::kSucceeded);
  EXPECT_EQ(t["slow_fail"].state, TaskState::kCancelled);
  EXPECT_EQ(t["slow_fail"].attempts, 1u);
  EXPECT_TRUE(Status(reply->batch->id).budget_exceeded);
}

TEST_F(BatchTest, EventsArriveInAValidOrderWithNothingMissing) {
  protocol::BatchSpec spec;
  spec.budget = {{"usd", 1.0}};
  spec.tasks = {Costly("a", 0.5), Costly("b", 0.375, {"a"}), Costly("c", 0.0625, {"a"}),
                Node("d", "fail", R"({"fail_attempts": 9, "retryable": false})", {"b"})};
  auto reply = Submit(spec, /*subscribe=*/true);
  ASSERT_TRUE(reply && reply->batch);
  std::vector<protocol::Event> events;
  while (events.empty() || events.back().type != "batch_completed") {
    auto push = cluster_->client().NextPush(20000);
    ASSERT_TRUE(push) << "events stopped after " << events.size();
    auto* e = std::get_if<protocol::Event>(&*push);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->batch_id, reply->batch->id);
    events.push_back(*e);
  }
  ASSERT_EQ(events.front().type, "batch_started");
  std::map<std::string, std::vector<std::string>> per_task;
  uint32_t last_done = 0;
  bool warned = false;
  for (const auto& e : events) {
    if (!e.task_name.empty()) per_task[e.task_name].push_back(e.type + ":" + e.state);
    if (e.type == "batch_progress") {
      EXPECT_GE(e.done, last_done);
      last_done = e.done;
      EXPECT_EQ(e.total, 4u);
    }
    warned |= e.type == "budget_warning";
  }
  EXPECT_TRUE(warned) << "0.875 of a 1.0 budget crosses 80%";
  EXPECT_EQ(last_done, 4u);
  for (const char* n : {"a", "b", "c"}) {
    EXPECT_EQ(per_task[n],
              (std::vector<std::string>{"task_started:running", "task_completed:succeeded"}))
        << n;
  }
  EXPECT_EQ(per_task["d"],
            (std::vector<std::string>{"task_started:running", "task_failed:failed"}));
  const auto& done = events.back();
  EXPECT_EQ(done.state, "partial");
  EXPECT_NEAR(done.cost.at("usd"), 0.9375, 1e-9);
}

TEST_F(BatchTest, CancellingABatchStopsItsUnfinishedTasks) {
  protocol::BatchSpec spec;
  spec.tasks = {Node("long", "sleep", R"({"ms": 30000})"), Node("after", "echo", "", {"long"})};
  auto reply = Submit(spec);
  ASSERT_TRUE(reply && reply->batch);
  protocol::Cancel cancel;
  cancel.batch_id = reply->batch->id;
  auto c = cluster_->client().Call(cancel);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->count, 2u);
  auto t = Finish(*reply->batch);
  EXPECT_EQ(t["long"].state, TaskState::kCancelled);
  EXPECT_EQ(t["after"].state, TaskState::kCancelled);
}

// A batch finished through another broker: the broker holding the subscription never sees
// its tasks end, so only its sweep can tell the subscriber the batch completed.
TEST(BatchSweepTest, ABatchFinishedThroughAnotherBrokerStillCompletesForItsSubscriber) {
  Cluster::Options o;
  o.broker_args = {"--sweep-ms", "200"};
  auto c = Cluster::Start(o);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  auto& cluster = **c;
  // The second broker, on the same Redis and prefix, with the only worker.
  BrokerLaunch l;
  l.dir = cluster.dir() + "/b2";
  std::filesystem::create_directories(l.dir);
  l.redis_url = "unix://" + cluster.redis()->config().unix_path;
  l.prefix = "tmc" + std::to_string(getpid()) + ":";
  ChildProcess broker2, worker;
  auto b2 = LaunchBroker(l, broker2, [&] { return cluster.Logs(); });
  ASSERT_TRUE(b2.has_value()) << b2.error().message;
  auto w = ChildProcess::Spawn(WorkerArgv(b2->backend, "w-elsewhere", 2, "default", 200, 3),
                               l.dir + "/worker.log");
  ASSERT_TRUE(w.has_value());
  worker = std::move(*w);

  protocol::Batch b;
  b.subscribe = true;
  protocol::TaskSpec a = Spec("echo", R"("a")");
  a.name = "a";
  protocol::TaskSpec z = Spec("echo", R"("z")");
  z.name = "z";
  z.depends_on = {"a"};
  b.batch.tasks = {a, z};
  auto reply = cluster.client().Call(b);
  ASSERT_TRUE(reply && reply->batch) << cluster.Logs();
  std::string last;
  while (last != "batch_completed") {
    auto push = cluster.client().NextPush(15000);
    ASSERT_TRUE(push) << "no batch_completed; last event " << last;
    auto* e = std::get_if<protocol::Event>(&*push);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->batch_id, reply->batch->id);
    last = e->type;
    if (last == "batch_completed") {
      EXPECT_EQ(e->state, "succeeded");
    }
  }
  worker.Kill9();
  broker2.Kill9();
}

}  // namespace
}  // namespace taskmill::testing
