// The `taskmill` binary against a real deployment: exit codes, human output, --json
// output (parsed back), and batch files followed to the end.

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "cli_binary.h"
#include "support/cluster.h"
#include "support/launch.h"
#include "taskmill/client/client.h"
#include "test_paths.h"  // TASKMILL_SOURCE_DIR, TASKMILL_BUILD_DIR

namespace taskmill::client {
namespace {

using nlohmann::json;
using taskmill::testing::Cluster;
using taskmill::testing::ReadFile;

using Output = client::testing::CliRun;

std::string Example(const std::string& name) {
  return std::string(TASKMILL_SOURCE_DIR) + "/client/examples/" + name;
}

class CliIntegrationTest : public ::testing::Test {
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
  // Runs taskmill with --broker set to the cluster (unless `broker` says otherwise).
  Output Taskmill(const std::vector<std::string>& args, std::string broker = "") {
    if (broker.empty()) broker = cluster_->frontend();
    return client::testing::RunCliBinary(broker, args, cluster_->dir());
  }
  json Json(const std::vector<std::string>& args, int expect_code = 0) {
    std::vector<std::string> with = {"--json"};
    with.insert(with.end(), args.begin(), args.end());
    auto o = Taskmill(with);
    EXPECT_EQ(o.code, expect_code) << o.out << o.err;
    json doc = json::parse(o.out, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << "not JSON: " << o.out;
    return doc;
  }
  std::string SubmitId(std::vector<std::string> args) {
    args.insert(args.begin(), "submit");
    auto o = Taskmill(args);
    EXPECT_EQ(o.code, 0) << o.err;
    while (!o.out.empty() && o.out.back() == '\n') o.out.pop_back();
    return o.out;
  }
  std::unique_ptr<Cluster> cluster_;
};

TEST_F(CliIntegrationTest, SubmitWaitPrintsTheResultAndExitsZero) {
  auto o = Taskmill({"submit", "--type", "echo", "--payload", "hello-cli", "--wait"});
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("succeeded"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("hello-cli"), std::string::npos) << o.out;
}

TEST_F(CliIntegrationTest, AFailingTaskExitsOne) {
  auto o = Taskmill({"submit", "--type", "fail", "--payload", R"({"retryable": false})",
                     "--max-attempts", "1", "--wait"});
  EXPECT_EQ(o.code, 1) << o.out << o.err;
  EXPECT_NE(o.out.find("failed"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("injected_failure"), std::string::npos) << o.out;
}

TEST_F(CliIntegrationTest, AnUnreachableBrokerExitsThreeQuickly) {
  std::string closed;
  {
    zmq::context_t ctx;
    zmq::socket_t s(ctx, zmq::socket_type::router);
    s.bind("tcp://127.0.0.1:*");
    closed = s.get(zmq::sockopt::last_endpoint);
  }  // nothing listens there now
  auto start = std::chrono::steady_clock::now();
  auto o = Taskmill({"--timeout-ms", "300", "submit", "--type", "echo"}, closed);
  EXPECT_EQ(o.code, 3) << o.err;
  EXPECT_NE(o.err.find("broker_unavailable"), std::string::npos) << o.err;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  o = Taskmill({"--json", "--timeout-ms", "300", "stats"}, closed);
  EXPECT_EQ(o.code, 3);
  EXPECT_EQ(json::parse(o.out)["error"]["code"], "broker_unavailable");
}

// TASKMILL_BROKER and TASKMILL_WORKER_BROKER swapped: the broker answers each side with the
// endpoint it should use (the CLI prints it at once, the worker logs it), warns, and counts.
TEST_F(CliIntegrationTest, ThePeerOnTheWrongPortIsToldTheRightOne) {
  auto start = std::chrono::steady_clock::now();
  auto o = Taskmill({"submit", "--type", "echo", "--payload", "x"}, cluster_->backend());
  EXPECT_EQ(o.code, 1) << o.err;
  EXPECT_NE(o.err.find("this is the broker's worker port; clients connect to " +
                       cluster_->frontend()),
            std::string::npos)
      << o.err;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5))
      << "the client waited for its timeout instead of being answered";

