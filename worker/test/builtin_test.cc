// echo, sleep and fail, called directly (no sockets, no processes).

#include <gtest/gtest.h>

#include <poll.h>

#include <filesystem>
#include <iterator>
#include <memory>
#include <thread>
#include <vector>

#include "taskmill/worker/builtins.h"
#include "test_support.h"

namespace taskmill::worker::testing {
namespace {

Outcome Call(Outcome (*handler)(TaskContext&), const protocol::TaskMsg& task,
             CancelSignal& cancel) {
  TaskContext ctx(task, cancel);
  return handler(ctx);
}

TEST(BuiltinTest, EchoReturnsThePayload) {
  CancelSignal cancel;
  auto task = MakeTask("t", "echo", std::string("\x00\x01xyz", 5));
  Outcome o = Call(RunEcho, task, cancel);
  EXPECT_TRUE(o.ok);
  EXPECT_EQ(o.output, task.payload);
}

TEST(BuiltinTest, FailFailsAttemptsOneToKThenSucceeds) {
  CancelSignal cancel;
  std::string payload = PackMap({{"fail_attempts", uint64_t{2}}, {"retryable", true}});
  for (uint32_t attempt = 1; attempt <= 3; ++attempt) {
    auto task = MakeTask("t", "fail", payload, 1, attempt);
    Outcome o = Call(RunFail, task, cancel);
    if (attempt <= 2) {
      ASSERT_FALSE(o.ok) << "attempt " << attempt;
      EXPECT_EQ(o.error->code, "injected_failure");
      EXPECT_TRUE(o.error->retryable);
    } else {
      EXPECT_TRUE(o.ok) << "attempt " << attempt;
    }
  }
}

TEST(BuiltinTest, FailCanBeNonRetryableAndTakesJson) {
  CancelSignal cancel;
  auto task = MakeTask("t", "fail", R"({"fail_attempts": 1, "retryable": false})");
  Outcome o = Call(RunFail, task, cancel);
  ASSERT_FALSE(o.ok);
  EXPECT_FALSE(o.error->retryable);
}

TEST(BuiltinTest, SleepReturnsAtOnceWhenCancelled) {
  CancelSignal cancel;
  cancel.Cancel(CancelReason::kCancelled);
  auto task = MakeTask("t", "sleep", PackMap({{"ms", uint64_t{60'000}}}));
  auto start = std::chrono::steady_clock::now();
  Outcome o = Call(RunSleep, task, cancel);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  ASSERT_FALSE(o.ok);
  EXPECT_EQ(o.error->code, "cancelled");
}

TEST(BuiltinTest, SleepWakesOnACancelFromAnotherThread) {
  CancelSignal cancel;
  auto task = MakeTask("t", "sleep", PackMap({{"ms", uint64_t{60'000}}}));
  std::thread canceller([&] { cancel.Cancel(CancelReason::kCancelled); });
  Outcome o = Call(RunSleep, task, cancel);
  canceller.join();
  EXPECT_FALSE(o.ok);
}

TEST(BuiltinTest, SleepWithZeroMsSucceedsAndBadPayloadFails) {
  CancelSignal cancel;
  EXPECT_TRUE(Call(RunSleep, MakeTask("t", "sleep", PackMap({{"ms", uint64_t{0}}})), cancel).ok);
  Outcome bad = Call(RunSleep, MakeTask("t", "sleep", PackMap({{"ms", true}})), cancel);
  ASSERT_FALSE(bad.ok);
  EXPECT_EQ(bad.error->code, "bad_payload");
  EXPECT_FALSE(bad.error->retryable);
}

TEST(BuiltinTest, CancelSignalKeepsTheFirstReason) {
  CancelSignal cancel;
  EXPECT_FALSE(cancel.cancelled());
  EXPECT_FALSE(cancel.WaitFor(0ms));
  cancel.Cancel(CancelReason::kTimeout);
  cancel.Cancel(CancelReason::kCancelled);
  EXPECT_EQ(cancel.reason(), CancelReason::kTimeout);
  EXPECT_TRUE(cancel.WaitFor(10s));
}

bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

size_t OpenFds() {
  return static_cast<size_t>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                                           std::filesystem::directory_iterator{}));
}

// A quick attempt never polls its signal: making its eventfd up front cost two system calls
// per task, so it is made on the first fd().
TEST(BuiltinTest, CancelSignalMakesItsEventfdOnlyWhenAsked) {
  size_t before = OpenFds();
  {
    std::vector<std::unique_ptr<CancelSignal>> signals;
    for (int i = 0; i < 32; ++i) signals.push_back(std::make_unique<CancelSignal>());
    signals[0]->Cancel(CancelReason::kCancelled);
    EXPECT_EQ(OpenFds(), before);
    int fd = signals[1]->fd();
    ASSERT_GE(fd, 0);
    EXPECT_EQ(signals[1]->fd(), fd);  // made once
    EXPECT_EQ(OpenFds(), before + 1);
  }
  EXPECT_EQ(OpenFds(), before);  // closed with its signal
}

TEST(BuiltinTest, CancelSignalFdIsReadableOnceCancelledWhicheverCameFirst) {
  CancelSignal asked_first;
  int fd = asked_first.fd();
  ASSERT_GE(fd, 0);
  EXPECT_FALSE(Readable(fd));
  asked_first.Cancel(CancelReason::kTimeout);
  EXPECT_TRUE(Readable(fd));

  CancelSignal cancelled_first;
  cancelled_first.Cancel(CancelReason::kDraining);
  ASSERT_GE(cancelled_first.fd(), 0);
  EXPECT_TRUE(Readable(cancelled_first.fd()));
  EXPECT_TRUE(cancelled_first.WaitFor(10s));
}

TEST(BuiltinTest, ProgressIsThrottledExceptTheFinalReport) {
  CancelSignal cancel;
  auto task = MakeTask("t", "x");
  std::vector<double> sent;
  TaskContext ctx(task, cancel, [&](double f, std::string_view) { sent.push_back(f); });
  ctx.ReportProgress(0.1);
  ctx.ReportProgress(0.2);  // within 50 ms of the first: dropped
  ctx.ReportProgress(1.0);  // final: always sent
  EXPECT_EQ(sent, (std::vector<double>{0.1, 1.0}));
}

// The throttle keeps the latest report it held back: the handler's last word is sent when it
// returns (FlushProgress), never lost; once sent, nothing more is held.
TEST(BuiltinTest, ProgressHeldBackByTheThrottleIsFlushedAtTheEnd) {
  CancelSignal cancel;
  auto task = MakeTask("t", "x");
  std::vector<std::string> sent;
  TaskContext ctx(task, cancel, [&](double f, std::string_view m) {
    sent.push_back(std::to_string(f).substr(0, 4) + ":" + std::string(m));
  });
  ctx.ReportProgress(0.1, "a");
  ctx.ReportProgress(0.2, "b");  // held
  ctx.ReportProgress(0.3, "c");  // replaces b
  ctx.FlushProgress();
  ctx.FlushProgress();  // nothing held any more
  EXPECT_EQ(sent, (std::vector<std::string>{"0.10:a", "0.30:c"}));
  std::string message(600, 'x');
  ctx.ReportProgress(1.0, message);
  EXPECT_EQ(sent.back().size(), 5u + 512u) << "the message is cut to 512 bytes";
}

}  // namespace
}  // namespace taskmill::worker::testing
