// `taskmill list`, `taskmill batch list` and `taskmill task priority|promote`, and the C++
// Client's List/SetPriority/Promote, against a real broker, Redis and worker.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "cli_binary.h"
#include "support/cluster.h"
#include "taskmill/client/client.h"
#include "test_paths.h"  // TASKMILL_SOURCE_DIR

namespace taskmill::client {
namespace {

using nlohmann::json;
using taskmill::testing::Cluster;

class CliListTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Cluster::Start({});
    ASSERT_TRUE(c.has_value()) << c.error().message;
    cluster_ = std::move(*c);
    ASSERT_TRUE(cluster_->StartWorker("w1", 2));  // serves "default" only
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_->Logs();
  }
  client::testing::CliRun Taskmill(const std::vector<std::string>& args) {
    return client::testing::RunCliBinary(cluster_->frontend(), args, cluster_->dir());
  }
  json Json(std::vector<std::string> args, int expect_code = 0) {
    args.insert(args.begin(), "--json");
    auto o = Taskmill(args);
    EXPECT_EQ(o.code, expect_code) << o.out << o.err;
    json doc = json::parse(o.out, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << "not JSON: " << o.out;
    return doc;
  }
  std::string Submit(std::vector<std::string> args) {
    args.insert(args.begin(), "submit");
    auto o = Taskmill(args);
    EXPECT_EQ(o.code, 0) << o.err;
    while (!o.out.empty() && o.out.back() == '\n') o.out.pop_back();
    return o.out;
  }
  std::unique_ptr<Client> Connect() {
    ClientOptions o;
    o.endpoint = cluster_->frontend();
    auto c = Client::Connect(o);
    EXPECT_TRUE(c.has_value());
    return c ? std::move(*c) : nullptr;
  }
  std::unique_ptr<Cluster> cluster_;
};

TEST_F(CliListTest, PagesPriorityAndPromoteFromTheCli) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Submit({"--type", "echo", "--queue", "clilist"}));
  // A table of two and the command of the next page.
  auto first = Taskmill({"list", "--queue", "clilist", "--state", "queued", "--limit", "2"});
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_NE(first.out.find(ids[0]), std::string::npos) << first.out;
  EXPECT_NE(first.out.find(ids[1]), std::string::npos) << first.out;
  EXPECT_EQ(first.out.find(ids[2]), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("next page: taskmill list --queue clilist --state queued --limit 2 "
                           "--cursor r:"),
            std::string::npos)
      << first.out;
  // --json, page after page: every task once, in submission order.
  std::vector<std::string> seen;
  std::string cursor;
  for (int n = 0; n < 10; ++n) {
    std::vector<std::string> args = {"list", "--queue", "clilist", "--state", "queued",
                                      "--limit", "2"};
    if (!cursor.empty()) args.insert(args.end(), {"--cursor", cursor});
    json page = Json(args);
    for (const auto& t : page["tasks"]) seen.push_back(t["id"]);
    cursor = page["next_cursor"];
    if (cursor.empty()) break;
  }
  EXPECT_EQ(seen, ids);

  // The last one jumps the queue.
  auto prio = Taskmill({"task", "priority", ids[4], "9"});
  ASSERT_EQ(prio.code, 0) << prio.err;
  EXPECT_EQ(prio.out, "task " + ids[4] + ": queued, priority 9\n");
  json now = Json({"list", "--queue", "clilist", "--state", "queued"});
  ASSERT_EQ(now["tasks"].size(), 5u);
  EXPECT_EQ(now["tasks"][0]["id"], ids[4]);
  EXPECT_EQ(now["tasks"][0]["priority"], 9);

  // A delayed task, promoted; a queued one cannot be.
  std::string late = Submit({"--type", "echo", "--queue", "clilist", "--not-before-ms",
                             "253402300799000"});
  json delayed = Json({"list", "--queue", "clilist", "--state", "delayed"});
  ASSERT_EQ(delayed["tasks"].size(), 1u);
  EXPECT_EQ(delayed["tasks"][0]["id"], late);
  auto promote = Taskmill({"task", "promote", late});
  ASSERT_EQ(promote.code, 0) << promote.err;
  EXPECT_TRUE(Json({"list", "--queue", "clilist", "--state", "delayed"})["tasks"].empty());
  auto conflict = Taskmill({"task", "promote", ids[0]});
  EXPECT_EQ(conflict.code, 1);
  EXPECT_NE(conflict.err.find("is queued; only a delayed task can be promoted"),
            std::string::npos)
      << conflict.err;

  // Refusals name what is allowed, before anything is sent.
  auto bad_state = Taskmill({"list", "--queue", "clilist", "--state", "sleeping"});
  EXPECT_EQ(bad_state.code, 2);
  EXPECT_NE(bad_state.err.find("allowed: queued, delayed, blocked, running, succeeded, failed, "
                               "cancelled, awaiting"),
            std::string::npos)
      << bad_state.err;
  EXPECT_EQ(Taskmill({"list", "--queue", "clilist", "--state", "queued", "--limit", "0"}).code,
            2);
  EXPECT_EQ(Taskmill({"list", "--state", "queued"}).code, 2);
  auto bad_prio = Taskmill({"task", "priority", ids[0], "256"});
  EXPECT_EQ(bad_prio.code, 2);
  EXPECT_NE(bad_prio.err.find("allowed: 0 to 255"), std::string::npos) << bad_prio.err;
}

