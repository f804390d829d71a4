// A batch's on_failure end to end (issue 22), with a real redis-server, broker and worker:
// continue (the children of a dead task run, given its error) and fail_fast (the first death
// cancels the rest, a running task through CANCEL_TASK), and the refusal of a policy that
// does not exist. A member that expires (expires_in_ms) acts under each policy as one that
// died, whether the expiry sweep or a worker's claim ends it, and its subscribers get
// task_failed with state expired.

#include <map>

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

// An exec step printing its name, then its parents' outputs and its parent errors file.
protocol::TaskSpec Reporter(const std::string& name, std::vector<std::string> deps) {
  std::string script = "printf '" + name +
                       "['; for p in $(ls \\\"$TASKMILL_PARENTS_DIR\\\" 2>/dev/null | sort); "
                       "do cat \\\"$TASKMILL_PARENTS_DIR/$p\\\"; done; printf '|'; "
                       "cat \\\"${TASKMILL_PARENT_ERRORS_FILE:-/dev/null}\\\"; printf ']'";
  return Node(name, "exec", R"({"argv": ["sh", "-c", ")" + script + R"("]})", std::move(deps));
}

class BatchPolicyTest : public ::testing::Test {
 protected:
  // The broker's extra flags (a subclass's).
  virtual std::vector<std::string> BrokerArgs() const { return {}; }
  void SetUp() override {
    Cluster::Options options;
    options.broker_args = BrokerArgs();
    auto c = Cluster::Start(options);
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
  // The subscribed batch's task events up to batch_completed: name -> "type:state:error code"
  // of each, in order.
  std::map<std::string, std::vector<std::string>> TaskEvents() {
    std::map<std::string, std::vector<std::string>> out;
    for (bool completed = false; !completed;) {
      auto push = cluster_->client().NextPush(20000);
      if (!push) {
        ADD_FAILURE() << "no batch_completed event";
        break;
      }
      auto* e = std::get_if<protocol::Event>(&*push);
      if (e == nullptr) continue;
      completed = e->type == "batch_completed";
      if (e->task_name.empty() || e->type == "task_progress") continue;
      out[e->task_name].push_back(e->type + ":" + e->state + ":" +
                                  (e->error ? e->error->code : ""));
    }
    return out;
  }
  std::map<std::string, protocol::TaskInfo> Finish(const protocol::BatchStatus& b,
                                                   int64_t timeout_ms = 30000) {
    std::vector<std::string> ids;
    std::vector<std::string> names;
    for (const auto& [name, id] : b.tasks) {
      names.push_back(name);
      ids.push_back(id);
    }
    auto tasks = WaitAll(cluster_->client(), ids, timeout_ms);
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

TEST_F(BatchPolicyTest, ContinueRunsTheChildrenOfADeadTaskGivenItsError) {
  protocol::BatchSpec spec;
  spec.on_failure = "continue";
  spec.tasks = {Node("root", "exec", R"({"argv": ["sh", "-c", "printf partial; exit 3"]})"),
                Node("ok", "exec", R"({"argv": ["printf", "OK"]})"),
                Reporter("child", {"root", "ok"}), Reporter("grandchild", {"child"})};
  auto reply = Submit(spec);
  ASSERT_TRUE(reply && reply->batch) << (reply && reply->error ? reply->error->message : "");
  EXPECT_EQ(reply->batch->on_failure, "continue");
  auto t = Finish(*reply->batch);
  EXPECT_EQ(t["root"].state, TaskState::kFailed);
  ASSERT_EQ(t["child"].state, TaskState::kSucceeded);
  // The live parent's output, and the dead one's error instead of its output.
  const std::string& out = t["child"].output;
  EXPECT_EQ(out.rfind("child[OK|{\"root\":{\"code\":\"exit_status\"", 0), 0u) << out;
  // exec retries a non-zero exit by default: the error says so.
  EXPECT_NE(out.find("\"retryable\":true"), std::string::npos) << out;
  EXPECT_EQ(out.find("partial"), std::string::npos) << out;
  EXPECT_EQ(t["grandchild"].state, TaskState::kSucceeded);
  EXPECT_EQ(t["grandchild"].output, "grandchild[" + out + "|]");
  auto status = Status(reply->batch->id);
  EXPECT_EQ(status.state, "partial");
  EXPECT_EQ(status.on_failure, "continue");
  EXPECT_EQ(status.counts["failed"], 1u);
  EXPECT_EQ(status.counts["succeeded"], 3u);
}

TEST_F(BatchPolicyTest, FailFastCancelsTheRestAndStopsTheRunningTask) {
  protocol::BatchSpec spec;
  spec.on_failure = "fail_fast";
  // `slow` is running when `doomed` dies (after 300 ms); it would sleep for a minute.
  spec.tasks = {Node("slow", "sleep", R"({"ms": 60000})"),
                Node("doomed", "exec", R"({"argv": ["sh", "-c", "sleep 0.3; exit 1"]})"),
                Node("after_slow", "echo", "x", {"slow"}),
                Node("after_doomed", "echo", "y", {"doomed"})};
  auto reply = Submit(spec);
  ASSERT_TRUE(reply && reply->batch) << (reply && reply->error ? reply->error->message : "");
  auto t = Finish(*reply->batch, 20000);
  EXPECT_EQ(t["doomed"].state, TaskState::kFailed);
  EXPECT_EQ(t["slow"].state, TaskState::kCancelled);
  EXPECT_EQ(t["slow"].attempts, 1u);
  EXPECT_LT(t["slow"].finished_ms - t["slow"].started_ms, 20000);
  for (const char* n : {"after_slow", "after_doomed"}) {
    EXPECT_EQ(t[n].state, TaskState::kCancelled) << n;
    EXPECT_EQ(t[n].attempts, 0u) << n;
  }
  EXPECT_EQ(t["after_slow"].error ? t["after_slow"].error->message : "", "batch_failed");
  auto status = Status(reply->batch->id);
  EXPECT_EQ(status.state, "failed");
  EXPECT_EQ(status.counts["failed"], 1u);
  EXPECT_EQ(status.counts["cancelled"], 3u);
}

TEST_F(BatchPolicyTest, AnUnknownPolicyIsRefusedNamingTheThree) {
  protocol::BatchSpec spec;
  spec.on_failure = "explode";
  spec.tasks = {Node("a", "echo", "x")};
  auto reply = Submit(spec);
  ASSERT_TRUE(reply && reply->error);
  EXPECT_EQ(reply->error->code, "invalid_argument");
  EXPECT_EQ(reply->error->message,
            "batch.on_failure: unknown value 'explode' (allowed: cancel_dependents, continue, "
            "fail_fast)");
}

// ---- a member that expires (expires_in_ms) acts as one that died (issue 22) ----

// A task no worker here takes (queue "nowhere"), ending expired after `ms`: by the sweep.
protocol::TaskSpec Unclaimed(const std::string& name, uint64_t expires_in_ms) {
  auto s = Node(name, "echo", "never", {});
  s.queue = "nowhere";
  s.expires_in_ms = expires_in_ms;
  return s;
}

TEST_F(BatchPolicyTest, ContinueRunsTheChildOfAnExpiredTaskGivenTheExpiry) {
  protocol::BatchSpec spec;
  spec.on_failure = "continue";
  spec.tasks = {Unclaimed("late", 300), Node("ok", "exec", R"({"argv": ["printf", "OK"]})"),
                Reporter("child", {"late", "ok"})};
  auto reply = Submit(spec, /*subscribe=*/true);
  ASSERT_TRUE(reply && reply->batch) << (reply && reply->error ? reply->error->message : "");
  auto events = TaskEvents();
  auto t = Finish(*reply->batch);
  EXPECT_EQ(t["late"].state, TaskState::kExpired);
  EXPECT_EQ(t["late"].attempts, 0u);
  ASSERT_EQ(t["child"].state, TaskState::kSucceeded);
  const std::string& out = t["child"].output;
  EXPECT_EQ(out.rfind("child[OK|{\"late\":{\"code\":\"expired\"", 0), 0u) << out;
  EXPECT_NE(out.find("\"retryable\":false"), std::string::npos) << out;
  EXPECT_EQ(events["late"], std::vector<std::string>{"task_failed:expired:expired"});
  auto status = Status(reply->batch->id);
  EXPECT_EQ(status.state, "partial");
  EXPECT_EQ(status.counts["expired"], 1u);
  EXPECT_EQ(status.counts["succeeded"], 2u);
}

TEST_F(BatchPolicyTest, FailFastExpiryCancelsTheRestAndStopsTheRunningTask) {
  protocol::BatchSpec spec;
  spec.on_failure = "fail_fast";
  // `slow` has long been running when `late` expires (after 1.5 s).
  spec.tasks = {Node("slow", "sleep", R"({"ms": 60000})"), Unclaimed("late", 1500),
                Node("after_slow", "echo", "x", {"slow"}), Unclaimed("idle", 0)};
  auto reply = Submit(spec, /*subscribe=*/true);
  ASSERT_TRUE(reply && reply->batch) << (reply && reply->error ? reply->error->message : "");
  auto events = TaskEvents();
  auto t = Finish(*reply->batch, 20000);
  EXPECT_EQ(t["late"].state, TaskState::kExpired);
  EXPECT_EQ(t["slow"].state, TaskState::kCancelled);
  EXPECT_EQ(t["slow"].attempts, 1u);
  EXPECT_LT(t["slow"].finished_ms - t["slow"].started_ms, 20000);
  for (const char* n : {"after_slow", "idle"}) {
    EXPECT_EQ(t[n].state, TaskState::kCancelled) << n;
    EXPECT_EQ(t[n].attempts, 0u) << n;
    EXPECT_EQ(t[n].error ? t[n].error->message : "", "batch_failed") << n;
    EXPECT_EQ(events[n], std::vector<std::string>{"task_failed:cancelled:batch_failed"}) << n;
  }
  EXPECT_EQ(events["late"], std::vector<std::string>{"task_failed:expired:expired"});
  auto status = Status(reply->batch->id);
  EXPECT_EQ(status.state, "failed");
  EXPECT_EQ(status.counts["expired"], 1u);
  EXPECT_EQ(status.counts["cancelled"], 3u);
}

TEST_F(BatchPolicyTest, CancelDependentsExpiryStillCancelsOnlyTheDescendants) {
  protocol::BatchSpec spec;
  spec.tasks = {Unclaimed("late", 300), Node("child", "echo", "x", {"late"}),
                Node("other", "echo", "y")};
  auto reply = Submit(spec, /*subscribe=*/true);
  ASSERT_TRUE(reply && reply->batch) << (reply && reply->error ? reply->error->message : "");
  auto events = TaskEvents();
  auto t = Finish(*reply->batch);
  EXPECT_EQ(t["late"].state, TaskState::kExpired);
  EXPECT_EQ(t["child"].state, TaskState::kCancelled);
  EXPECT_EQ(t["child"].error ? t["child"].error->message : "", "dependency_failed");
  EXPECT_EQ(t["other"].state, TaskState::kSucceeded);
  EXPECT_EQ(events["late"], std::vector<std::string>{"task_failed:expired:expired"});
  EXPECT_EQ(events["child"], std::vector<std::string>{"task_failed:cancelled:dependency_failed"});
  EXPECT_EQ(Status(reply->batch->id).state, "partial");
}

// The expiry sweep runs once a minute here (at start, then never within a test): a task past
// its deadline is met, and ended, by a worker's claim instead.
class BatchPolicyClaimExpiryTest : public BatchPolicyTest {
 protected:
  std::vector<std::string> BrokerArgs() const override { return {"--promote-ms", "60000"}; }
};

// `late` becomes ready only when `gate` ends (after 800 ms), long past its 100 ms deadline.
protocol::TaskSpec LateAfterGate() {
  auto s = Node("late", "echo", "never", {"gate"});
  s.expires_in_ms = 100;
  return s;
}

TEST_F(BatchPolicyClaimExpiryTest, ContinueRunsTheChildOfATaskAClaimExpired) {
  protocol::BatchSpec spec;
  spec.on_failure = "continue";
  spec.tasks = {Node("gate", "sleep", R"({"ms": 800})"), LateAfterGate(),
                Reporter("child", {"late"})};
  auto reply = Submit(spec, /*subscribe=*/true);
  ASSERT_TRUE(reply && reply->batch) << (reply && reply->error ? reply->error->message : "");
  auto events = TaskEvents();
  auto t = Finish(*reply->batch);
  EXPECT_EQ(t["gate"].state, TaskState::kSucceeded);
  EXPECT_EQ(t["late"].state, TaskState::kExpired);
  EXPECT_GE(t["late"].finished_ms, t["gate"].finished_ms);
  ASSERT_EQ(t["child"].state, TaskState::kSucceeded);
  EXPECT_EQ(t["child"].output.rfind("child[|{\"late\":{\"code\":\"expired\"", 0), 0u)
      << t["child"].output;
  EXPECT_EQ(events["late"], std::vector<std::string>{"task_failed:expired:expired"});
}

TEST_F(BatchPolicyClaimExpiryTest, FailFastExpiryAtAClaimStopsTheRunningTask) {
  protocol::BatchSpec spec;
  spec.on_failure = "fail_fast";
  spec.tasks = {Node("slow", "sleep", R"({"ms": 60000})"), Node("gate", "sleep", R"({"ms": 800})"),
                LateAfterGate(), Node("after_late", "echo", "x", {"late"})};
  auto reply = Submit(spec, /*subscribe=*/true);
  ASSERT_TRUE(reply && reply->batch) << (reply && reply->error ? reply->error->message : "");
  auto events = TaskEvents();
  auto t = Finish(*reply->batch, 20000);
  EXPECT_EQ(t["late"].state, TaskState::kExpired);
  EXPECT_EQ(t["slow"].state, TaskState::kCancelled);
  EXPECT_EQ(t["slow"].attempts, 1u);
  EXPECT_LT(t["slow"].finished_ms - t["slow"].started_ms, 20000);
  EXPECT_EQ(t["after_late"].error ? t["after_late"].error->message : "", "batch_failed");
  EXPECT_EQ(events["late"], std::vector<std::string>{"task_failed:expired:expired"});
  EXPECT_EQ(events["after_late"],
            std::vector<std::string>{"task_failed:cancelled:batch_failed"});
  auto status = Status(reply->batch->id);
  EXPECT_EQ(status.state, "partial");  // gate succeeded
  EXPECT_EQ(status.counts["succeeded"], 1u);
  EXPECT_EQ(status.counts["expired"], 1u);
  EXPECT_EQ(status.counts["cancelled"], 2u);
}

}  // namespace
}  // namespace taskmill::testing
