// The runtime against a fake broker: registration, heartbeats, dispatch, concurrency,
// failures, cancel, timeouts, reconnect and drain.

#include <gtest/gtest.h>

#include <cstdlib>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "test_support.h"

namespace taskmill::worker::testing {
namespace {

using protocol::Done;
using protocol::Ready;

TEST(WorkerTest, ReadyCarriesIdQueuesTypesConcurrencyAndLabels) {
  FakeBroker broker;
  WorkerOptions o = TestOptions(broker, 3);
  o.id = "w-ready";
  o.queues = {"images", "default"};
  o.labels = {{"zone", "eu-1"}};
  RunningWorker w(o, [](Worker& wk) {
    wk.Handle("resize", [](TaskContext&) { return Outcome::Ok(); });
    wk.Handle("echo", [](TaskContext&) { return Outcome::Ok(); });
  });
  auto ready = broker.WaitFor<Ready>(5s);
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->worker_id, "w-ready");
  // A routing id of its own per link: the worker id, a dot and 128 random bits in hex.
  EXPECT_TRUE(broker.last_identity().starts_with("w-ready.")) << broker.last_identity();
  EXPECT_EQ(broker.last_identity().size(), std::string("w-ready.").size() + 32);
  EXPECT_EQ(ready->queues, (std::vector<std::string>{"images", "default"}));
  EXPECT_EQ(ready->types, (std::vector<std::string>{"echo", "resize"}));
  EXPECT_EQ(ready->concurrency, 3u);
  EXPECT_EQ(ready->labels.at("zone"), "eu-1");
}

TEST(WorkerTest, HeartbeatsFlowWithFreeSlots) {
  FakeBroker broker;
  RunningWorker w(TestOptions(broker, 4), [](Worker&) {});
  ASSERT_TRUE(broker.WaitFor<Ready>(5s));
  for (int i = 0; i < 3; ++i) {
    auto hb = broker.WaitFor<protocol::Heartbeat>(2s);
    ASSERT_TRUE(hb) << "heartbeat " << i;
    EXPECT_EQ(hb->free, 4u);
  }
}

TEST(WorkerTest, EchoReturnsPayloadTokenDurationAndWallCost) {
  FakeBroker broker;
  RunningWorker w(TestOptions(broker), [](Worker& wk) {
    wk.Handle("echo", [](TaskContext& ctx) { return Outcome::Ok(std::string(ctx.payload())); });
  });
  ASSERT_TRUE(broker.WaitFor<Ready>(5s));
  std::string payload("bytes\0with nul", 14);
  broker.Send(MakeTask("t1", "echo", payload, /*token=*/42));
  auto done = broker.WaitFor<Done>(5s);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->task_id, "t1");
  EXPECT_EQ(done->token, 42u);
  EXPECT_TRUE(done->ok);
  EXPECT_EQ(done->output, payload);
  EXPECT_FALSE(done->error);
  EXPECT_GT(done->started_ms, 0);
  EXPECT_TRUE(done->cost.contains("wall_ms"));
}

TEST(WorkerTest, AResultOverMaxOutputBytesIsSentAsANonRetryableFailure) {
  FakeBroker broker;
  WorkerOptions o = TestOptions(broker);
  o.max_output_bytes = 1024;
  RunningWorker w(o, [](Worker& wk) {
    wk.Handle("big", [](TaskContext&) {
      Outcome out = Outcome::Ok(std::string(1000, 'o'));
      out.stderr_data = std::string(100, 'e');
      out.exit_code = 0;
      return out;
    });
    wk.Handle("fits", [](TaskContext&) { return Outcome::Ok(std::string(1024, 'o')); });
  });
  ASSERT_TRUE(broker.WaitFor<Ready>(5s));
  broker.Send(MakeTask("t1", "big", "", 7));
  auto done = broker.WaitFor<Done>(5s);
  ASSERT_TRUE(done);
  EXPECT_FALSE(done->ok);
  ASSERT_TRUE(done->error);
  EXPECT_EQ(done->error->code, "output_too_large");
  EXPECT_FALSE(done->error->retryable);
  EXPECT_EQ(done->error->message,
            "the result is 1100 bytes (output 1000, stdout 0, stderr 100), over the worker's "
            "limit of 1024 (--max-output-bytes)");
  EXPECT_TRUE(done->output.empty() && done->stderr_data.empty());
  EXPECT_EQ(done->exit_code, 0);
  EXPECT_TRUE(done->cost.contains("wall_ms"));
  broker.Send(MakeTask("t2", "fits", "", 8));
  done = broker.WaitFor<Done>(5s);
  ASSERT_TRUE(done);
  EXPECT_TRUE(done->ok);
  EXPECT_EQ(done->output.size(), 1024u);
}