  std::string worker_log = cluster_->dir() + "/wrong-port-worker.log";
  auto worker = taskmill::testing::ChildProcess::Spawn(
      taskmill::testing::WorkerArgv(cluster_->frontend(), "lost", 1, "default", 200, 3),
      worker_log);
  ASSERT_TRUE(worker) << worker.error().message;
  EXPECT_TRUE(taskmill::testing::WaitFor(
      [&] {
        return ReadFile(worker_log).find("workers connect to " + cluster_->backend()) !=
               std::string::npos;
      },
      10000))
      << ReadFile(worker_log);
  auto broker_said = [&](const std::string& text) {
    return taskmill::testing::WaitFor(
        [&] { return ReadFile(cluster_->dir() + "/broker.log").find(text) != std::string::npos; },
        5000);
  };
  EXPECT_TRUE(broker_said("a client is talking to the worker port"));
  EXPECT_TRUE(broker_said("a worker is talking to the client port"));
  EXPECT_TRUE(taskmill::testing::WaitFor(
      [&] {
        std::string log = ReadFile(cluster_->dir() + "/broker.log");
        size_t at = log.rfind("wrong_port=");
        return at != std::string::npos && std::atoi(log.c_str() + at + 11) >= 2;
      },
      5000))
      << "no wrong_port count in the broker's counters line";
}

TEST_F(CliIntegrationTest, JsonOutputParsesAndHasTheFields) {
  auto task = Json({"submit", "--type", "echo", "--payload", "j", "--label", "team=x", "--wait"});
  EXPECT_EQ(task["state"], "succeeded");
  EXPECT_EQ(task["output"], "j");
  EXPECT_EQ(task["attempts"], 1);
  EXPECT_EQ(task["worker"], "w1");
  EXPECT_TRUE(task["cost"].is_object());
  std::string id = task["id"];
  auto got = Json({"get", id});
  EXPECT_EQ(got["id"], id);
  EXPECT_EQ(got["output"], "j");
  auto submitted = Json({"submit", "--type", "echo", "--queue", "idle"});
  EXPECT_EQ(submitted["id"].get<std::string>().size(), 26u);
  auto stats = Json({"stats"});
  ASSERT_TRUE(stats["queues"].is_array());
  bool saw_default = false;
  for (const auto& q : stats["queues"]) {
    if (q["queue"] == "default") {
      saw_default = true;
      EXPECT_EQ(q["succeeded"], 1);
    }
  }
  EXPECT_TRUE(saw_default) << stats.dump();
  ASSERT_EQ(stats["workers"].size(), 1u);
  EXPECT_EQ(stats["workers"][0]["id"], "w1");
  auto missing = Json({"get", "no-such-task"}, 1);
  EXPECT_EQ(missing["error"]["code"], "not_found");
}

TEST_F(CliIntegrationTest, GetCancelAndStatsInHumanForm) {
  std::string id = SubmitId({"--type", "echo", "--queue", "idle", "--priority", "9"});
  ASSERT_EQ(id.size(), 26u) << id;
  auto o = Taskmill({"get", id});
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("queued"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("priority     9"), std::string::npos) << o.out;
  o = Taskmill({"cancel", id});
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("cancelled 1 task(s)"), std::string::npos) << o.out;
  EXPECT_NE(Taskmill({"get", id}).out.find("cancelled"), std::string::npos);
  o = Taskmill({"wait", id, "--wait-timeout-ms", "1000"});
  EXPECT_EQ(o.code, 1);  // a cancelled task did not succeed
  o = Taskmill({"stats"});
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("QUEUE"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("idle"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("w1"), std::string::npos) << o.out;
}

size_t CountOf(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

// stats --watch from the built binary: --count frames on a pipe, plain text (no escape
// codes); and a watch without --count ends cleanly, exit 0, on SIGINT (Ctrl-C).
TEST_F(CliIntegrationTest, StatsWatchPrintsFramesWithoutEscapesAndEndsOnCtrlC) {
  SubmitId({"--type", "echo", "--queue", "watched"});
  auto o = Taskmill({"stats", "--watch", "--count", "2", "--interval-ms", "200"});
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(CountOf(o.out, "--- taskmill stats"), 2u) << o.out;
  // Each frame: the queue's row and its ready-by-type row (no worker serves "watched").
  EXPECT_EQ(CountOf(o.out, "watched"), 4u) << o.out;
  EXPECT_EQ(CountOf(o.out, "watched  echo      1"), 2u) << o.out;
  EXPECT_EQ(o.out.find('\x1b'), std::string::npos) << o.out;

  std::string log = cluster_->dir() + "/watch.log";
  auto child = taskmill::testing::ChildProcess::Spawn(
      {std::string(TASKMILL_BUILD_DIR) + "/client/taskmill", "--broker", cluster_->frontend(),
       "stats", "--watch", "--interval-ms", "100"},
      log);
  ASSERT_TRUE(child.has_value()) << child.error().message;
  EXPECT_TRUE(taskmill::testing::WaitFor(
      [&] { return ReadFile(log).find("frame 2") != std::string::npos; }, 10000))
      << ReadFile(log);
  child->Signal(SIGINT);
  EXPECT_EQ(child->Wait(5000), std::optional<int>(0)) << ReadFile(log);
}

// A running task: get shows how long it has run; after a cancel it ends cancelled. (That
// cancel says "requested" while the worker has not confirmed is in the Python suite, whose
// handler can ignore the cancel; sleep stops too fast to see it.)
TEST_F(CliIntegrationTest, ARunningTaskShowsItsElapsedTimeAndItsCancelIsRequested) {
  std::string id = SubmitId({"--type", "sleep", "--payload", R"({"ms": 30000})"});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  Output o;
  do {
    o = Taskmill({"get", id});
  } while (o.out.find("running") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline);
  ASSERT_NE(o.out.find("state        running"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("running for"), std::string::npos) << o.out;
  EXPECT_EQ(o.out.find("duration"), std::string::npos) << o.out;
  o = Taskmill({"cancel", id});
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find(id), std::string::npos) << o.out;
  o = Taskmill({"wait", id, "--wait-timeout-ms", "20000"});
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(Taskmill({"get", id}).out.find("state        cancelled"), std::string::npos);
}

TEST_F(CliIntegrationTest, DeadLettersListAndPurge) {
  auto failed =
      Json({"submit", "--type", "fail", "--payload", R"({"retryable": false})", "--wait"}, 1);
  std::string id = failed["id"];
  auto o = Taskmill({"dlq", "list"});
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find(id), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("injected_failure"), std::string::npos) << o.out;
  auto list = Json({"dlq", "list"});
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["id"], id);
  EXPECT_FALSE(list[0]["history"].empty());
  o = Taskmill({"dlq", "purge", "--all"});
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("purged 1 task(s)"), std::string::npos) << o.out;
  EXPECT_TRUE(Json({"dlq", "list"}).empty());
}

