// Tasks added to a running batch (BATCH append_to, issue 22) from the C++ Client and
// `taskmill batch append`, against a real redis-server, broker and worker: the new tasks
// run after the batch's tasks they name, a subscriber sees their events by name, the batch
// ends only with them, and what cannot be appended is refused with a clear error.

#include <gtest/gtest.h>

#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>

#include "cli_binary.h"
#include "support/cluster.h"
#include "support/launch.h"
#include "taskmill/client/client.h"

namespace taskmill::client {
namespace {

using nlohmann::json;
using protocol::TaskState;
using taskmill::testing::Cluster;
using taskmill::testing::Spec;

protocol::TaskSpec Named(const std::string& name, protocol::TaskSpec s,
                         std::vector<std::string> deps = {}) {
  s.name = name;
  s.depends_on = std::move(deps);
  return s;
}

class BatchAppendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Cluster::Start({});
    ASSERT_TRUE(c.has_value()) << c.error().message;
    cluster_ = std::move(*c);
    ClientOptions o;
    o.endpoint = cluster_->frontend();
    o.request_timeout_ms = 3000;
    auto client = Client::Connect(o);
    ASSERT_TRUE(client) << client.error().ToString();
    client_ = std::move(*client);
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_->Logs();
  }
  client::testing::CliRun Taskmill(const std::vector<std::string>& args) {
    return client::testing::RunCliBinary(cluster_->frontend(), args, cluster_->dir());
  }
  std::string WriteFile(const std::string& name, const std::string& text) {
    std::string path = cluster_->dir() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<Client> client_;
};

TEST_F(BatchAppendTest, AppendedTasksRunAfterTheirStoredParentAndTheSubscriberSeesThem) {
  // No worker yet: the batch stays running while tasks are appended.
  protocol::BatchSpec batch;
  batch.tasks = {Named("fetch", Spec("echo", "F"))};
  std::mutex mu;
  std::condition_variable cv;
  std::vector<protocol::Event> events;
  auto sb = client_->SubmitBatch(batch, [&](const protocol::Event& e) {
    std::lock_guard lock(mu);
    events.push_back(e);
    cv.notify_all();
  });
  ASSERT_TRUE(sb) << sb.error().ToString();
  const std::string id = sb->status.id;
  // The child reads its stored parent's output through the exec handler's parents dir.
  auto report = Named(
      "report",
      Spec("exec", R"({"argv": ["sh", "-c", "printf R; cat \"$TASKMILL_PARENTS_DIR/fetch\""]})"),
      {"fetch"});
  auto added = client_->AppendToBatch(id, {report, Named("extra", Spec("echo", "E"))});
  ASSERT_TRUE(added) << added.error().ToString();
  EXPECT_EQ(added->id, id);
  EXPECT_EQ(added->state, "running");
  EXPECT_EQ(added->total, 3u);
  ASSERT_EQ(added->tasks.size(), 3u);
  EXPECT_EQ(added->tasks.at("fetch"), sb->status.tasks.at("fetch"));
  // A name the batch has, a batch that does not exist: refused, nothing stored.
  auto taken = client_->AppendToBatch(id, {Named("fetch", Spec("echo", "again"))});
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, ErrorCode::kConflict);
  EXPECT_NE(taken.error().message.find("'fetch' is already in batch"), std::string::npos)
      << taken.error().message;
  auto ghost = client_->AppendToBatch("no-such-batch", {Named("x", Spec("echo"))});
  ASSERT_FALSE(ghost);
  EXPECT_EQ(ghost.error().code, ErrorCode::kNotFound);
  auto orphan = client_->AppendToBatch(id, {Named("x", Spec("echo"), {"nobody"})});
  ASSERT_FALSE(orphan);
  EXPECT_EQ(orphan.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(orphan.error().message.find("unknown task 'nobody'"), std::string::npos)
      << orphan.error().message;

  ASSERT_TRUE(cluster_->StartWorker("w1", 2));
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] {
      return !events.empty() && events.back().type == "batch_completed";
    }));
    EXPECT_EQ(events.back().state, "succeeded");
    EXPECT_EQ(events.back().done, 3u);
    EXPECT_EQ(events.back().total, 3u);
    // The appended tasks' events carry their names.
    for (const char* name : {"report", "extra"}) {
      bool seen = std::any_of(events.begin(), events.end(), [&](const protocol::Event& e) {
        return e.type == "task_completed" && e.task_name == name;
      });
      EXPECT_TRUE(seen) << name;
    }
  }
  auto task = client_->Get(added->tasks.at("report"));
  ASSERT_TRUE(task) << task.error().ToString();
  EXPECT_EQ(task->state, TaskState::kSucceeded);
  EXPECT_EQ(task->output, "RF");
  // Over: nothing more can be added.
  auto late = client_->AppendToBatch(id, {Named("late", Spec("echo"))});
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, ErrorCode::kConflict);
  EXPECT_NE(late.error().message.find("has ended (succeeded)"), std::string::npos)
      << late.error().message;
  EXPECT_EQ(client_->GetBatch(id)->total, 3u);
}

