#include "http/reactor_inbox.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

namespace taskmill::broker {
namespace {

// True once the inbox's eventfd is readable (a job was posted), within 5 s.
bool Woken(const ReactorInbox& inbox) {
  pollfd p{inbox.fd(), POLLIN, 0};
  return poll(&p, 1, 5000) == 1;
}

TEST(ReactorInboxTest, JobsRunOnTheReactorInOrderAfterAWake) {
  ReactorInbox inbox;
  ASSERT_GE(inbox.fd(), 0);
  std::vector<int> ran;
  ASSERT_TRUE(inbox.Post([&](bool run) { ran.push_back(run ? 1 : -1); }));
  ASSERT_TRUE(inbox.Post([&](bool run) { ran.push_back(run ? 2 : -2); }));
  EXPECT_TRUE(Woken(inbox));
  inbox.RunPending();
  EXPECT_EQ(ran, (std::vector<int>{1, 2}));
  inbox.RunPending();  // nothing new: nothing runs again
  EXPECT_EQ(ran.size(), 2u);
}

TEST(ReactorInboxTest, ACallGetsTheAnswerItsJobGivesLater) {
  ReactorInbox inbox;
  std::function<void(Result<int>)> later;  // the "store callback", answered on this thread
  auto call = std::async(std::launch::async, [&] {
    return inbox.Call<int>([&](std::function<void(Result<int>)> done) { later = std::move(done); },
                           10000);
  });
  ASSERT_TRUE(Woken(inbox));
  inbox.RunPending();
  ASSERT_TRUE(later);
  later(42);
  auto r = call.get();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, 42);
}

TEST(ReactorInboxTest, ACallTimesOutWhenTheReactorNeverAnswers) {
  ReactorInbox inbox;
  auto r = inbox.Call<int>([](std::function<void(Result<int>)>) {}, 50);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
  inbox.RunPending();  // the late job still runs; its answer goes nowhere, harmlessly
}

TEST(ReactorInboxTest, CloseAnswersWaitingCallsAndRefusesNewOnes) {
  ReactorInbox inbox;
  std::atomic<bool> started{false};
  auto call = std::async(std::launch::async, [&] {
    return inbox.Call<int>([&](std::function<void(Result<int>)>) { started = true; }, 10000);
  });
  ASSERT_TRUE(Woken(inbox));
  inbox.Close();  // before the job ran: it is told so, and never starts
  auto r = call.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kBrokerUnavailable);
  EXPECT_FALSE(started);
  EXPECT_FALSE(inbox.Post([](bool) {}));
  auto after = inbox.Call<int>([](std::function<void(Result<int>)> done) { done(1); }, 10000);
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, ErrorCode::kBrokerUnavailable);
}

TEST(ReactorInboxTest, AFullInboxRefuses) {
  ReactorInbox inbox;
  for (size_t i = 0; i < ReactorInbox::kMaxPending; ++i) {
    ASSERT_TRUE(inbox.Post([](bool) {}));
  }
  EXPECT_FALSE(inbox.Post([](bool) {}));
  inbox.RunPending();
  EXPECT_TRUE(inbox.Post([](bool) {}));
}

}  // namespace
}  // namespace taskmill::broker
