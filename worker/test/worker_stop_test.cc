// Timeouts and cancels hold whatever the handler does: a handler that returns after its
// stop is reported by the stop (output dropped), and one that ignores its stop past
// cancel_grace_ms is reported without it while its slot is counted lost.

#include <gtest/gtest.h>

#include <atomic>

#include "test_support.h"

namespace taskmill::worker::testing {
namespace {

using protocol::Done;
using protocol::Ready;

// Waits for its cancel signal, then succeeds anyway: the stop must still win.
Outcome SucceedOnceStopped(TaskContext& ctx) {
  ctx.WaitCancelled(30s);
  return Outcome::Ok("late output");
}

TEST(WorkerStopTest, ASuccessAfterTheTimeoutIsRecordedAsATimeoutWithoutOutput) {
  FakeBroker broker;
  RunningWorker w(TestOptions(broker),
                  [](Worker& wk) { wk.Handle("stubborn", SucceedOnceStopped); });
  ASSERT_TRUE(broker.WaitFor<Ready>(5s));
  auto task = MakeTask("t1", "stubborn");
  task.timeout_ms = 100;
  broker.Send(task);
  auto done = broker.WaitFor<Done>(5s);
  ASSERT_TRUE(done);
  EXPECT_FALSE(done->ok);
  ASSERT_TRUE(done->error);
  EXPECT_EQ(done->error->code, "timeout");
  EXPECT_TRUE(done->error->retryable);
  EXPECT_TRUE(done->output.empty());
}

TEST(WorkerStopTest, ASuccessAfterACancelIsRecordedAsCancelledWithoutOutput) {
  FakeBroker broker;
  RunningWorker w(TestOptions(broker),
                  [](Worker& wk) { wk.Handle("stubborn", SucceedOnceStopped); });
  ASSERT_TRUE(broker.WaitFor<Ready>(5s));
  broker.Send(MakeTask("t1", "stubborn", "", 3));
  broker.Send(protocol::CancelTask{"t1", 3, "user"});
  auto done = broker.WaitFor<Done>(5s);
  ASSERT_TRUE(done);
  EXPECT_FALSE(done->ok);
  ASSERT_TRUE(done->error);
  EXPECT_EQ(done->error->code, "cancelled");
  EXPECT_FALSE(done->error->retryable);
  EXPECT_TRUE(done->output.empty());
}

// The handler never looks at its signal and stays blocked: past the grace the attempt is
// reported as a timeout while the handler still runs, heartbeats offer one slot fewer, and
// once the handler returns its late result is dropped and the slot comes back.
TEST(WorkerStopTest, AHandlerIgnoringItsTimeoutPastTheGraceIsReportedAndItsSlotLost) {
  FakeBroker broker;
  Gate gate;
  std::atomic<bool> returned{false};
  WorkerOptions o = TestOptions(broker, 2);
  o.cancel_grace_ms = 100;
  RunningWorker w(o, [&](Worker& wk) {
    wk.Handle("deaf", [&](TaskContext&) {
      gate.Arrive();
      returned = true;
      return Outcome::Ok("too late");
    });
  });
  ASSERT_TRUE(broker.WaitFor<Ready>(5s));
  auto task = MakeTask("t1", "deaf");
  task.timeout_ms = 100;
  broker.Send(task);
  ASSERT_TRUE(gate.WaitArrived(1, 5s));
  auto done = broker.WaitFor<Done>(5s);
  bool reported_while_running = done.has_value() && !returned;
  auto hb = broker.WaitFor<protocol::Heartbeat>(2s);
  gate.Open();  // before any ASSERT: the worker's destructor joins the handler's thread
  ASSERT_TRUE(reported_while_running) << "no DONE while the handler ignored its timeout";
  EXPECT_FALSE(done->ok);
  EXPECT_EQ(done->error->code, "timeout");
  EXPECT_NE(done->error->message.find("lost its slot"), std::string::npos)
      << done->error->message;
  EXPECT_TRUE(done->output.empty());
  ASSERT_TRUE(hb);
  EXPECT_EQ(hb->free, 1u);  // the stuck handler's slot is not offered
  // Once the handler returns, the slot is offered again and its result never sent.
  EXPECT_TRUE(broker.WaitFor<protocol::Heartbeat>(5s, [](const protocol::Heartbeat& h) {
    return h.free == 2;
  }));
  for (const auto& msg : broker.history()) {
    if (auto* d = std::get_if<Done>(&msg)) {
      EXPECT_FALSE(d->ok) << "late result was sent";
    }
  }
}

TEST(WorkerStopTest, AHandlerIgnoringACancelPastTheGraceIsReportedCancelled) {
  FakeBroker broker;
  Gate gate;
  WorkerOptions o = TestOptions(broker, 1);
  o.cancel_grace_ms = 100;
  RunningWorker w(o, [&](Worker& wk) {
    wk.Handle("deaf", [&](TaskContext&) {
      gate.Arrive();
      return Outcome::Ok();
    });
  });
  ASSERT_TRUE(broker.WaitFor<Ready>(5s));
  broker.Send(MakeTask("t1", "deaf", "", 4));
  ASSERT_TRUE(gate.WaitArrived(1, 5s));
  broker.Send(protocol::CancelTask{"t1", 4, "user"});
  auto done = broker.WaitFor<Done>(5s);
  // A new task meanwhile finds no slot: the only one is lost.
  broker.Send(MakeTask("t2", "deaf", "", 5));
  auto refused = broker.WaitFor<Done>(5s);
  gate.Open();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->task_id, "t1");
  EXPECT_EQ(done->error->code, "cancelled");
  EXPECT_FALSE(done->error->retryable);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->task_id, "t2");
  EXPECT_EQ(refused->error->code, "no_slot");
}

}  // namespace
}  // namespace taskmill::worker::testing
