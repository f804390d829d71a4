// The broker's caps through real processes: per-queue depth (--max-queue-depth), tasks per
// request (--max-batch-tasks), payload size (--max-payload-bytes) and result size
// (--max-output-bytes), and the startup check that a frame can carry them.

#include <sys/wait.h>

#include <cstdlib>

#include "flow_helpers.h"
#include "support/launch.h"

namespace taskmill::testing {
namespace {

using protocol::TaskState;

class CapsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Cluster::Options o;
    o.broker_args = {"--max-queue-depth",   "3",    "--max-batch-tasks",  "5",
                     "--max-payload-bytes", "4096", "--max-output-bytes", "1024"};
    auto c = Cluster::Start(o);
    ASSERT_TRUE(c.has_value()) << c.error().message;
    cluster_ = std::move(*c);
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_->Logs();
  }
  WireClient& client() { return cluster_->client(); }
  Result<protocol::Reply> Submit(std::vector<protocol::TaskSpec> specs) {
    protocol::Submit s;
    s.tasks = std::move(specs);
    return client().Call(s);
  }
  std::unique_ptr<Cluster> cluster_;
};

TEST_F(CapsTest, AFullQueueRefusesSubmitsUntilWorkersDrainIt) {
  auto r = Submit({Spec("echo", "a"), Spec("echo", "b")});
  ASSERT_TRUE(r && !r->error);
  std::vector<std::string> ids = r->ids;
  // Two more would make 4: the whole SUBMIT is refused, nothing of it stored.
  r = Submit({Spec("echo", "c"), Spec("echo", "d")});
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(r->error.has_value());
  EXPECT_EQ(r->error->code, "queue_full");
  EXPECT_EQ(r->error->message,
            "queue default holds 2 waiting tasks, its cap is 3; this request would add 2");
  EXPECT_TRUE(r->ids.empty());
  // Another queue has its own cap.
  EXPECT_FALSE(SubmitOne(client(), Spec("echo", "x", "other")).empty());
  ids.push_back(SubmitOne(client(), Spec("echo", "c")));
  r = Submit({Spec("echo", "e")});
  ASSERT_TRUE(r && r->error);
  EXPECT_EQ(r->error->code, "queue_full");

  ASSERT_TRUE(cluster_->StartWorker("w1", 2));
  for (const auto& t : WaitAll(client(), ids)) EXPECT_EQ(t.state, TaskState::kSucceeded);
  EXPECT_EQ(SubmitAll(client(), {Spec("echo", "f"), Spec("echo", "g")}).size(), 2u);
}

TEST_F(CapsTest, SubmitsOfOneTurnAreCheckedOneByOne) {
  // Five one-task SUBMITs sent back to back usually share a reactor turn; a full queue must
  // refuse only those that do not fit, never the whole turn.
  protocol::Submit s;
  s.tasks = {Spec("echo", "x")};
  for (uint64_t i = 1; i <= 5; ++i) {
    s.req_id = 100 + i;
    auto frames = protocol::Encode(protocol::Message{s});
    client().SendRaw({frames.version, frames.command, frames.body});
  }
  int accepted = 0, full = 0;
  for (int i = 0; i < 5; ++i) {
    auto m = client().Receive(10000);
    ASSERT_TRUE(m.has_value()) << m.error().ToString();
    auto* reply = std::get_if<protocol::Reply>(&*m);
    ASSERT_NE(reply, nullptr);
    if (!reply->error) {
      ++accepted;
    } else {
      EXPECT_EQ(reply->error->code, "queue_full");
      ++full;
    }
  }
  EXPECT_EQ(accepted, 3);
  EXPECT_EQ(full, 2);
}

TEST_F(CapsTest, TooManyTasksInOneRequestIsInvalid) {
  std::vector<protocol::TaskSpec> six(6, Spec("echo", "x", "q6"));
  auto r = Submit(six);
  ASSERT_TRUE(r && r->error);
  EXPECT_EQ(r->error->code, "invalid_argument");
  EXPECT_EQ(r->error->message,
            "tasks: 6 tasks is over the limit of 5 per request (--max-batch-tasks)");

  protocol::Batch b;
  for (int i = 0; i < 6; ++i) {
    auto t = Spec("echo", "x", "q6");
    t.name = "t" + std::to_string(i);
    b.batch.tasks.push_back(t);
  }
  r = client().Call(b);
  ASSERT_TRUE(r && r->error);
  EXPECT_EQ(r->error->code, "invalid_argument");
  EXPECT_NE(r->error->message.find("batch.tasks: 6 tasks is over the limit of 5"),
            std::string::npos)
      << r->error->message;
}

TEST_F(CapsTest, APayloadOverTheBrokersCapIsInvalid) {
  auto r = Submit({Spec("echo", std::string(4096, 'p')), Spec("echo", std::string(4097, 'p'))});
  ASSERT_TRUE(r && r->error);
  EXPECT_EQ(r->error->code, "invalid_argument");
  EXPECT_EQ(r->error->message, "tasks[1].payload: 4097 bytes is over the limit of 4096");
}

TEST_F(CapsTest, AnOverSizeResultFailsTheAttemptWithoutARetry) {
  ASSERT_TRUE(cluster_->StartWorker("w1", 2));
  auto big = Spec("echo", std::string(1025, 'o'));
  big.max_attempts = 3;
  auto fits = Spec("echo", std::string(1024, 'o'));
  auto ids = SubmitAll(client(), {big, fits});
  ASSERT_EQ(ids.size(), 2u);
  auto tasks = WaitAll(client(), ids);
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].state, TaskState::kFailed);
  EXPECT_EQ(tasks[0].attempts, 1u);
  EXPECT_TRUE(tasks[0].output.empty());
  ASSERT_TRUE(tasks[0].error.has_value());
  EXPECT_EQ(tasks[0].error->code, "output_too_large");
  EXPECT_FALSE(tasks[0].error->retryable);
  EXPECT_NE(tasks[0].error->message.find("1025 bytes"), std::string::npos);
  EXPECT_EQ(tasks[1].state, TaskState::kSucceeded);
  EXPECT_EQ(tasks[1].output.size(), 1024u);
}

TEST(CapsStartupTest, AFrameCapTooSmallForTheOutputCapIsAStartupError) {
  std::string cmd = Binary("broker/taskmill-broker") +
                    " --redis-url redis://127.0.0.1:1 --max-frame-bytes 1048576 "
                    "--max-payload-bytes 1024 --max-output-bytes 1048576 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int status = pclose(p);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << out;
  EXPECT_NE(out.find("--max-frame-bytes: 1048576 cannot carry --max-output-bytes 1048576"),
            std::string::npos)
      << out;
}

}  // namespace
}  // namespace taskmill::testing