TEST_F(CliIntegrationTest, BatchRunFollowPrintsEventsAndATableWhoseTotalsAreTheBatchCost) {
  auto o = Taskmill(
      {"batch", "run", Example("pipeline.json"), "--follow", "--wait-timeout-ms", "30000"});
  ASSERT_EQ(o.code, 0) << o.out << o.err;
  EXPECT_NE(o.out.find("task_completed fetch"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("batch_completed"), std::string::npos) << o.out;
  for (const char* name : {"fetch", "clean", "features", "report"}) {
    EXPECT_NE(o.out.find(std::string("\n") + name + " "), std::string::npos) << name << o.out;
  }
  // The first line names the batch; its cost, as the broker sums it, is the TOTAL row's.
  std::string first = o.out.substr(0, o.out.find('\n'));
  ASSERT_EQ(first.rfind("batch ", 0), 0u) << first;
  std::string batch_id = first.substr(6, first.find(' ', 6) - 6);
  ClientOptions options;
  options.endpoint = cluster_->frontend();
  auto client = Client::Connect(options);
  ASSERT_TRUE(client);
  auto status = (*client)->GetBatch(batch_id);
  ASSERT_TRUE(status) << status.error().ToString();
  EXPECT_EQ(status->state, "succeeded");
  EXPECT_DOUBLE_EQ(status->cost.at("usd"), 0.75);
  std::string total = o.out.substr(o.out.find("\nTOTAL"));
  EXPECT_NE(total.find("usd=0.75"), std::string::npos) << total;
  EXPECT_NE(total.find("tokens_in=1500"), std::string::npos) << total;

  auto doc = Json({"batch", "run", Example("pipeline.json"), "--follow"});
  EXPECT_EQ(doc["batch"]["state"], "succeeded");
  ASSERT_EQ(doc["tasks"].size(), 4u);
  EXPECT_EQ(doc["tasks"][0]["name"], "fetch");
  EXPECT_EQ(doc["totals"].size(), doc["batch"]["cost"].size());
  for (const auto& [name, value] : doc["batch"]["cost"].items()) {
    double sum = doc["totals"][name];
    EXPECT_NEAR(sum, value.get<double>(), 1e-9 * std::max(1.0, std::fabs(sum))) << name;
  }
  EXPECT_FALSE(doc["events"].empty());
}

TEST_F(CliIntegrationTest, AFailingBatchExitsOne) {
  auto o =
      Taskmill({"batch", "run", Example("flaky.json"), "--follow", "--wait-timeout-ms", "30000"});
  EXPECT_EQ(o.code, 1) << o.out << o.err;
  EXPECT_NE(o.out.find("partial"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("retrying"), std::string::npos) << o.out;
  auto row = [&](const std::string& name) {
    auto pos = o.out.find("\n" + name + " ", o.out.find("\nNAME"));
    return pos == std::string::npos ? "" : o.out.substr(pos + 1, o.out.find('\n', pos + 1) - pos);
  };
  EXPECT_NE(row("broken").find("failed"), std::string::npos) << o.out;
  EXPECT_NE(row("after").find("cancelled"), std::string::npos) << o.out;
  EXPECT_NE(row("retried").find("succeeded"), std::string::npos) << o.out;
}

TEST_F(CliIntegrationTest, BatchRunWithoutFollowPrintsIdsThenStatusShowsIt) {
  auto doc = Json({"batch", "run", Example("pipeline.json"), "--id", "cli-batch-1"});
  EXPECT_EQ(doc["id"], "cli-batch-1");
  EXPECT_EQ(doc["tasks"].size(), 4u);
  auto o = Taskmill({"batch", "status", "cli-batch-1"});
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("cli-batch-1"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("fetch"), std::string::npos) << o.out;
  // Any batch can be followed later, by id.
  o = Taskmill({"batch", "watch", "cli-batch-1", "--wait-timeout-ms", "30000"});
  EXPECT_EQ(o.code, 0) << o.out << o.err;
  EXPECT_NE(o.out.find("batch cli-batch-1 watched"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("\nTOTAL"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("\nreport "), std::string::npos) << o.out;
  o = Taskmill({"batch", "status", "no-such-batch"});
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.err.find("not_found"), std::string::npos) << o.err;
}

}  // namespace
}  // namespace taskmill::client
