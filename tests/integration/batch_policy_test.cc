// A batch's on_failure end to end (issue 22), with a real redis-server, broker and worker:
// continue (the children of a dead task run, given its error) and fail_fast (the first death
// cancels the rest, a running task through CANCEL_TASK), and the refusal of a policy that
// does not exist.

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
  void SetUp() override {
    auto c = Cluster::Start({});
    ASSERT_TRUE(c.has_value()) << c.error().message;
    cluster_ = std::move(*c);
    ASSERT_TRUE(cluster_->StartWorker("w1", 4));
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_->Logs();
  }
  Result<protocol::Reply> Submit(protocol::BatchSpec spec) {
    protocol::Batch b;
    b.batch = std::move(spec);
    return cluster_->client().Call(b);
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

}  // namespace
}  // namespace taskmill::testing
