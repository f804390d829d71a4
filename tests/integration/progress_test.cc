// Progress stored and streamed (issue 19) with real processes: two brokers (A, B) on one
// redis-server, a raw worker (WireClient) on A and clients on B. PROGRESS is fenced by the
// attempt's token, throttled per task at the broker (counted in /metrics: received,
// coalesced, stored), stored on the task (GET: progress, progress_message), and pushed to a
// client WAITing with `progress` on the other broker, through the Redis bus.

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <optional>

#include "flow_helpers.h"
#include "support/http_get.h"
#include "support/launch.h"

namespace taskmill::testing {
namespace {

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Send(WireClient& c, const protocol::Message& m) {
  auto f = protocol::Encode(m);
  c.SendRaw({f.version, f.command, f.body});
}

class TwoBrokersProgress : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "taskmill-progress-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto redis = RedisServer::Start();
    ASSERT_TRUE(redis.has_value()) << redis.error().message;
    redis_ = std::move(*redis);
    for (const char* id : {"A", "B"}) {
      BrokerLaunch l;
      l.dir = dir_ + "/" + id;
      std::filesystem::create_directories(l.dir);
      l.redis_url = "unix://" + redis_->config().unix_path;
      l.prefix = "tmp" + std::to_string(getpid()) + ":";
      l.heartbeat_ms = 500;
      l.liveness = 20;  // the raw worker sends no heartbeats
      l.lease_ms = 20000;
      l.extra_args = {"--broker-id", id};
      auto ep = LaunchBroker(l, brokers_[id], [this] { return Logs(); });
      ASSERT_TRUE(ep.has_value()) << ep.error().message;
      endpoints_[id] = *ep;
    }
    worker_ = std::make_unique<WireClient>(endpoints_.at("A").backend);
    protocol::Ready ready;
    ready.worker_id = "raw-a";
    ready.queues = {"default"};
    ready.concurrency = 1;
    Send(*worker_, ready);
    client_ = std::make_unique<WireClient>(endpoints_.at("B").frontend);
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << Logs();
    worker_.reset();
    client_.reset();
    for (auto& [id, b] : brokers_) b.Kill9();
    redis_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string Logs() const {
    std::string out;
    for (const char* id : {"A", "B"}) {
      out += std::string("--- broker ") + id + "\n" + ReadFile(dir_ + "/" + id + "/broker.log");
    }
    if (out.size() > 30000) out = "...\n" + out.substr(out.size() - 30000);
    return out;
  }
  // Submits one task through B and returns the TASK the raw worker on A got for it.
  std::optional<protocol::TaskMsg> SubmitAndTake() {
    std::string id = SubmitOne(*client_, Spec("echo", R"("x")"));
    for (int64_t until = WallMs() + 20000; WallMs() < until;) {
      auto msg = worker_->Receive(200);
      if (!msg) continue;
      if (auto* t = std::get_if<protocol::TaskMsg>(&*msg); t && t->task_id == id) return *t;
    }
    return std::nullopt;
  }
  void Progress(const protocol::TaskMsg& t, double fraction, std::string message,
                uint64_t token_xor = 0) {
    Send(*worker_, protocol::Progress{t.task_id, t.token ^ token_xor, fraction, message});
  }
  void Finish(const protocol::TaskMsg& t) {
    protocol::Done d;
    d.task_id = t.task_id;
    d.token = t.token;
    d.ok = true;
    Send(*worker_, d);
  }
  // Polls GET through B until `pred` holds of the task (20 s at most).
  bool TaskBecomes(const std::string& id,
                   const std::function<bool(const protocol::TaskInfo&)>& pred) {
    for (int64_t until = WallMs() + 20000; WallMs() < until;) {
      if (pred(GetOne(*client_, id))) return true;
      worker_->Receive(20);  // the poll's pace; anything the worker gets here is not needed
    }
    return false;
  }
  double MetricOfA(const std::string& name) {
    auto page = HttpGet(endpoints_.at("A").http, "/metrics");
    return page.status == 200 ? MetricSample(page.body, name).value_or(-1) : -1;
  }

