// The broker's caps as the C++ client and the `taskmill` CLI report them: a full queue
// (queue_full, exit 1, nothing submitted, accepted again once drained), and a payload or a
// request over the broker's caps (invalid_argument, exit 2), each with a message that says
// what was wrong and what is allowed.

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_binary.h"
#include "support/cluster.h"
#include "taskmill/client/client.h"

namespace taskmill::client {
namespace {

using protocol::TaskState;
using taskmill::testing::Cluster;
using taskmill::testing::ReadFile;
using taskmill::testing::Spec;

using Output = client::testing::CliRun;

class CapsClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Cluster::Options o;
    o.broker_args = {"--max-queue-depth",   "2",   "--max-batch-tasks", "3",
                     "--max-payload-bytes", "1024"};
    auto c = Cluster::Start(o);
    ASSERT_TRUE(c.has_value()) << c.error().message;
    cluster_ = std::move(*c);
    ClientOptions co;
    co.endpoint = cluster_->frontend();
    co.request_timeout_ms = 5000;
    auto client = Client::Connect(co);
    ASSERT_TRUE(client) << client.error().ToString();
    client_ = std::move(*client);
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_->Logs();
  }
  Output Taskmill(const std::vector<std::string>& args) {
    return client::testing::RunCliBinary(cluster_->frontend(), args, cluster_->dir());
  }
  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<Client> client_;
};

TEST_F(CapsClientTest, AFullQueueIsReportedAndAcceptsAgainOnceDrained) {
  auto ids = client_->SubmitMany({Spec("echo", "a"), Spec("echo", "b")});
  ASSERT_TRUE(ids) << ids.error().ToString();
  auto refused = client_->Submit(Spec("echo", "c"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kQueueFull);
  EXPECT_EQ(refused.error().message,
            "queue default holds 2 waiting tasks, its cap is 2; this request would add 1");

  auto o = Taskmill({"submit", "--type", "echo", "--payload", "d"});
  EXPECT_EQ(o.code, 1) << o.out << o.err;
  EXPECT_TRUE(o.out.empty()) << o.out;
  EXPECT_NE(o.err.find("taskmill: queue_full: queue default holds 2 waiting tasks, its cap is 2; "
                       "this request would add 1\n"),
            std::string::npos)
      << o.err;
  EXPECT_NE(o.err.find("nothing was submitted"), std::string::npos) << o.err;
  o = Taskmill({"--json", "submit", "--type", "echo"});
  EXPECT_EQ(o.code, 1);
  auto doc = nlohmann::json::parse(o.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << o.out;
  EXPECT_EQ(doc["error"]["code"], "queue_full");

  ASSERT_TRUE(cluster_->StartWorker("w1", 2));
  auto done = client_->Wait(*ids, 20000);
  ASSERT_TRUE(done) << done.error().ToString();
  for (const auto& t : *done) EXPECT_EQ(t.state, TaskState::kSucceeded);
  o = Taskmill({"submit", "--type", "echo", "--payload", "e", "--wait"});
  EXPECT_EQ(o.code, 0) << o.err;
}

TEST_F(CapsClientTest, RequestsOverTheBrokersSizeCapsAreUsageErrorsThatNameTheCap) {
  auto big = client_->Submit(Spec("echo", std::string(1025, 'x')));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(big.error().message, "tasks[0].payload: 1025 bytes is over the limit of 1024");

  auto o = Taskmill({"submit", "--type", "echo", "--payload", std::string(1025, 'x')});
  EXPECT_EQ(o.code, 2) << o.err;
  EXPECT_NE(o.err.find("invalid_argument: tasks[0].payload: 1025 bytes is over the limit of 1024"),
            std::string::npos)
      << o.err;

  std::string file = cluster_->dir() + "/four.json";
  std::ofstream(file) << R"({"tasks": [{"name": "a", "type": "echo", "queue": "q1"},
      {"name": "b", "type": "echo", "queue": "q2"}, {"name": "c", "type": "echo", "queue": "q3"},
      {"name": "d", "type": "echo", "queue": "q4"}]})";
  o = Taskmill({"batch", "run", file});
  EXPECT_EQ(o.code, 2) << o.out << o.err;
  EXPECT_NE(o.err.find("batch.tasks: 4 tasks is over the limit of 3 per request "
                       "(--max-batch-tasks)"),
            std::string::npos)
      << o.err;
}

}  // namespace
}  // namespace taskmill::client
