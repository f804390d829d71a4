// The client library against a real deployment: redis-server, taskmill-broker and
// taskmill-worker processes on loopback (tests/support/cluster.h).

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "support/cluster.h"
#include "taskmill/client/client.h"

namespace taskmill::client {
namespace {

using protocol::TaskState;
using taskmill::testing::Cluster;
using taskmill::testing::Spec;

class ClientIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Cluster::Start({});
    ASSERT_TRUE(c.has_value()) << c.error().message;
    cluster_ = std::move(*c);
    ClientOptions o;
    o.endpoint = cluster_->frontend();
    o.request_timeout_ms = 2000;
    auto client = Client::Connect(o);
    ASSERT_TRUE(client) << client.error().ToString();
    client_ = std::move(*client);
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_->Logs();
  }
  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<Client> client_;
};

TEST_F(ClientIntegrationTest, SubmitWaitAndGet) {
  ASSERT_TRUE(cluster_->StartWorker("w1", 2));
  auto id = client_->Submit(Spec("echo", "hello"));
  ASSERT_TRUE(id) << id.error().ToString();
  auto ids = client_->SubmitMany({Spec("sleep", R"({"ms": 20})"), Spec("echo", "two")});
  ASSERT_TRUE(ids) << ids.error().ToString();
  auto done = client_->Wait({*id, (*ids)[0], (*ids)[1]}, 10000);
  ASSERT_TRUE(done) << done.error().ToString();
  ASSERT_EQ(done->size(), 3u);
  for (const auto& t : *done) EXPECT_EQ(t.state, TaskState::kSucceeded) << t.id;
  auto got = client_->Get(*id);
  ASSERT_TRUE(got) << got.error().ToString();
  EXPECT_EQ(got->output, "hello");
  EXPECT_EQ(got->worker, "w1");
  auto missing = client_->Get("no-such-task");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

// Issue 19: Wait with a callback gets an exec task's progress (lines of
// $TASKMILL_PROGRESS_FILE); Get shows the last one stored. The task re-reports "half" until
// the callback opens its gate (bounded by the script: 30 s).
TEST_F(ClientIntegrationTest, WaitWithACallbackGetsTheProgressOfAnExecTask) {
  ASSERT_TRUE(cluster_->StartWorker("w1", 1));
  std::string gate = std::filesystem::temp_directory_path() /
                     ("tm-progress-gate-" + std::to_string(getpid()));
  std::filesystem::remove(gate);
  const char* script =
      "i=0; while [ ! -f \"$GATE\" ] && [ $i -lt 600 ]; do "
      "if [ $((i % 10)) -eq 0 ]; then "
      "printf '{\"progress\": 0.5, \"message\": \"half\"}\\n' >> \"$TASKMILL_PROGRESS_FILE\"; fi; "
      "sleep 0.05; i=$((i+1)); done; "
      "printf '{\"progress\": 1, \"message\": \"done\"}' >> \"$TASKMILL_PROGRESS_FILE\"";
  auto quoted = [](std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out + "\"";
  };
  std::string payload = R"({"argv": ["sh", "-c", )" + quoted(script) + R"(], "env": {"GATE": )" +
                        quoted(gate) + "}}";
  auto id = client_->Submit(Spec("exec", payload));
  ASSERT_TRUE(id) << id.error().ToString();
  std::mutex mu;
  std::vector<std::string> seen;
  auto done = client_->Wait({*id}, 60000,
                            [&](const std::string& task, double fraction, const std::string& m) {
                              std::lock_guard lock(mu);
                              seen.push_back(task + ":" + std::to_string(fraction).substr(0, 3) +
                                             ":" + m);
                              if (m == "half") std::ofstream(gate).put('x');
                            });
  std::filesystem::remove(gate);
  ASSERT_TRUE(done) << done.error().ToString();
  EXPECT_EQ(done->at(0).state, TaskState::kSucceeded);
  {
    std::lock_guard lock(mu);
    ASSERT_FALSE(seen.empty()) << "no progress reached the callback";
    EXPECT_EQ(seen[0], *id + ":0.5:half");
  }
  auto got = client_->Get(*id);
  ASSERT_TRUE(got) << got.error().ToString();
  EXPECT_DOUBLE_EQ(got->progress, 1.0);
  EXPECT_EQ(got->progress_message, "done");
}

TEST_F(ClientIntegrationTest, AResubmitWithTheSameIdempotencyKeyReturnsTheSameId) {
  auto spec = Spec("echo", "once");
  spec.idempotency_key = "order-42";
  auto first = client_->Submit(spec);
  ASSERT_TRUE(first) << first.error().ToString();
  // As after a lost reply: the same request again.
  auto second = client_->Submit(spec);
  ASSERT_TRUE(second) << second.error().ToString();
  EXPECT_EQ(*first, *second);
  auto stats = client_->Stats({"default"});
  ASSERT_TRUE(stats) << stats.error().ToString();
  ASSERT_EQ(stats->queues.size(), 1u);
  EXPECT_EQ(stats->queues[0].submitted, 1u);
}

TEST_F(ClientIntegrationTest, RequestsWorkAgainAfterABrokerRestart) {
  ASSERT_TRUE(client_->Stats());
  cluster_->broker().Kill9();
  auto down = client_->Stats();  // bounded by the deadline, never a hang
  ASSERT_FALSE(down);
  EXPECT_TRUE(down.error().code == ErrorCode::kTimeout ||
              down.error().code == ErrorCode::kBrokerUnavailable)
      << down.error().ToString();
  ASSERT_TRUE(cluster_->StartBroker());
  ASSERT_TRUE(cluster_->StartWorker("w1", 1));
  // The DEALER reconnects by itself; the first request after the restart may still be
  // racing the reconnect, so allow a few deadlines.
  Result<std::string> id = MakeError(ErrorCode::kTimeout, "not tried");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (!id && std::chrono::steady_clock::now() < deadline) {
    id = client_->Submit(Spec("echo", "back"));
  }
  ASSERT_TRUE(id) << id.error().ToString();
  auto done = client_->Wait({*id}, 10000);
  ASSERT_TRUE(done) << done.error().ToString();
  EXPECT_EQ(done->at(0).state, TaskState::kSucceeded);
}

TEST_F(ClientIntegrationTest, NotifiedTasksGetTheirResultsFromThePushes) {
  ASSERT_TRUE(cluster_->StartWorker("w1", 4));
  std::vector<protocol::TaskSpec> specs;
  for (int i = 0; i < 20; ++i) specs.push_back(Spec("echo", "r" + std::to_string(i)));
  auto ids = client_->SubmitMany(specs, {.notify = true});
  ASSERT_TRUE(ids) << ids.error().ToString();
  auto done = client_->WaitResults(*ids, 10000);
  ASSERT_TRUE(done) << done.error().ToString();
  ASSERT_EQ(done->size(), 20u);
  for (size_t i = 0; i < 20; ++i) {
    EXPECT_EQ((*done)[i].id, (*ids)[i]);
    EXPECT_EQ((*done)[i].state, TaskState::kSucceeded);
    EXPECT_EQ((*done)[i].output, "r" + std::to_string(i));
  }
}

TEST_F(ClientIntegrationTest, AResultWaitedForAcrossABrokerRestartIsNotMissed) {
  // Queued with no worker; the broker that was to push its RESULT dies before it ends.
  auto id = client_->Submit(Spec("echo", "survivor"), {.notify = true});
  ASSERT_TRUE(id) << id.error().ToString();
  auto start = std::chrono::steady_clock::now();
  auto waited = std::async(std::launch::async, [&] { return client_->WaitResult(*id, 60'000); });
  cluster_->broker().Kill9();
  ASSERT_TRUE(cluster_->StartBroker());
  ASSERT_TRUE(cluster_->StartWorker("w1", 1));
  // The new connection's identity gets no push: the client asks the broker (WAIT) instead
  // of waiting out its 60 s for one.
  ASSERT_EQ(waited.wait_for(std::chrono::seconds(40)), std::future_status::ready);
  auto task = waited.get();
  ASSERT_TRUE(task) << task.error().ToString();
  EXPECT_EQ(task->state, TaskState::kSucceeded);
  EXPECT_EQ(task->output, "survivor");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(40));
}

TEST_F(ClientIntegrationTest, ASubscribedBatchReportsItsEventsToTheEnd) {
  ASSERT_TRUE(cluster_->StartWorker("w1", 2));
  protocol::BatchSpec batch;
  auto a = Spec("echo", "a");
  a.name = "a";
  auto b = Spec("echo", "b");
  b.name = "b";
  b.depends_on = {"a"};
  batch.tasks = {a, b};
  std::mutex mu;
  std::condition_variable cv;
  std::vector<protocol::Event> events;
  auto sb = client_->SubmitBatch(batch, [&](const protocol::Event& e) {
    std::lock_guard lock(mu);
    events.push_back(e);
    cv.notify_all();
  });
  ASSERT_TRUE(sb) << sb.error().ToString();
  EXPECT_EQ(sb->status.tasks.size(), 2u);
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(15), [&] {
    return !events.empty() && events.back().type == "batch_completed";
  }));
  EXPECT_EQ(events.back().state, "succeeded");
  EXPECT_EQ(events.back().done, 2u);
  lock.unlock();
  auto status = client_->GetBatch(sb->status.id);
  ASSERT_TRUE(status) << status.error().ToString();
  EXPECT_EQ(status->state, "succeeded");
  auto cycle = batch;
  cycle.tasks[0].depends_on = {"b"};
  auto refused = client_->SubmitBatch(cycle);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kCycle);
  EXPECT_EQ(client_->GetBatch("no-such-batch").error().code, ErrorCode::kNotFound);
}