TEST(WorkerTest, ConcurrencyNRunsNTasksAtOnce) {
  FakeBroker broker;
  Gate gate;
  RunningWorker w(TestOptions(broker, 3), [&](Worker& wk) {
    wk.Handle("block", [&](TaskContext&) {
      gate.Arrive();
      return Outcome::Ok();
    });
  });
  ASSERT_TRUE(broker.WaitFor<Ready>(5s));
  for (int i = 0; i < 3; ++i) broker.Send(MakeTask("t" + std::to_string(i), "block"));
  // All three are inside the handler at the same time: none can leave before Open.
  ASSERT_TRUE(gate.WaitArrived(3, 5s));
  auto busy = broker.WaitFor<protocol::Heartbeat>(2s, [](auto& h) { return h.free == 0; });
  EXPECT_TRUE(busy) << "heartbeat should report no free slot while 3 of 3 run";
  gate.Open();
  std::set<std::string> done_ids;
  for (int i = 0; i < 3; ++i) {
    auto done = broker.WaitFor<Done>(5s);
    ASSERT_TRUE(done);
    EXPECT_TRUE(done->ok);
    done_ids.insert(done->task_id);
  }
  EXPECT_EQ(done_ids.size(), 3u);
  EXPECT_EQ(gate.max_inside(), 3);
}

TEST(WorkerTest, ConcurrencyOneRunsSequentiallyAndRefusesAnExtraTask) {
  FakeBroker broker;
  Gate gate;
  RunningWorker w(TestOptions(broker, 1), [&](Worker& wk) {
    wk.Handle("block", [&](TaskContext&) {
      gate.Arrive();
      return Outcome::Ok();
    });
  });
  ASSERT_TRUE(broker.WaitFor<Ready>(5s));
  broker.Send(MakeTask("a", "block"));
  ASSERT_TRUE(gate.WaitArrived(1, 5s));
  // A broker that oversends gets the extra task back as a retryable no_slot failure.
  broker.Send(MakeTask("b", "block"));
  auto refused = broker.WaitFor<Done>(5s);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->task_id, "b");
  EXPECT_FALSE(refused->ok);
  EXPECT_EQ(refused->error->code, "no_slot");
  EXPECT_TRUE(refused->error->retryable);
  gate.Open();
  auto a = broker.WaitFor<Done>(5s);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->task_id, "a");
  broker.Send(MakeTask("c", "block"));
  auto c = broker.WaitFor<Done>(5s);
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->ok);
  EXPECT_EQ(gate.max_inside(), 1);
  EXPECT_EQ(gate.arrived(), 2);  // a and c ran; b never did
}

// Like the Python and Node workers: no broker endpoint means $TASKMILL_WORKER_BROKER, and
// TASKMILL_BROKER (the clients' port) is never read.
TEST(WorkerTest, AnEmptyBrokerIsTakenFromTaskmillWorkerBroker) {
  FakeBroker broker;
  WorkerOptions options = TestOptions(broker);
  std::string endpoint = options.broker;
  options.broker.clear();
  setenv("TASKMILL_WORKER_BROKER", endpoint.c_str(), 1);
  setenv("TASKMILL_BROKER", "tcp://127.0.0.1:1", 1);
  {
    RunningWorker w(options, [](Worker&) {});
    EXPECT_EQ(w.worker().options().broker, endpoint);
    EXPECT_TRUE(broker.WaitFor<Ready>(5s)) << "the worker did not register at " << endpoint;
  }
  unsetenv("TASKMILL_WORKER_BROKER");
  Worker fallback(WorkerOptions{});
  EXPECT_EQ(fallback.options().broker, kDefaultWorkerEndpoint) << "TASKMILL_BROKER was read";
  unsetenv("TASKMILL_BROKER");
}

