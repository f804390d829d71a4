// A blocking caller serves the DEALER itself (Connection::Drive) instead of handing each
// request to the I/O thread: these tests hold what must not change with that. Replies,
// RESULT pushes and batch events reach whoever they belong to, whichever thread reads
// them; a caller waiting long on the socket never holds up another thread's requests; and
// what arrives while no caller is reading is still read (by the I/O thread).

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "connection.h"
#include "fake_broker.h"
#include "taskmill/client/client.h"

namespace taskmill::client {

// Reaches a Client's Connection, to see who serves the socket.
struct ClientTestPeer {
  static const Connection& Of(const Client& c) { return *c.connection_; }
};

namespace {

using testing::FakeBroker;
using testing::WaitUntil;
using Clock = std::chrono::steady_clock;

protocol::Event MakeEvent(const std::string& batch_id) {
  protocol::Event e;
  e.batch_id = batch_id;
  e.type = "batch_progress";
  return e;
}

// SUBMIT: ids "t<req_id>"; with `push` and notify, the RESULT follows the reply, and an
// EVENT of batch "b" follows every reply. WAIT/GET: succeeded tasks with output "asked".
FakeBroker::Handler Answer(bool push) {
  return [push](const protocol::Message& m) -> std::vector<protocol::Message> {
    protocol::Reply r = FakeBroker::Ok(FakeBroker::ReqIdOf(m));
    std::vector<protocol::Message> out;
    if (auto* s = std::get_if<protocol::Submit>(&m)) {
      r.ids.push_back("t" + std::to_string(s->req_id));
      out.push_back(r);
      if (push && s->notify) {
        protocol::TaskInfo t;
        t.id = r.ids[0];
        t.state = protocol::TaskState::kSucceeded;
        t.output = "pushed " + t.id;
        out.push_back(protocol::ResultMsg{t});
      }
      out.push_back(MakeEvent("b"));
      return out;
    }
    std::vector<std::string> ids;
    if (auto* w = std::get_if<protocol::Wait>(&m)) ids = w->ids;
    if (auto* g = std::get_if<protocol::Get>(&m)) ids = g->ids;
    for (const auto& id : ids) {
      protocol::TaskInfo t;
      t.id = id;
      t.state = protocol::TaskState::kSucceeded;
      t.output = "asked";
      r.tasks.push_back(t);
    }
    return {r};
  };
}

std::unique_ptr<Client> ConnectTo(const std::string& endpoint) {
  ClientOptions o;
  o.endpoint = endpoint;
  o.request_timeout_ms = 2000;
  auto c = Client::Connect(o);
  EXPECT_TRUE(c.has_value()) << c.error().ToString();
  return c ? std::move(*c) : nullptr;
}

protocol::TaskSpec Echo() {
  protocol::TaskSpec s;
  s.type = "echo";
  return s;
}

TEST(CallerDrivenTest, RepliesPushesAndEventsReachTheirOwnersWhoeverReadsThem) {
  FakeBroker fake(Answer(true));
  auto client = ConnectTo(fake.endpoint());
  std::atomic<int> events{0};
  auto sub = client->Subscribe("b", [&](const protocol::Event&) { ++events; });
  ASSERT_TRUE(sub) << sub.error().ToString();
  constexpr int kThreads = 4;
  constexpr int kRounds = 50;
  std::vector<std::future<std::string>> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.push_back(std::async(std::launch::async, [&]() -> std::string {
      for (int i = 0; i < kRounds; ++i) {
        auto id = client->Submit(Echo(), SubmitOptions{.notify = true});
        if (!id) return "submit: " + id.error().ToString();
        auto task = client->WaitResult(*id, 5000);
        if (!task) return "wait: " + task.error().ToString();
        if (task->id != *id || task->output != "pushed " + *id) {
          return "task " + *id + " got " + task->id + " / " + task->output;
        }
      }
      return "";
    }));
  }
  for (auto& t : threads) EXPECT_EQ(t.get(), "");
  // Every result came from its push: nobody had to ask the broker.
  for (const auto& m : fake.Requests()) {
    EXPECT_FALSE(std::holds_alternative<protocol::Wait>(m) ||
                 std::holds_alternative<protocol::Get>(m));
  }
  EXPECT_TRUE(WaitUntil([&] { return events.load() == kThreads * kRounds; }))
      << events.load() << " events";
}

TEST(CallerDrivenTest, ACallerWaitingLongForAPushDoesNotHoldUpOtherCallers) {
  FakeBroker fake(Answer(false));  // the push never comes: the waiter reads the socket long
  auto client = ConnectTo(fake.endpoint());
  // The I/O thread has read the handshake: it cannot take the socket from the waiter for it
  // (a busy machine may delay that read past the submit, and a waiter that yields once does
  // not come back to the socket).
  ASSERT_TRUE(WaitUntil([&] { return ClientTestPeer::Of(*client).handshakes() >= 1; }));
  auto id = client->Submit(Echo(), SubmitOptions{.notify = true});
  ASSERT_TRUE(id) << id.error().ToString();
  auto long_wait = std::async(std::launch::async, [&] { return client->WaitResult(*id, 4000); });
  // The waiter serves the socket before this thread asks anything (else this thread could
  // take the socket first, the waiter would leave it to the I/O thread, and nothing here
  // would be tested).
  ASSERT_TRUE(WaitUntil([&] { return ClientTestPeer::Of(*client).caller_driving(); }, 3000))
      << "the waiter never drove the socket";
  // Requests from this thread while the other one waits on the socket: each is answered
  // well within the wait (the waiter gives the socket back to the I/O thread).
  auto until = Clock::now() + std::chrono::milliseconds(500);
  int calls = 0;
  while (Clock::now() < until || calls < 3) {
    auto start = Clock::now();
    auto got = client->Get("x");
    ASSERT_TRUE(got) << got.error().ToString();
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
    ++calls;
  }
  ASSERT_EQ(long_wait.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "the long wait ended early";
  auto task = long_wait.get();
  ASSERT_TRUE(task) << task.error().ToString();
  EXPECT_EQ(task->output, "asked");  // read from the broker at its deadline
}

TEST(CallerDrivenTest, WhatArrivesWhileNoCallerReadsIsStillRead) {
  FakeBroker fake(Answer(false));
  auto client = ConnectTo(fake.endpoint());
  std::atomic<int> events{0};
  auto sub = client->Subscribe("late", [&](const protocol::Event&) { ++events; });
  ASSERT_TRUE(sub) << sub.error().ToString();
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(client->Get("x"));  // read by this thread, which then leaves the socket
    fake.Push({MakeEvent("late")});
    ASSERT_TRUE(WaitUntil([&] { return events.load() == i + 1; }, 3000)) << "push " << i;
  }
}

}  // namespace
}  // namespace taskmill::client
