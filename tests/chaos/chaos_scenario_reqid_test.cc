// Issue 17, request ids: the `idempotency` scenario's lost reply, without an idempotency key.
// Each SUBMIT (broker-assigned ids, no idempotency key) is stored but its reply never
// reaches the application; the application resends the same message (same request_id):
// half after the first reply was lost, half while the first is still in flight. The resend
// gets the first ids back and every task runs once, under a steady load. The negative
// control resends without a request_id and must see the duplicates.

#include <gtest/gtest.h>

#include <iostream>
#include <set>

#include "chaos/harness.h"
#include "support/launch.h"
#include "support/wire_client.h"

namespace taskmill::chaos {
namespace {

using taskmill::testing::WaitFor;
using taskmill::testing::WireClient;

constexpr uint32_t kWorkers = 3;
constexpr uint32_t kConcurrency = 2;
constexpr int kRequests = 20;
constexpr size_t kTasksPerRequest = 2;

class ReqidChaosTest : public ::testing::Test {
 protected:
  void Boot(const std::string& scenario) {
    scenario_ = scenario;
    auto c = ChaosCluster::Start(scenario, {});
    ASSERT_TRUE(c.has_value()) << c.error().message;
    cluster_ = std::move(*c);
    for (uint32_t i = 0; i < kWorkers; ++i) {
      ASSERT_TRUE(cluster_->StartWorker("w" + std::to_string(i), kConcurrency, ""));
    }
    load_ = std::make_unique<LoadClient>(cluster_->frontend(), cluster_->queue(),
                                         cluster_->TaskPayload(scale_.task_ms), scenario_);
    load_->Start(scale_.load_ms, 50);
    ASSERT_TRUE(WaitFor(
        [&] { return load_->acknowledged() >= 10 && cluster_->Executions().size() >= 6; }, 20000))
        << "no traffic";
  }
  void TearDown() override {
    if (load_) load_->Join();
    if (HasFailure() && cluster_) std::cerr << cluster_->Logs();
  }
  protocol::Submit Request(int i, bool with_request_id) {
    protocol::Submit s;
    for (size_t k = 0; k < kTasksPerRequest; ++k) {
      protocol::TaskSpec t;  // no id, no idempotency key: the broker names the tasks
      t.type = "exec";
      t.queue = cluster_->queue();
      t.payload = cluster_->TaskPayload(scale_.task_ms);
      s.tasks.push_back(std::move(t));
    }
    if (with_request_id) s.request_id = scenario_ + "-request-" + std::to_string(i);
    return s;
  }
  // Sends every request twice: the first reply is lost (read and dropped, or not waited
  // for at all: the resend races it); returns what the application knows of (the resend's
  // ids) and every id either reply named.
  void LoseRepliesAndResend(bool with_request_id, std::vector<Submission>& subs,
                            std::set<std::string>& named) {
    WireClient lossy(cluster_->frontend());
    WireClient retrying(cluster_->frontend());
    for (int i = 0; i < kRequests; ++i) {
      auto msg = Request(i, with_request_id);
      int64_t t0 = NowMs();
      if (i % 2 == 0) {
        auto lost = lossy.Call(msg, 5000);  // stored; the reply never reaches the app
        if (lost) named.insert(lost->ids.begin(), lost->ids.end());
      } else {
        auto f = protocol::Encode(protocol::Message(msg));
        lossy.SendRaw({f.version, f.command, f.body});  // in flight during the resend
      }
      auto reply = retrying.Call(msg, 5000);
      ASSERT_TRUE(reply && !reply->error && reply->ids.size() == kTasksPerRequest);
      for (const auto& id : reply->ids) {
        subs.push_back({id, t0, NowMs()});
        named.insert(id);
      }
    }
    // The raced first sends' replies are dropped unread (a later Call skips them): lost too.
  }
  // Runs of tasks that are not the load's (the load names its tasks <scenario>-<n>).
  std::multiset<std::string> RequestRuns() const {
    std::multiset<std::string> runs;
    for (const auto& e : cluster_->Executions()) {
      if (e.id.rfind(scenario_ + "-", 0) != 0) runs.insert(e.id);
    }
    return runs;
  }

  // Joins the load, settles it with `extra` (the resent requests') and prints the row.
  CheckReport Finish(const std::vector<Submission>& extra) {
    load_->Join();
    auto all = load_->submissions();
    all.insert(all.end(), extra.begin(), extra.end());
    auto r = Settle(*cluster_, all, 0, scale_.settle_ms);
    std::cout << r.Row(scenario_) << std::endl;
    return r;
  }

  Scale scale_ = Scale::FromEnv();
  std::string scenario_;
  std::unique_ptr<ChaosCluster> cluster_;
  std::unique_ptr<LoadClient> load_;
};

TEST_F(ReqidChaosTest, ResendAfterALostReplyWithoutAnIdempotencyKey) {
  Boot("reqid-lost-reply");
  std::vector<Submission> subs;
  std::set<std::string> named;
  LoseRepliesAndResend(true, subs, named);
  if (HasFatalFailure()) return;
  auto r = Finish(subs);
  EXPECT_TRUE(r.Clean()) << r.Summary();
  EXPECT_EQ(r.duplicate_executions, 0u);
  // Both replies of each request named the same tasks, and only those ran, once each.
  EXPECT_EQ(named.size(), kRequests * kTasksPerRequest);
  auto runs = RequestRuns();
  EXPECT_EQ(runs.size(), kRequests * kTasksPerRequest);
  for (const auto& id : runs) {
    EXPECT_TRUE(named.contains(id)) << "a task no reply named ran: " << id;
    EXPECT_EQ(runs.count(id), 1u) << id;
  }
}

// Negative control: the same lost replies resent without a request_id store every task
// twice; the check above must see it.
TEST_F(ReqidChaosTest, NegativeControlWithoutARequestIdTheResendRunsTwice) {
  Boot("neg-reqid-none");
  std::vector<Submission> subs;
  std::set<std::string> named;
  LoseRepliesAndResend(false, subs, named);
  if (HasFatalFailure()) return;
  Finish(subs);
  EXPECT_GT(named.size(), kRequests * kTasksPerRequest) << "no duplicate was stored";
  EXPECT_TRUE(WaitFor([&] { return RequestRuns().size() > kRequests * kTasksPerRequest; },
                      scale_.settle_ms))
      << "the duplicates never ran: " << RequestRuns().size();
}

}  // namespace
}  // namespace taskmill::chaos
