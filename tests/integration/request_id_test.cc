// Issue 17, request ids through real processes: a SUBMIT or BATCH resent with the same
// request_id, to the same broker or to another broker on the same Redis, one after the other
// or at once, stores its tasks once and is answered with the first reply's ids.

#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include <unistd.h>

#include "flow_helpers.h"
#include "support/http_get.h"
#include "support/launch.h"

namespace taskmill::testing {
namespace {

// Tasks ever submitted to `queue` (the store's own count, whichever broker took them).
uint64_t Submitted(WireClient& c, const std::string& queue = "default") {
  auto r = c.Call(protocol::Stats{}, 5000);
  if (!r || r->error) return 0;
  for (const auto& q : r->queues) {
    if (q.queue == queue) return q.submitted;
  }
  return 0;
}

protocol::Submit SubmitOf(size_t tasks, std::string request_id, const std::string& tag = "x") {
  protocol::Submit s;
  for (size_t i = 0; i < tasks; ++i) s.tasks.push_back(Spec("echo", "\"" + tag + "\""));
  s.request_id = std::move(request_id);
  return s;
}

protocol::Batch BatchOf(std::string request_id) {
  protocol::Batch b;
  protocol::TaskSpec a = Spec("echo", R"("a")");
  a.name = "a";
  protocol::TaskSpec z = Spec("echo", R"("z")");
  z.name = "z";
  z.depends_on = {"a"};
  b.batch.tasks = {a, z};
  b.request_id = std::move(request_id);
  return b;
}

// A second broker on the cluster's Redis and prefix (no worker anywhere: tasks stay queued).
class RequestIdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Cluster::Start({});
    ASSERT_TRUE(c.has_value()) << c.error().message;
    cluster_ = std::move(*c);
    BrokerLaunch l;
    l.dir = cluster_->dir() + "/b2";
    std::filesystem::create_directories(l.dir);
    l.redis_url = "unix://" + cluster_->redis()->config().unix_path;
    l.prefix = "tmc" + std::to_string(getpid()) + ":";
    auto b2 = LaunchBroker(l, broker2_, [&] { return cluster_->Logs(); });
    ASSERT_TRUE(b2.has_value()) << b2.error().message;
    b2_ = *b2;
    other_ = std::make_unique<WireClient>(b2_.frontend);
  }

  std::unique_ptr<Cluster> cluster_;
  ChildProcess broker2_;
  BrokerEndpoints b2_;
  std::unique_ptr<WireClient> other_;  // a client of the second broker
};

TEST_F(RequestIdTest, AResentSubmitOrBatchIsStoredOnceOnEitherBroker) {
  WireClient& c = cluster_->client();
  const std::string rid = "0123456789abcdef0123456789abcdef";
  auto first = c.Call(SubmitOf(3, rid));
  ASSERT_TRUE(first && !first->error) << cluster_->Logs();
  ASSERT_EQ(first->ids.size(), 3u);
  auto same_broker = c.Call(SubmitOf(3, rid));
  auto other_broker = other_->Call(SubmitOf(3, rid));
  ASSERT_TRUE(same_broker && !same_broker->error);
  ASSERT_TRUE(other_broker && !other_broker->error);
  EXPECT_EQ(same_broker->ids, first->ids);
  EXPECT_EQ(other_broker->ids, first->ids);
  EXPECT_EQ(Submitted(c), 3u);

  // Without a request_id nothing changes: each SUBMIT stores its task.
  ASSERT_TRUE(c.Call(SubmitOf(1, "")));
  ASSERT_TRUE(other_->Call(SubmitOf(1, "")));
  EXPECT_EQ(Submitted(c), 5u);

  // A BATCH: the same batch id and task ids, through either broker.
  const std::string brid = "fedcba9876543210fedcba9876543210";
  auto b1 = c.Call(BatchOf(brid));
  ASSERT_TRUE(b1 && !b1->error && b1->batch) << cluster_->Logs();
  auto b2 = other_->Call(BatchOf(brid));
  ASSERT_TRUE(b2 && !b2->error && b2->batch) << (b2 && b2->error ? b2->error->message : "");
  EXPECT_EQ(b2->batch->id, b1->batch->id);
  EXPECT_EQ(b2->batch->tasks, b1->batch->tasks);
  EXPECT_EQ(b2->batch->total, 2u);
  EXPECT_EQ(Submitted(c), 7u);

  // The id reused for another body: a clear conflict, nothing stored.
  auto reused = other_->Call(SubmitOf(3, rid, "other"));
  ASSERT_TRUE(reused && reused->error);
  EXPECT_EQ(reused->error->code, "conflict");
  EXPECT_NE(reused->error->message.find("request_id"), std::string::npos);
  auto reused_batch = c.Call(SubmitOf(2, brid));
  ASSERT_TRUE(reused_batch && reused_batch->error);
  EXPECT_EQ(reused_batch->error->code, "conflict");
  EXPECT_EQ(Submitted(c), 7u);
}