TEST_F(BatchAppendTest, TheCliAppendsAFileAndRefusesWhatBelongsToTheBatch) {
  protocol::BatchSpec batch;
  batch.tasks = {Named("fetch", Spec("echo", "F"))};
  auto status = client_->SubmitBatch(batch);
  ASSERT_TRUE(status) << status.error().ToString();
  std::string file = WriteFile(
      "more.json",
      R"({"labels": {"stage": "two"}, "tasks": [{"name": "report", "type": "echo",
          "payload": "R", "depends_on": ["fetch"]}]})");
  auto o = Taskmill({"--json", "batch", "append", status->id, file});
  ASSERT_EQ(o.code, 0) << o.out << o.err;
  json doc = json::parse(o.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << o.out;
  EXPECT_EQ(doc["id"], status->id);
  EXPECT_EQ(doc["total"], 2);
  ASSERT_TRUE(doc["tasks"].contains("report")) << o.out;
  std::string report_id = doc["tasks"]["report"];
  auto task = client_->Get(report_id);
  ASSERT_TRUE(task) << task.error().ToString();
  EXPECT_EQ(task->state, TaskState::kBlocked);

  // A budget is the batch's own: refused before anything is sent (exit 2, usage).
  std::string budget = WriteFile(
      "budget.json", R"({"budget": {"usd": 1}, "tasks": [{"name": "x", "type": "echo"}]})");
  o = Taskmill({"batch", "append", status->id, budget});
  EXPECT_EQ(o.code, 2) << o.out << o.err;
  EXPECT_NE(o.err.find("batch.budget: must be unset when append_to is set"), std::string::npos)
      << o.err;
  // The same name again: the broker's conflict (exit 1).
  o = Taskmill({"batch", "append", status->id, file});
  EXPECT_EQ(o.code, 1) << o.out << o.err;
  EXPECT_NE(o.err.find("'report' is already in batch"), std::string::npos) << o.err;

  // --follow waits for the whole batch and shows every task, old and new: the worker starts
  // once the CLI's append is stored.
  std::string tail = WriteFile("tail.json", R"({"tasks": [{"name": "tail", "type": "echo",
      "payload": "T", "depends_on": ["report"]}]})");
  auto follow = std::async(std::launch::async, [&] {
    return Taskmill({"batch", "append", status->id, tail, "--follow", "--wait-timeout-ms",
                     "20000"});
  });
  ASSERT_TRUE(taskmill::testing::WaitFor(
      [&] {
        auto b = client_->GetBatch(status->id);
        return b && b->total == 3;
      },
      15000));
  ASSERT_TRUE(cluster_->StartWorker("w1", 2));
  o = follow.get();
  ASSERT_EQ(o.code, 0) << o.out << o.err;
  EXPECT_EQ(o.out.rfind("batch " + status->id + " appended to", 0), 0u) << o.out;
  for (const char* name : {"fetch", "report", "tail"}) {
    EXPECT_NE(o.out.find(std::string("\n") + name + " "), std::string::npos) << name << o.out;
  }
  EXPECT_NE(o.out.find("3 tasks"), std::string::npos) << o.out;
}

TEST_F(BatchAppendTest, ACancelledBatchTakesNothingMoreAndItsLateMembersAreCancelled) {
  protocol::BatchSpec batch;
  batch.tasks = {Named("a", Spec("echo")), Named("b", Spec("echo"))};
  std::mutex mu;
  std::condition_variable cv;
  std::vector<protocol::Event> events;
  auto sb = client_->SubmitBatch(batch, [&](const protocol::Event& e) {
    std::lock_guard lock(mu);
    events.push_back(e);
    cv.notify_all();
  });
  ASSERT_TRUE(sb) << sb.error().ToString();
  const protocol::BatchStatus* status = &sb->status;
  ASSERT_TRUE(client_->AppendToBatch(status->id, {Named("c", Spec("echo"))}));
  auto cancelled = client_->CancelBatch(status->id);
  ASSERT_TRUE(cancelled) << cancelled.error().ToString();
  EXPECT_EQ(cancelled->count, 3u);
  {
    // The appended task never started: its cancel event still names it.
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(15), [&] {
      return !events.empty() && events.back().type == "batch_completed";
    }));
    bool named = std::any_of(events.begin(), events.end(), [](const protocol::Event& e) {
      return e.type == "task_failed" && e.state == "cancelled" && e.task_name == "c";
    });
    EXPECT_TRUE(named);
  }
  auto again = client_->AppendToBatch(status->id, {Named("d", Spec("echo"))});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  auto final_status = client_->GetBatch(status->id);
  ASSERT_TRUE(final_status);
  EXPECT_EQ(final_status->total, 3u);
  EXPECT_EQ(final_status->counts["cancelled"], 3u);
}

}  // namespace
}  // namespace taskmill::client
