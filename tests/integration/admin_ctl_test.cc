// Queue pause/resume and worker quiet/unquiet end to end (issue 22): two brokers on one Redis,
// real worker processes, the changes made through the CLI (`taskmill queue pause|resume`,
// `taskmill worker quiet|unquiet`). A probe task on another queue proves a worker is alive and
// claiming while a paused queue's task is left alone; a worker's running task is held open by
// a gate file, so "quiet while busy" is a state, not a race.

#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

#include "flow_helpers.h"
#include "support/brokers_fixture.h"

namespace taskmill::testing {
namespace {

class AdminCtlTest : public BrokersOnOneRedis {
 protected:
  static constexpr uint32_t kHeartbeatMs = 200;
  static constexpr uint32_t kLiveness = 5;

  AdminCtlTest()
      : BrokersOnOneRedis({.name = "ctl",
                           .prefix = "tmc",
                           .brokers = {"A", "B"},
                           .launch = {.heartbeat_ms = kHeartbeatMs,
                                      .liveness = kLiveness,
                                      .lease_ms = 10000}}) {}

  protocol::QueueStats QueueOf(WireClient& c, const std::string& queue) {
    protocol::Stats s;
    s.queues = {queue};
    s.sections = {"queues"};
    auto r = c.Call(s);
    if (!r || r->error || r->queues.empty()) return {};
    return r->queues[0];
  }
  std::optional<protocol::WorkerInfo> WorkerOf(WireClient& c, const std::string& id) {
    protocol::Stats s;
    s.sections = {"workers"};
    auto r = c.Call(s);
    if (!r || r->error) return std::nullopt;
    for (auto& w : r->workers) {
      if (w.id == id) return w;
    }
    return std::nullopt;
  }
  // Polls `pred` until it holds or `timeout_ms` passes (a condition with a deadline).
  static bool WaitFor(const std::function<bool()>& pred, int64_t timeout_ms = 15000) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < until) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return pred();
  }
  // An exec task that runs until the file `gate` exists.
  protocol::TaskSpec Gated(const std::string& gate, const std::string& queue) {
    return Spec("exec",
                R"({"argv": ["sh", "-c", "while [ ! -f )" + gate + R"( ]; do sleep 0.02; done"]})",
                queue);
  }
  // Submits a task to `queue` and waits for it to succeed: proof its worker claims.
  void Probe(WireClient& c, const std::string& queue) {
    auto id = SubmitOne(c, Spec("echo", R"("probe")", queue));
    auto done = WaitAll(c, {id}, 15000);
    ASSERT_EQ(done.size(), 1u);
    ASSERT_EQ(done[0].state, protocol::TaskState::kSucceeded) << "the probe did not run";
  }
};

// Paused through broker A; the worker is on broker B and serves the paused queue and a probe
// queue: probes run (it claims), the paused task stays queued; resumed, it runs.
TEST_F(AdminCtlTest, APausedQueueRunsNothingOnAnyBrokerUntilResumed) {
  auto [code, out] = Cli("A", {"queue", "pause", "held"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("queue held: paused"), std::string::npos) << out;
  StartWorker("B", "wb", 2, "held,probe");
  WireClient a(endpoints_.at("A").frontend);
  WireClient b(endpoints_.at("B").frontend);
  std::string held = SubmitOne(a, Spec("echo", R"("held")", "held"));
  ASSERT_FALSE(held.empty()) << "submits to a paused queue still work";
  for (int i = 0; i < 3; ++i) Probe(b, "probe");
  EXPECT_EQ(GetOne(a, held).state, protocol::TaskState::kQueued);
  EXPECT_TRUE(QueueOf(a, "held").paused);
  EXPECT_TRUE(QueueOf(b, "held").paused) << "one state for every broker on the Redis";
  EXPECT_EQ(QueueOf(b, "held").ready, 1u);
  auto [json_code, json_out] = Cli("B", {"--json", "stats", "--queue", "held"});
  ASSERT_EQ(json_code, 0) << json_out;
  EXPECT_NE(json_out.find("\"paused\": true"), std::string::npos) << json_out;

  int64_t resumed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  auto [rcode, rout] = Cli("A", {"queue", "resume", "held"});
  ASSERT_EQ(rcode, 0) << rout;
  EXPECT_NE(rout.find("queue held: resumed"), std::string::npos) << rout;
  auto done = WaitAll(a, {held}, 10000);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].state, protocol::TaskState::kSucceeded);
  // A figure, not an assert: the bus wakes B's worker at once (else B's 200 ms idle tick).
  std::cout << "RESUME_TO_START_MS other_broker=" << done[0].started_ms - resumed_ms << std::endl;
  EXPECT_FALSE(QueueOf(a, "held").paused);
}