TEST(WorkerTest, UnknownTypeIsANonRetryableFailure) {
  FakeBroker broker;
  RunningWorker w(TestOptions(broker), [](Worker&) {});
  ASSERT_TRUE(broker.WaitFor<Ready>(5s));
  broker.Send(MakeTask("t1", "nope", "", 9));
  auto done = broker.WaitFor<Done>(5s);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->token, 9u);
  EXPECT_FALSE(done->ok);
  EXPECT_EQ(done->error->code, "unknown_type");
  EXPECT_FALSE(done->error->retryable);
}

TEST(WorkerTest, HandlerExceptionIsARetryableFailure) {
  FakeBroker broker;
  RunningWorker w(TestOptions(broker), [](Worker& wk) {
    wk.Handle("boom", [](TaskContext&) -> Outcome { throw std::runtime_error("kaboom"); });
  });
  ASSERT_TRUE(broker.WaitFor<Ready>(5s));
  broker.Send(MakeTask("t1", "boom"));
  auto done = broker.WaitFor<Done>(5s);
  ASSERT_TRUE(done);
  EXPECT_FALSE(done->ok);
  EXPECT_EQ(done->error->code, "handler_exception");
  EXPECT_EQ(done->error->message, "std::runtime_error: kaboom");
  EXPECT_TRUE(done->error->retryable);
  // The executor survived: the next task runs.
  broker.Send(MakeTask("t2", "boom"));
  EXPECT_TRUE(broker.WaitFor<Done>(5s));
}

// A quick handler runs on the I/O thread (not an executor slot) with the same reporting:
// output, wall_ms, progress, and a thrown exception as a retryable failure.
TEST(WorkerTest, AQuickHandlerRunsOnTheIoThreadAndReportsLikeAnyOther) {
  FakeBroker broker;
  std::mutex mu;
  std::set<std::thread::id> quick_threads, slot_threads;
  RunningWorker w(TestOptions(broker, 2), [&](Worker& wk) {
    wk.Handle("quick",
              [&](TaskContext& ctx) {
                if (ctx.payload() == "throw") throw std::runtime_error("quick boom");
                ctx.ReportProgress(0.5, "half");
                std::lock_guard lock(mu);
                quick_threads.insert(std::this_thread::get_id());
                return Outcome::Ok("q:" + std::string(ctx.payload()));
              },
              {.quick = true});
    wk.Handle("slow", [&](TaskContext&) {
      std::lock_guard lock(mu);
      slot_threads.insert(std::this_thread::get_id());
      return Outcome::Ok();
    });
  });
  ASSERT_TRUE(broker.WaitFor<Ready>(5s));
  for (int i = 0; i < 3; ++i) {
    broker.Send(MakeTask("q" + std::to_string(i), "quick", "x", /*token=*/7));
    auto progress = broker.WaitFor<protocol::Progress>(5s);
    ASSERT_TRUE(progress);
    EXPECT_DOUBLE_EQ(progress->fraction, 0.5);
    auto done = broker.WaitFor<Done>(5s);
    ASSERT_TRUE(done);
    EXPECT_TRUE(done->ok);
    EXPECT_EQ(done->output, "q:x");
    EXPECT_EQ(done->token, 7u);
    EXPECT_TRUE(done->cost.contains("wall_ms"));
  }
  broker.Send(MakeTask("s1", "slow"));
  ASSERT_TRUE(broker.WaitFor<Done>(5s));
  broker.Send(MakeTask("q-throw", "quick", "throw"));
  auto failed = broker.WaitFor<Done>(5s);
  ASSERT_TRUE(failed);
  EXPECT_FALSE(failed->ok);
  EXPECT_EQ(failed->error->code, "handler_exception");
  EXPECT_TRUE(failed->error->retryable);
  std::lock_guard lock(mu);
  ASSERT_EQ(quick_threads.size(), 1u);  // always the one I/O thread
  ASSERT_EQ(slot_threads.size(), 1u);
  EXPECT_NE(*quick_threads.begin(), *slot_threads.begin());
}

