// Task options of issue 22 end to end, with real processes (redis-server, brokers, a
// worker): a task not started before its expires_in_ms deadline ends `expired` and never
// runs (its handler leaves a line in a file each time it runs), WAIT reports it, and the
// deadline lives in Redis (it holds across a broker restart); delay_ms counts from the
// broker's clock (measured with the broker's own timestamps); the CLI's flags and refusals.

#include <chrono>

#include "flow_helpers.h"
#include "support/brokers_fixture.h"

namespace taskmill::testing {
namespace {

using protocol::TaskState;

class TaskOptionsTest : public BrokersOnOneRedis {
 protected:
  static constexpr uint32_t kHeartbeatMs = 200;
  static constexpr uint32_t kLiveness = 5;

  TaskOptionsTest()
      : BrokersOnOneRedis({.name = "taskopts",
                           .prefix = "tmo",
                           .brokers = {"A"},
                           .launch = {.heartbeat_ms = kHeartbeatMs,
                                      .liveness = kLiveness,
                                      .lease_ms = 10000}}) {}

  // An exec task whose every run appends `tag` to runs.txt: the handler's own count.
  protocol::TaskSpec Recorded(const std::string& tag) {
    return Spec("exec", R"({"argv": ["sh", "-c", "echo )" + tag + " >> " + dir_ +
                            R"(/runs.txt"]})");
  }
  std::string Runs() { return ReadFile(dir_ + "/runs.txt"); }
};

// No worker while the deadline passes; then one starts. The expired task never runs (only
// the control task, submitted after it, leaves a line), and WAIT answers `expired`.
TEST_F(TaskOptionsTest, ATaskNotStartedInTimeEndsExpiredAndNeverRuns) {
  WireClient client(endpoints_.at("A").frontend);
  auto late = Recorded("late");
  late.expires_in_ms = 300;
  std::string late_id = SubmitOne(client, late);
  std::string control_id = SubmitOne(client, Recorded("control"));
  ASSERT_FALSE(late_id.empty());
  // The WAIT is answered when the task expires (~0.35 s: the sweep tells the waiters), not
  // by the broker's 5 s re-read of waited-on tasks (the fallback for ends it is not told
  // of) nor at its own 20 s timeout.
  auto asked = std::chrono::steady_clock::now();
  auto ended = WaitAll(client, {late_id}, 20000);
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(3));
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].state, TaskState::kExpired);
  ASSERT_TRUE(ended[0].error.has_value());
  EXPECT_EQ(ended[0].error->code, "expired");
  EXPECT_EQ(ended[0].attempts, 0u);
  EXPECT_GE(ended[0].finished_ms - ended[0].created_ms, 300);
  StartWorker("A", "w1");
  auto done = WaitAll(client, {control_id}, 20000);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].state, TaskState::kSucceeded);
  EXPECT_EQ(Runs(), "control\n");
  EXPECT_EQ(GetOne(client, late_id).state, TaskState::kExpired);
  protocol::Stats s;
  s.queues = {"default"};
  s.sections = {"queues"};
  auto st = client.Call(s);
  ASSERT_TRUE(st.has_value());
  ASSERT_EQ(st->queues.size(), 1u);
  EXPECT_EQ(st->queues[0].expired, 1u);
}

// The deadline is in Redis: the broker that stored the task dies, another one (same Redis)
// expires it.
TEST_F(TaskOptionsTest, ExpirySurvivesABrokerRestart) {
  std::string id;
  {
    WireClient client(endpoints_.at("A").frontend);
    auto t = Recorded("never");
    t.expires_in_ms = 1500;
    id = SubmitOne(client, t);
    ASSERT_FALSE(id.empty());
  }
  brokers_.at("A").Kill9();
  StartBroker("B");
  WireClient client(endpoints_.at("B").frontend);
  auto ended = WaitAll(client, {id}, 15000);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].state, TaskState::kExpired);
  StartWorker("B", "w1");
  auto done = WaitAll(client, {SubmitOne(client, Recorded("after"))}, 20000);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(Runs(), "after\n");
}

// delay_ms: delayed at once, started no sooner than the delay after it was created, both
// times the broker's.
TEST_F(TaskOptionsTest, DelayCountsFromTheBrokersClock) {
  StartWorker("A", "w1");
  WireClient client(endpoints_.at("A").frontend);
  auto t = Recorded("delayed");
  t.delay_ms = 700;
  std::string id = SubmitOne(client, t);
  EXPECT_EQ(GetOne(client, id).state, TaskState::kDelayed);
  auto done = WaitAll(client, {id}, 20000);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].state, TaskState::kSucceeded);
  EXPECT_GE(done[0].started_ms - done[0].created_ms, 700);
}

TEST_F(TaskOptionsTest, CliFlagsAndTheirRefusals) {
  auto [code, out] = Cli("A", {"submit", "--type", "echo", "--expires-in", "300ms", "--wait",
                               "--wait-timeout-ms", "10000"});
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("expired"), std::string::npos) << out;
  auto [dcode, dout] = Cli("A", {"submit", "--type", "echo", "--delay", "10s", "--json"});
  ASSERT_EQ(dcode, 0) << dout;
  auto [bcode, bout] =
      Cli("A", {"submit", "--type", "echo", "--delay", "1s", "--not-before-ms", "5"});
  EXPECT_EQ(bcode, 2) << bout;
  EXPECT_NE(bout.find("set one or the other"), std::string::npos) << bout;
  auto [ucode, uout] = Cli("A", {"submit", "--type", "echo", "--expires-in", "30"});
  EXPECT_EQ(ucode, 2) << uout;
  EXPECT_NE(uout.find("ms, s, m or h"), std::string::npos) << uout;
  auto [tcode, tout] = Cli("A", {"submit", "--type", "echo", "--idempotency-key", "k",
                                 "--idempotency-ttl", "721h"});
  EXPECT_EQ(tcode, 2) << tout;
  auto [kcode, kout] = Cli("A", {"submit", "--type", "echo", "--idempotency-ttl", "1h"});
  EXPECT_EQ(kcode, 2) << kout;
  EXPECT_NE(kout.find("needs an idempotency_key"), std::string::npos) << kout;
}

// --idempotency-ttl: the broker's default for keys without their own TTL.
TEST_F(TaskOptionsTest, BrokerIdempotencyTtlIsTheDefaultAndATasksOwnWins) {
  StartBroker("B", {"--idempotency-ttl", "1s"});
  WireClient client(endpoints_.at("B").frontend);
  auto t = Spec("echo");
  t.idempotency_key = "k1";
  std::string first = SubmitOne(client, t);
  auto own = Spec("echo");
  own.idempotency_key = "k2";
  own.idempotency_ttl_ms = 3'600'000;
  std::string kept = SubmitOne(client, own);
  // k1 is forgotten after the broker's 1 s (Redis's own clock: poll, with a deadline); k2,
  // with its own hour, still dedupes.
  std::string again;
  for (int i = 0; i < 100; ++i) {
    again = SubmitOne(client, t);
    if (again != first) break;
    usleep(100'000);  // a poll interval, not a synchronisation: the loop checks the state
  }
  EXPECT_NE(again, first);
  EXPECT_EQ(SubmitOne(client, own), kept);
}

}  // namespace
}  // namespace taskmill::testing