TEST_F(AdminCtlTest, PauseOutlivesTheBrokerThatSetItAndBadRequestsAreRefused) {
  auto [code, out] = Cli("A", {"queue", "pause", "kept"});
  ASSERT_EQ(code, 0) << out;
  brokers_.at("A").Kill9();
  StartBroker("C");
  StartWorker("C", "wc", 1, "kept,probe");
  WireClient c(endpoints_.at("C").frontend);
  std::string id = SubmitOne(c, Spec("echo", R"("kept")", "kept"));
  Probe(c, "probe");
  EXPECT_EQ(GetOne(c, id).state, protocol::TaskState::kQueued);
  EXPECT_TRUE(QueueOf(c, "kept").paused);
  // A bad queue name is refused by the broker, naming the rule.
  auto [bad_code, bad_out] = Cli("C", {"queue", "pause", "no spaces"});
  EXPECT_EQ(bad_code, 2) << bad_out;
  EXPECT_NE(bad_out.find("only letters, digits"), std::string::npos) << bad_out;
  auto raw = c.Call(protocol::WorkerAdmin{0, protocol::WorkerOp::kQuiet, "bad/id"});
  ASSERT_TRUE(raw.has_value());
  ASSERT_TRUE(raw->error.has_value());
  EXPECT_EQ(raw->error->code, "invalid_argument");
  auto [rcode, rout] = Cli("B", {"queue", "resume", "kept"});
  ASSERT_EQ(rcode, 0) << rout;
  auto done = WaitAll(c, {id}, 10000);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].state, protocol::TaskState::kSucceeded);
}

// Quieted through broker A while it runs a task on broker B: the task still succeeds on it, a
// new task goes to another worker although the quiet one has a free slot; unquieted, it takes
// work again.
TEST_F(AdminCtlTest, AQuietWorkerFinishesItsTaskAndTakesNothingNewUntilUnquieted) {
  StartWorker("B", "wq", 2, "work");
  StartWorker("B", "wp", 1, "probe");
  WireClient a(endpoints_.at("A").frontend);
  std::string gate = dir_ + "/gate";
  std::string long_task = SubmitOne(a, Gated(gate, "work"));
  ASSERT_TRUE(WaitFor([&] { return GetOne(a, long_task).state == protocol::TaskState::kRunning; }))
      << "the long task never started";
  // Broker A learns of wq from the registry (refreshed every second).
  ASSERT_TRUE(WaitFor([&] { return WorkerOf(a, "wq").has_value(); }));
  auto [code, out] = Cli("A", {"worker", "quiet", "wq"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("worker wq: quiet (on broker B)"), std::string::npos) << out;

  // Submitted through A, so B's workers claim it at B's idle tick: the probe that follows,
  // run by wp on B, proves such a tick came, at which wq (a free slot) would have taken it.
  std::string next = SubmitOne(a, Spec("echo", R"("next")", "work"));
  Probe(a, "probe");
  EXPECT_EQ(GetOne(a, next).state, protocol::TaskState::kQueued) << "the quiet worker took it";
  StartWorker("A", "wo", 1, "work");
  auto done = WaitAll(a, {next}, 15000);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].state, protocol::TaskState::kSucceeded);
  EXPECT_EQ(done[0].worker, "wo") << "the quiet worker took a new task";
  ASSERT_TRUE(WaitFor([&] {
    auto w = WorkerOf(a, "wq");
    return w && w->quiet;
  })) << "STATS through the other broker shows it quiet";

  // Its running task is still its own and succeeds.
  std::ofstream(gate) << "go";
  auto first = WaitAll(a, {long_task}, 15000);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].state, protocol::TaskState::kSucceeded);
  EXPECT_EQ(first[0].worker, "wq");

  workers_.at("wo").Kill9();
  auto [ucode, uout] = Cli("B", {"worker", "unquiet", "wq"});
  ASSERT_EQ(ucode, 0) << uout;
  std::string again = SubmitOne(a, Spec("echo", R"("again")", "work"));
  auto last = WaitAll(a, {again}, 15000);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].state, protocol::TaskState::kSucceeded);
  EXPECT_EQ(last[0].worker, "wq");

  // A worker no live broker knows.
  auto [ncode, nout] = Cli("A", {"worker", "quiet", "nobody"});
  EXPECT_EQ(ncode, 1) << nout;
  EXPECT_NE(nout.find("no live broker knows worker 'nobody'"), std::string::npos) << nout;
}

// A quiet worker that reconnects (here: restarts under the same id, on the other broker)
// stays quiet: the record is Redis's, read when it registers.
TEST_F(AdminCtlTest, AQuietWorkerStaysQuietWhenItComesBackThroughAnotherBroker) {
  StartWorker("A", "wr", 1, "work,probe");
  WireClient a(endpoints_.at("A").frontend);
  Probe(a, "probe");
  auto [code, out] = Cli("A", {"worker", "quiet", "wr"});
  ASSERT_EQ(code, 0) << out;
  workers_.at("wr").Kill9();
  workers_.erase("wr");
  // The task waits before the worker comes back: a worker that registers is leased nothing
  // until its quiet record has been read.
  WireClient b(endpoints_.at("B").frontend);
  std::string id = SubmitOne(b, Spec("echo", R"("x")", "work"));
  StartWorker("B", "wr", 1, "work,probe");
  StartWorker("B", "probe-only", 1, "probe");
  ASSERT_TRUE(WaitFor([&] {
    auto w = WorkerOf(b, "wr");
    return w && w->quiet && w->broker == "B";
  })) << "wr never showed up quiet on broker B";
  for (int i = 0; i < 3; ++i) Probe(b, "probe");
  EXPECT_EQ(GetOne(b, id).state, protocol::TaskState::kQueued);
  auto [ucode, uout] = Cli("A", {"worker", "unquiet", "wr"});
  ASSERT_EQ(ucode, 0) << uout;
  auto done = WaitAll(b, {id}, 15000);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].worker, "wr");
}

}  // namespace
}  // namespace taskmill::testing