TEST(WorkerTest, ProgressAndCostsReachTheBroker) {
  FakeBroker broker;
  RunningWorker w(TestOptions(broker), [](Worker& wk) {
    wk.Handle("work", [](TaskContext& ctx) {
      ctx.ReportProgress(0.5, "half");
      ctx.AddCost("usd", 0.25);
      ctx.AddCost("usd", 0.5);
      return Outcome::Ok("r");
    });
  });
  ASSERT_TRUE(broker.WaitFor<Ready>(5s));
  broker.Send(MakeTask("t1", "work", "", 5));
  auto progress = broker.WaitFor<protocol::Progress>(5s);
  ASSERT_TRUE(progress);
  EXPECT_EQ(progress->task_id, "t1");
  EXPECT_EQ(progress->token, 5u);
  EXPECT_DOUBLE_EQ(progress->fraction, 0.5);
  EXPECT_EQ(progress->message, "half");
  auto done = broker.WaitFor<Done>(5s);
  ASSERT_TRUE(done);
  EXPECT_DOUBLE_EQ(done->cost.at("usd"), 0.75);
}

TEST(WorkerTest, CancelTaskSetsTheHandlersCancelFlag) {
  FakeBroker broker;
  RunningWorker w(TestOptions(broker), [](Worker& wk) {
    wk.Handle("wait", [](TaskContext& ctx) {
      if (ctx.WaitCancelled(30s)) return Outcome::Fail("stopped", "cancelled by request");
      return Outcome::Ok();
    });
  });
  ASSERT_TRUE(broker.WaitFor<Ready>(5s));
  broker.Send(MakeTask("t1", "wait", "", 3));
  broker.Send(protocol::CancelTask{"t1", 3, "user"});
  auto done = broker.WaitFor<Done>(5s);
  ASSERT_TRUE(done);
  EXPECT_FALSE(done->ok);
  EXPECT_EQ(done->error->code, "cancelled");
  EXPECT_FALSE(done->error->retryable);
  EXPECT_LT(done->duration_ms, 5000u);
}

TEST(WorkerTest, TaskTimeoutCancelsAndIsRetryable) {
  FakeBroker broker;
  RunningWorker w(TestOptions(broker), [](Worker& wk) {
    wk.Handle("wait", [](TaskContext& ctx) {
      if (ctx.WaitCancelled(30s)) return Outcome::Fail("stopped", "gave up");
      return Outcome::Ok();
    });
  });
  ASSERT_TRUE(broker.WaitFor<Ready>(5s));
  auto task = MakeTask("t1", "wait");
  task.timeout_ms = 100;
  broker.Send(task);
  auto done = broker.WaitFor<Done>(5s);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->error->code, "timeout");
  EXPECT_TRUE(done->error->retryable);
}

TEST(WorkerTest, ReconnectsAndSendsReadyAgainWhenTheBrokerGoesSilent) {
  FakeBroker broker;
  WorkerOptions o = TestOptions(broker);
  o.heartbeat_ms = 100;
  o.liveness = 4;  // 400 ms of silence
  Gate gate;
  RunningWorker w(o, [&](Worker& wk) {
    wk.Handle("block", [&](TaskContext&) {
      gate.Arrive();
      return Outcome::Ok("late");
    });
  });
  ASSERT_TRUE(broker.WaitFor<Ready>(5s));
  broker.Send(MakeTask("t1", "block"));
  ASSERT_TRUE(gate.WaitArrived(1, 5s));
  // The broker says nothing more: the worker must give up on the link and re-register.
  auto again = broker.WaitFor<Ready>(5s);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->worker_id, w.worker().id());
  // A task that finishes after the reconnect is still reported.
  gate.Open();
  auto done = broker.WaitFor<Done>(5s);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->task_id, "t1");
  EXPECT_EQ(done->output, "late");
}

TEST(WorkerTest, StaysOnTheLinkWhileTheBrokerHeartbeats) {
  FakeBroker broker;
  WorkerOptions o = TestOptions(broker);
  o.heartbeat_ms = 100;
  o.liveness = 5;
  RunningWorker w(o, [](Worker&) {});
  ASSERT_TRUE(broker.WaitFor<Ready>(5s));
  // Heartbeat the worker every 50 ms for ~4 liveness windows (whether or not its own came
  // in time: a loaded machine may hold either thread back); no second READY may come.
  auto until = std::chrono::steady_clock::now() + 2000ms;
  int readies = 0;
  int heard = 0;
  while (std::chrono::steady_clock::now() < until) {
    auto got = broker.Recv(50ms);
    if (got) ++heard;
    if (got && std::holds_alternative<Ready>(got->msg)) ++readies;
    broker.Send(protocol::BrokerHeartbeat{});
  }
  EXPECT_GT(heard, 0) << "the worker stopped heartbeating";
  EXPECT_EQ(readies, 0);
}