  std::string dir_;
  std::unique_ptr<RedisServer> redis_;
  std::map<std::string, ChildProcess> brokers_;
  std::map<std::string, BrokerEndpoints> endpoints_;
  std::unique_ptr<WireClient> worker_;
  std::unique_ptr<WireClient> client_;
};

TEST_F(TwoBrokersProgress, AStaleTokensProgressIsDroppedAndTheLiveOnesIsStored) {
  auto t = SubmitAndTake();
  ASSERT_TRUE(t) << "the raw worker on A got no task";
  Progress(*t, 0.9, "forged", /*token_xor=*/1);
  Progress(*t, 0.3, "live");
  ASSERT_TRUE(TaskBecomes(t->task_id, [](const protocol::TaskInfo& i) {
    return i.progress_message == "live";
  }));
  auto info = GetOne(*client_, t->task_id);
  EXPECT_DOUBLE_EQ(info.progress, 0.3);
  EXPECT_EQ(info.state, protocol::TaskState::kRunning);
  // /metrics is republished every 250 ms: wait for the counters to show.
  double stale = -1;
  for (int64_t until = WallMs() + 5000; WallMs() < until && stale < 1;) {
    stale = MetricOfA("taskmill_broker_stale_progress_total");
  }
  EXPECT_EQ(stale, 1) << "the forged report is counted";
  EXPECT_EQ(MetricOfA("taskmill_broker_progress_received_total"), 1);
  Finish(*t);
}

// 10,000 reports as fast as the socket takes them: at most one Redis write per 250 ms of the
// burst (plus the first), and the last value is the one stored.
TEST_F(TwoBrokersProgress, TenThousandReportsCostAFewWritesAndKeepTheLast) {
  auto t = SubmitAndTake();
  ASSERT_TRUE(t) << "the raw worker on A got no task";
  constexpr int kReports = 10'000;
  int64_t start = WallMs();
  for (int i = 1; i <= kReports; ++i) Progress(*t, i / double(kReports), std::to_string(i));
  ASSERT_TRUE(TaskBecomes(t->task_id, [](const protocol::TaskInfo& i) {
    return i.progress_message == "10000";
  })) << "the last report was lost";
  int64_t elapsed = WallMs() - start;
  // Every report is accounted for once /metrics catches up: stored, or replaced by a later one.
  double received = 0, stored = 0, coalesced = 0;
  for (int64_t until = WallMs() + 5000; WallMs() < until && stored + coalesced < kReports;) {
    std::string page = HttpGet(endpoints_.at("A").http, "/metrics").body;
    received = MetricSample(page, "taskmill_broker_progress_received_total").value_or(-1);
    stored = MetricSample(page, "taskmill_broker_progress_stored_total").value_or(-1);
    coalesced = MetricSample(page, "taskmill_broker_progress_coalesced_total").value_or(-1);
  }
  std::cout << "progress: " << kReports << " reports in " << elapsed << " ms -> " << stored
            << " stored, " << coalesced << " coalesced\n";
  EXPECT_EQ(received, kReports);
  EXPECT_EQ(stored + coalesced, kReports);
  EXPECT_GE(stored, 1);
  EXPECT_LE(stored, 2 + elapsed / 250) << "at most one write per 250 ms of the burst, plus one";
  Finish(*t);
}

// A report held back by the throttle (sent right after another) is stored before the DONE
// that follows it: the task ends showing the worker's last word.
TEST_F(TwoBrokersProgress, TheLastReportBeforeTheDoneIsStored) {
  auto t = SubmitAndTake();
  ASSERT_TRUE(t) << "the raw worker on A got no task";
  Progress(*t, 0.1, "first");
  Progress(*t, 0.9, "last");  // within the interval: held back
  Finish(*t);
  ASSERT_TRUE(TaskBecomes(t->task_id, [](const protocol::TaskInfo& i) {
    return i.state == protocol::TaskState::kSucceeded;
  }));
  auto info = GetOne(*client_, t->task_id);
  EXPECT_EQ(info.progress_message, "last");
  EXPECT_DOUBLE_EQ(info.progress, 0.9);
}

// A client on B waiting with progress gets the reports of a task run by a worker on A.
TEST_F(TwoBrokersProgress, AClientWaitingOnAnotherBrokerGetsTheProgress) {
  auto t = SubmitAndTake();
  ASSERT_TRUE(t) << "the raw worker on A got no task";
  protocol::Wait w;
  w.req_id = 77;
  w.ids = {t->task_id};
  w.timeout_ms = 30000;
  w.progress = true;
  Send(*client_, w);
  // B's watch of the task reaches A over the bus after the WAIT's first read: report until
  // one comes through (bounded), each report a new value.
  std::optional<protocol::Event> got;
  for (int i = 1; i <= 60 && !got; ++i) {
    Progress(*t, i / 100.0, "step " + std::to_string(i));
    for (int64_t until = WallMs() + 500; WallMs() < until && !got;) {
      auto msg = client_->Receive(100);
      if (!msg) continue;
      if (auto* e = std::get_if<protocol::Event>(&*msg)) got = *e;
      ASSERT_FALSE(std::holds_alternative<protocol::Reply>(*msg)) << "the WAIT ended early";
    }
  }
  ASSERT_TRUE(got) << "no progress reached the client on B";
  EXPECT_EQ(got->type, "task_progress");
  EXPECT_EQ(got->batch_id, "");
  EXPECT_EQ(got->task_id, t->task_id);
  EXPECT_TRUE(got->message.starts_with("step "));
  Finish(*t);
  for (int64_t until = WallMs() + 20000; WallMs() < until;) {
    auto msg = client_->Receive(200);
    if (!msg) continue;
    if (auto* r = std::get_if<protocol::Reply>(&*msg)) {
      ASSERT_EQ(r->req_id, 77u);
      ASSERT_EQ(r->tasks.size(), 1u);
      EXPECT_EQ(r->tasks[0].state, protocol::TaskState::kSucceeded);
      return;
    }
  }
  FAIL() << "the WAIT was never answered";
}

}  // namespace
}  // namespace taskmill::testing