TEST_F(RequestIdTest, ABadRequestIdIsRefusedAndCounted) {
  WireClient& c = cluster_->client();
  for (const std::string& bad : {std::string(65, 'a'), std::string("tab\there"),
                                 std::string("caf\xc3\xa9")}) {
    auto r = c.Call(SubmitOf(1, bad));
    ASSERT_TRUE(r && r->error) << bad;
    EXPECT_EQ(r->error->code, "invalid_argument");
    EXPECT_NE(r->error->message.find("request_id"), std::string::npos) << r->error->message;
    auto b = c.Call(BatchOf(bad));
    ASSERT_TRUE(b && b->error);
    EXPECT_EQ(b->error->code, "invalid_argument");
  }
  EXPECT_EQ(Submitted(c), 0u);
  // /metrics reads a snapshot the reactor publishes now and then: wait for it to show all 6.
  std::optional<double> refused;
  EXPECT_TRUE(WaitFor(
      [&] {
        refused = MetricSample(HttpGet(cluster_->http(), "/metrics").body,
                               "taskmill_broker_bad_request_ids_total");
        return refused == 6;
      },
      5000))
      << refused.value_or(-1);
}

// Every request sent three times at once, twice to one broker (often in one reactor turn:
// one combined enqueue) and once to the other, without waiting: the store decides.
TEST_F(RequestIdTest, ConcurrentResendsOnTwoBrokersStoreOnce) {
  WireClient& c = cluster_->client();
  constexpr uint64_t kRequests = 40;
  constexpr size_t kTasks = 2;
  auto frames = [](const protocol::Message& m) {
    auto f = protocol::Encode(m);
    return std::vector<std::string>{f.version, f.command, f.body};
  };
  for (uint64_t i = 1; i <= kRequests; ++i) {
    protocol::Message m;
    if (i % 4 == 0) {
      auto b = BatchOf("concurrent-" + std::to_string(i));
      b.req_id = i;
      m = b;
    } else {
      auto s = SubmitOf(kTasks, "concurrent-" + std::to_string(i));
      s.req_id = i;
      m = s;
    }
    auto f = frames(m);
    c.SendRaw(f);
    other_->SendRaw(f);
    c.SendRaw(f);
  }
  // req_id -> every reply's answer (the ids, or the batch's id and tasks), as a string.
  std::map<uint64_t, std::vector<std::string>> answers;
  auto collect = [&](WireClient& w, size_t n) {
    for (size_t k = 0; k < n; ++k) {
      auto m = w.Receive(10000);
      ASSERT_TRUE(m.has_value()) << "reply " << k << " of " << n << " missing";
      auto* r = std::get_if<protocol::Reply>(&*m);
      ASSERT_NE(r, nullptr);
      ASSERT_FALSE(r->error) << r->error->message;
      std::string a;
      if (r->batch) {
        a = r->batch->id;
        for (const auto& [name, id] : r->batch->tasks) a += "," + name + "=" + id;
      } else {
        for (const auto& id : r->ids) a += id + ",";
      }
      answers[r->req_id].push_back(a);
    }
  };
  collect(c, 2 * kRequests);
  collect(*other_, kRequests);
  ASSERT_EQ(answers.size(), kRequests);
  for (const auto& [req_id, seen] : answers) {
    ASSERT_EQ(seen.size(), 3u) << req_id;
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 1u)
        << "request " << req_id << " answered differently: " << seen[0] << " / " << seen[1]
        << " / " << seen[2];
  }
  // 30 SUBMITs of 2 tasks and 10 BATCHes of 2: each stored once.
  EXPECT_EQ(Submitted(c), kRequests * kTasks);
}

}  // namespace
}  // namespace taskmill::testing