TEST_F(CliListTest, BatchListAndTheCppClient) {
  auto run = Taskmill({"batch", "run", std::string(TASKMILL_SOURCE_DIR) +
                                           "/client/examples/pipeline.json", "--follow"});
  ASSERT_EQ(run.code, 0) << run.out << run.err;
  json batches = Json({"batch", "list"});
  ASSERT_EQ(batches["batches"].size(), 1u);
  EXPECT_EQ(batches["batches"][0]["state"], "succeeded");
  auto table = Taskmill({"batch", "list", "--state", "succeeded"});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find("succeeded=4"), std::string::npos) << table.out;
  EXPECT_EQ(Taskmill({"batch", "list", "--state", "done"}).code, 2);

  auto client = Connect();
  ASSERT_NE(client, nullptr);
  auto page = client->ListTasks("default", "succeeded", "", 2);
  ASSERT_TRUE(page.has_value()) << page.error().ToString();
  EXPECT_EQ(page->tasks.size(), 2u);
  EXPECT_FALSE(page->next_cursor.empty());
  auto rest = client->ListTasks("default", "succeeded", "", 1000, page->next_cursor);
  ASSERT_TRUE(rest.has_value());
  EXPECT_EQ(rest->tasks.size(), 2u);
  EXPECT_TRUE(rest->next_cursor.empty());
  std::set<std::string> all;
  for (const auto& t : page->tasks) all.insert(t.id);
  for (const auto& t : rest->tasks) all.insert(t.id);
  EXPECT_EQ(all.size(), 4u);
  auto bad = client->ListTasks("default", "sleeping");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  protocol::TaskSpec spec;
  spec.queue = "cpplist";
  spec.type = "echo";
  spec.not_before_ms = 253402300799000;
  auto id = client->Submit(spec);
  ASSERT_TRUE(id.has_value());
  auto moved = client->SetPriority(*id, 7);
  ASSERT_TRUE(moved.has_value()) << moved.error().ToString();
  EXPECT_EQ(moved->priority, 7);
  EXPECT_EQ(moved->state, protocol::TaskState::kDelayed);
  auto promoted = client->Promote(*id);
  ASSERT_TRUE(promoted.has_value());
  EXPECT_EQ(promoted->state, protocol::TaskState::kQueued);
  EXPECT_EQ(promoted->priority, 7);
  auto again = client->Promote(*id);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
}

}  // namespace
}  // namespace taskmill::client
