// Queue limits end to end (issue 21): two brokers on one Redis, several worker processes, the
// limits set through the CLI (`taskmill queue limit`). The concurrency cap is checked from the
// start and end times the handlers themselves record; the rate cap from the recorded claim
// times (functional, not wall-clock speed); limits outlive the brokers that set them; a bad
// setting is refused with a message naming what is allowed.

#include <algorithm>
#include <fstream>

#include "flow_helpers.h"
#include "support/brokers_fixture.h"

namespace taskmill::testing {
namespace {

class LimitsTest : public BrokersOnOneRedis {
 protected:
  static constexpr uint32_t kHeartbeatMs = 200;
  static constexpr uint32_t kLiveness = 5;

  LimitsTest()
      : BrokersOnOneRedis({.name = "limits",
                           .prefix = "tml",
                           .brokers = {"A", "B"},
                           .launch = {.heartbeat_ms = kHeartbeatMs,
                                      .liveness = kLiveness,
                                      .lease_ms = 10000}}) {}

  // `taskmill queue limit ARGS...` through broker `broker`: {exit code, stdout + stderr}.
  std::pair<int, std::string> Cli(const std::string& broker, std::vector<std::string> args) {
    args.insert(args.begin(), {"queue", "limit"});
    return BrokersOnOneRedis::Cli(broker, std::move(args));
  }
  protocol::QueueStats StatsOf(WireClient& c, const std::string& queue) {
    protocol::Stats s;
    s.queues = {queue};
    s.sections = {"queues"};
    auto r = c.Call(s);
    if (!r || r->error || r->queues.empty()) return {};
    return r->queues[0];
  }
};

// Three workers of 4 slots (12 slots, on both brokers) under a cap of 3: the handlers' own
// start and end times never overlap more than 3 deep, and the cap is reached.
TEST_F(LimitsTest, ConcurrencyCapHoldsAcrossBrokersFromTheHandlersOwnTimes) {
  auto [code, out] = Cli("A", {"capped", "--concurrency", "3"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("concurrency=3"), std::string::npos) << out;
  StartWorker("A", "wa1", 4, "capped");
  StartWorker("B", "wb1", 4, "capped");
  StartWorker("B", "wb2", 4, "capped");
  std::string times = dir_ + "/times.txt";
  std::string script = "echo s $(date +%s%N) >> " + times +
                       "; sleep 0.05; echo e $(date +%s%N) >> " + times;
  WireClient client(endpoints_.at("A").frontend);
  std::vector<protocol::TaskSpec> specs;
  for (int i = 0; i < 36; ++i) {
    specs.push_back(Spec("exec", R"({"argv": ["sh", "-c", ")" + script + R"("]})", "capped"));
  }
  auto ids = SubmitAll(client, specs);
  ASSERT_EQ(ids.size(), 36u);
  auto done = WaitAll(client, ids, 60000);
  ASSERT_EQ(done.size(), 36u);
  for (const auto& t : done) ASSERT_EQ(t.state, protocol::TaskState::kSucceeded) << t.id;
  std::ifstream in(times);
  std::vector<std::pair<int64_t, int>> events;  // time, +1 start / -1 end
  std::string kind;
  int64_t at = 0;
  while (in >> kind >> at) events.emplace_back(at, kind == "s" ? 1 : -1);
  ASSERT_EQ(events.size(), 72u);
  std::sort(events.begin(), events.end());  // an end before a start at the same instant
  int depth = 0, deepest = 0;
  for (const auto& [t, d] : events) {
    depth += d;
    deepest = std::max(deepest, depth);
  }
  std::cout << "CONCURRENCY_CAP cap=3 slots=12 deepest=" << deepest << std::endl;
  EXPECT_LE(deepest, 3);
  EXPECT_GE(deepest, 2) << "the cap, not the workers, should bound it";
  EXPECT_EQ(StatsOf(client, "capped").limit_running, 0u);
}

// 20/s over 60 tasks and 8 slots on two brokers: no one-second window of recorded claim
// times holds more than the rate plus the bucket (10), and it takes the time the rate needs.
TEST_F(LimitsTest, RateCapHoldsAcrossBrokersFromTheClaimTimes) {
  auto [code, out] = Cli("B", {"rated", "--rate", "20/s"});
  ASSERT_EQ(code, 0) << out;
  StartWorker("A", "ra1", 4, "rated");
  StartWorker("B", "rb1", 4, "rated");
  WireClient client(endpoints_.at("A").frontend);
  std::vector<protocol::TaskSpec> specs(60, Spec("echo", R"("x")", "rated"));
  auto ids = SubmitAll(client, specs);
  auto done = WaitAll(client, ids, 60000);
  ASSERT_EQ(done.size(), 60u);
  std::vector<int64_t> started;
  for (const auto& t : done) {
    ASSERT_EQ(t.state, protocol::TaskState::kSucceeded) << t.id;
    started.push_back(t.started_ms);
  }
  std::sort(started.begin(), started.end());
  size_t worst = 0;
  for (size_t i = 0; i < started.size(); ++i) {
    auto end = std::upper_bound(started.begin(), started.end(), started[i] + 999);
    worst = std::max(worst, static_cast<size_t>(end - started.begin()) - i);
  }
  int64_t span = started.back() - started.front();
  std::cout << "RATE_CAP rate=20/s tasks=60 worst_1s_window=" << worst << " span_ms=" << span
            << std::endl;
  EXPECT_LE(worst, 30u);
  EXPECT_GE(span, (60 - 10) * 1000 / 20 - 100) << "faster than the rate allows";
  EXPECT_GT(StatsOf(client, "rated").throttled, 0u);
}

TEST_F(LimitsTest, LimitsOutliveTheirBrokerAndBadSettingsAreRefused) {
  auto [code, out] = Cli("A", {"kept", "--rate", "5/m", "--key-label", "tenant"});
  ASSERT_EQ(code, 0) << out;
  // The broker that set it goes; a new one on the same Redis reads it, and so does B.
  brokers_.at("A").Kill9();
  StartBroker("C");
  WireClient c(endpoints_.at("C").frontend);
  EXPECT_EQ(StatsOf(c, "kept").limit, "rate=5/m key=tenant");
  // Refused before sending (the CLI checks) and by the broker (a raw LIMIT).
  auto [bad_code, bad_out] = Cli("C", {"kept", "--rate", "5/d"});
  EXPECT_EQ(bad_code, 2);
  EXPECT_NE(bad_out.find("100/s, 30/m, 1000/h"), std::string::npos) << bad_out;
  protocol::Limit raw;
  raw.queue = "kept";
  raw.cost_rate = "usd=lots/h";
  auto reply = c.Call(raw);
  ASSERT_TRUE(reply.has_value());
  ASSERT_TRUE(reply->error.has_value());
  EXPECT_EQ(reply->error->code, "invalid_argument");
  EXPECT_NE(reply->error->message.find("NAME=AMOUNT/s|m|h"), std::string::npos)
      << reply->error->message;
  EXPECT_EQ(StatsOf(c, "kept").limit, "rate=5/m key=tenant") << "a refused setting changes nothing";
  auto [clear_code, clear_out] = Cli("B", {"kept", "--clear"});
  ASSERT_EQ(clear_code, 0) << clear_out;
  EXPECT_EQ(StatsOf(c, "kept").limit, "");
}

}  // namespace
}  // namespace taskmill::testing
