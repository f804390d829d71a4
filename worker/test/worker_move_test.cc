// A worker given several broker endpoints (issue 17): on MOVE, or when its broker's
// connection drops, it moves to the next endpoint at once, keeps running its tasks, says
// READY there with them in `running` and reports their DONEs there, including a DONE it
// had handed to the broker it left. Liveness is set long (5 s), so a move within it can
// only come from MOVE or the socket's disconnect.

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

#include "test_support.h"

namespace taskmill::worker::testing {
namespace {

using protocol::Done;
using protocol::Ready;

// Opens the gate when the test ends, even on a failed assertion, so the worker can stop.
struct OpenOnExit {
  Gate& gate;
  ~OpenOnExit() { gate.Open(); }
};

bool Lists(const Ready& ready, const std::string& task_id) {
  return std::find(ready.running.begin(), ready.running.end(), task_id) != ready.running.end();
}

// Two fake brokers; the worker starts at a random one of them.
struct Pair {
  std::unique_ptr<FakeBroker> a = std::make_unique<FakeBroker>();
  std::unique_ptr<FakeBroker> b = std::make_unique<FakeBroker>();
  std::string list() const { return a->endpoint() + "," + b->endpoint(); }
  // Waits for the first READY on either; returns the broker it reached (nullptr: none).
  FakeBroker* FirstReady(Ms timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (a->WaitFor<Ready>(20ms)) return a.get();
      if (b->WaitFor<Ready>(20ms)) return b.get();
    }
    return nullptr;
  }
  FakeBroker* Other(FakeBroker* one) { return one == a.get() ? b.get() : a.get(); }
};

TEST(WorkerMoveTest, MoveKeepsTheTaskRunningAndReattachesItOnTheNextBroker) {
  Pair brokers;
  Gate gate;
  WorkerOptions o = TestOptions(*brokers.a, 2);
  o.broker = brokers.list();
  RunningWorker w(o, [&](Worker& wk) {
    wk.Handle("block", [&](TaskContext&) {
      gate.Arrive();
      return Outcome::Ok("finished");
    });
  });
  OpenOnExit open_on_exit{gate};
  FakeBroker* first = brokers.FirstReady(5s);
  ASSERT_NE(first, nullptr);
  FakeBroker* next = brokers.Other(first);
  first->Send(MakeTask("t1", "block", "", 41));
  ASSERT_TRUE(gate.WaitArrived(1, 5s));
  first->Send(protocol::Move{"shutting down"});
  auto ready = next->WaitFor<Ready>(3s);
  ASSERT_TRUE(ready) << "no READY on the next broker after MOVE";
  EXPECT_TRUE(Lists(*ready, "t1")) << "READY must list the task still running";
  gate.Open();
  auto done = next->WaitFor<Done>(5s);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->task_id, "t1");
  EXPECT_EQ(done->token, 41u);
  EXPECT_TRUE(done->ok);
  EXPECT_FALSE(w.WaitExit(0ms)) << "a worker never stops because of MOVE";
}

TEST(WorkerMoveTest, ALostBrokerIsLeftAtOnceAndItsLastDoneIsSentAgain) {
  Pair brokers;
  WorkerOptions o = TestOptions(*brokers.a, 2);
  o.broker = brokers.list();
  RunningWorker w(o, [&](Worker& wk) {
    wk.Handle("echo", [&](TaskContext& ctx) { return Outcome::Ok(std::string(ctx.payload())); });
  });
  FakeBroker* first = brokers.FirstReady(5s);
  ASSERT_NE(first, nullptr);
  bool first_is_a = first == brokers.a.get();
  first->Send(MakeTask("t2", "echo", "out", 42));
  // The DONE reached the broker that is about to die, which will never record it.
  auto done = first->WaitFor<Done>(5s);
  ASSERT_TRUE(done);
  auto lost_at = std::chrono::steady_clock::now();
  (first_is_a ? brokers.a : brokers.b).reset();  // the process is gone: its port closes
  FakeBroker* next = first_is_a ? brokers.b.get() : brokers.a.get();
  auto ready = next->WaitFor<Ready>(4s);
  ASSERT_TRUE(ready) << "no READY on the next broker within 4 s (liveness is 5 s)";
  auto took = std::chrono::duration_cast<Ms>(std::chrono::steady_clock::now() - lost_at);
  EXPECT_LT(took.count(), 3000) << "moved " << took.count() << " ms after the loss";
  EXPECT_TRUE(Lists(*ready, "t2")) << "its DONE is still to be sent: READY lists it";
  auto again = next->WaitFor<Done>(3s);
  ASSERT_TRUE(again) << "the DONE handed to the lost broker was not sent again";
  EXPECT_EQ(again->task_id, "t2");
  EXPECT_EQ(again->token, 42u);
  std::printf("worker move after a broker loss (fake brokers): %lld ms\n",
              static_cast<long long>(took.count()));
}

TEST(WorkerMoveTest, SingleEndpointMoveReconnectsToItWithTheTask) {
  FakeBroker broker;
  Gate gate;
  RunningWorker w(TestOptions(broker, 2), [&](Worker& wk) {
    wk.Handle("block", [&](TaskContext&) {
      gate.Arrive();
      return Outcome::Ok();
    });
  });
  OpenOnExit open_on_exit{gate};
  ASSERT_TRUE(broker.WaitFor<Ready>(5s));
  broker.Send(MakeTask("t3", "block", "", 43));
  ASSERT_TRUE(gate.WaitArrived(1, 5s));
  broker.Send(protocol::Move{});
  auto ready = broker.WaitFor<Ready>(3s);
  ASSERT_TRUE(ready) << "no new READY after MOVE";
  EXPECT_TRUE(Lists(*ready, "t3"));
  gate.Open();
  auto done = broker.WaitFor<Done>(5s);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->token, 43u);
}

TEST(WorkerMoveTest, BadEndpointListIsRefused) {
  FakeBroker unused;
  WorkerOptions o = TestOptions(unused, 1);
  o.id = "w-list";
  ASSERT_TRUE(ValidateOptions(o)) << "the test's other options must be valid";
  o.broker = "tcp://127.0.0.1:1,,tcp://127.0.0.1:2";
  auto v = ValidateOptions(o);
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message.find("broker:"), std::string::npos) << v.error().message;
  o.broker = "tcp://127.0.0.1:1, tcp://127.0.0.1:2";
  auto ok = ValidateOptions(o);
  EXPECT_TRUE(ok) << ok.error().message;
}

}  // namespace
}  // namespace taskmill::worker::testing