TEST_F(ClientIntegrationTest, CancelATaskAndABatch) {
  // No worker: everything stays queued, so cancelling always has something to do.
  auto id = client_->Submit(Spec("echo", "x"));
  ASSERT_TRUE(id);
  auto n = client_->Cancel(*id);
  ASSERT_TRUE(n) << n.error().ToString();
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(client_->Get(*id)->state, TaskState::kCancelled);
  protocol::BatchSpec batch;
  for (const char* name : {"p", "q"}) {
    auto s = Spec("echo", name);
    s.name = name;
    batch.tasks.push_back(s);
  }
  auto status = client_->SubmitBatch(batch);
  ASSERT_TRUE(status) << status.error().ToString();
  auto cancelled = client_->CancelBatch(status->id);
  ASSERT_TRUE(cancelled) << cancelled.error().ToString();
  EXPECT_EQ(cancelled->count, 2u);
}

TEST_F(ClientIntegrationTest, DeadLettersListRetryAndPurge) {
  ASSERT_TRUE(cluster_->StartWorker("w1", 2));
  auto spec = Spec("fail", R"({"fail_attempts": 1, "retryable": false})");
  auto id = client_->Submit(spec);
  ASSERT_TRUE(id);
  ASSERT_EQ(client_->Wait({*id}, 10000)->at(0).state, TaskState::kFailed);
  auto dead = client_->ListDeadLetters();
  ASSERT_TRUE(dead) << dead.error().ToString();
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ(dead->at(0).id, *id);
  // A retry runs attempt 1 again from scratch, which fails again by the payload's rule...
  auto retried = client_->RetryDeadLetters("", {*id});
  ASSERT_TRUE(retried) << retried.error().ToString();
  EXPECT_EQ(retried->ids, std::vector<std::string>{*id});
  ASSERT_EQ(client_->Wait({*id}, 10000)->at(0).state, TaskState::kFailed);
  auto purged = client_->PurgeDeadLetters("", {});
  ASSERT_TRUE(purged) << purged.error().ToString();
  EXPECT_EQ(purged->count, 1u);
  EXPECT_TRUE(client_->ListDeadLetters()->empty());
}

}  // namespace
}  // namespace taskmill::client