TEST(WorkerTest, DrainFinishesRunningTasksRefusesNewOnesThenSaysBye) {
  FakeBroker broker;
  Gate gate;
  RunningWorker w(TestOptions(broker, 2), [&](Worker& wk) {
    wk.Handle("block", [&](TaskContext&) {
      gate.Arrive();
      return Outcome::Ok("finished");
    });
  });
  ASSERT_TRUE(broker.WaitFor<Ready>(5s));
  broker.Send(MakeTask("t1", "block"));
  ASSERT_TRUE(gate.WaitArrived(1, 5s));
  broker.Send(protocol::Drain{10'000});
  broker.Send(MakeTask("t2", "block"));
  auto refused = broker.WaitFor<Done>(5s);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->task_id, "t2");
  EXPECT_EQ(refused->error->code, "draining");
  EXPECT_TRUE(refused->error->retryable);
  gate.Open();
  auto done = broker.WaitFor<Done>(5s);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->task_id, "t1");
  EXPECT_TRUE(done->ok);
  EXPECT_TRUE(broker.WaitFor<protocol::Bye>(5s));
  EXPECT_TRUE(w.WaitExit(5s));
  EXPECT_TRUE(w.result().has_value());
}

TEST(WorkerTest, DrainTimeoutReportsRunningTasksAsRetryable) {
  FakeBroker broker;
  RunningWorker w(TestOptions(broker), [](Worker& wk) {
    wk.Handle("wait", [](TaskContext& ctx) {
      ctx.WaitCancelled(30s);
      return Outcome::Fail("stopped", "interrupted");
    });
  });
  ASSERT_TRUE(broker.WaitFor<Ready>(5s));
  broker.Send(MakeTask("t1", "wait", "", 11));
  ASSERT_TRUE(broker.WaitFor<protocol::Heartbeat>(5s, [](auto& h) { return h.free == 1; }));
  w.worker().Drain(100);
  auto done = broker.WaitFor<Done>(5s);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->token, 11u);
  EXPECT_EQ(done->error->code, "drain_timeout");
  EXPECT_TRUE(done->error->retryable);
  EXPECT_TRUE(broker.WaitFor<protocol::Bye>(5s));
  ASSERT_TRUE(w.WaitExit(5s));
  // Exactly one DONE: the executor's own late report was dropped.
  int dones = 0;
  for (const auto& m : broker.history()) dones += std::holds_alternative<Done>(m);
  EXPECT_EQ(dones, 1);
}

TEST(WorkerTest, DrainDuringReconnectBackoffStillDeliversDoneAndBye) {
  FakeBroker broker;
  WorkerOptions o = TestOptions(broker);
  o.heartbeat_ms = 100;
  o.liveness = 4;  // 400 ms of silence ends the link
  o.reconnect = {.base_ms = 60'000, .max_ms = 60'000, .multiplier = 1.0, .jitter = false};
  o.linger_ms = 3000;
  Gate gate;
  RunningWorker w(o, [&](Worker& wk) {
    wk.Handle("block", [&](TaskContext&) {
      gate.Arrive();
      return Outcome::Ok("kept");
    });
  });
  ASSERT_TRUE(broker.WaitFor<Ready>(5s));
  broker.Send(MakeTask("t1", "block"));
  ASSERT_TRUE(gate.WaitArrived(1, 5s));
  // Heartbeats stop once the worker gives up on the link (and waits a minute to retry).
  while (broker.WaitFor<protocol::Heartbeat>(500ms)) {
  }
  w.worker().Drain(10'000);
  gate.Open();
  // The drain ends off-link: the worker links once more to hand over DONE and BYE.
  ASSERT_TRUE(broker.WaitFor<Ready>(5s));
  auto done = broker.WaitFor<Done>(5s);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->output, "kept");
  EXPECT_TRUE(broker.WaitFor<protocol::Bye>(5s));
  EXPECT_TRUE(w.WaitExit(5s));
}

TEST(WorkerTest, RejectsInvalidOptions) {
  WorkerOptions o;
  o.queues = {"bad queue"};
  Worker w(o);
  auto r = w.Run();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("queues"), std::string::npos);
}

}  // namespace
}  // namespace taskmill::worker::testing
