// RESULT pushes (protocol 8.10) in the client: a task submitted with notify gets its result
// from the push without another request; results that arrive early are kept (bounded); a
// push that cannot come (dropped, or sent to a connection since re-established) falls back
// to WAIT/GET so no result is missed; `taskmill submit --wait` is one request.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "cli_runner.h"
#include "fake_broker.h"
#include "taskmill/client/client.h"

namespace taskmill::client {
namespace {

using testing::FakeBroker;
using testing::WaitUntil;
using Clock = std::chrono::steady_clock;

protocol::TaskSpec Echo() {
  protocol::TaskSpec s;
  s.type = "echo";
  s.payload = "hi";
  return s;
}

protocol::TaskInfo Done(const std::string& id, const std::string& output = "out") {
  protocol::TaskInfo t;
  t.id = id;
  t.state = protocol::TaskState::kSucceeded;
  t.output = output;
  return t;
}

std::string IdOf(uint64_t req_id, size_t i) {
  return "t" + std::to_string(req_id) + "-" + std::to_string(i);
}

// Answers SUBMIT with ids "t<req_id>-<i>" and, when `push` and the SUBMIT asked for
// notify, pushes each task's RESULT right after the reply; WAIT and GET with succeeded
// tasks ("asked" as output, so a test can tell a pushed result from an asked one).
FakeBroker::Handler Answer(bool push) {
  return [push](const protocol::Message& m) -> std::vector<protocol::Message> {
    protocol::Reply r = FakeBroker::Ok(FakeBroker::ReqIdOf(m));
    std::vector<protocol::Message> out;
    if (auto* s = std::get_if<protocol::Submit>(&m)) {
      for (size_t i = 0; i < s->tasks.size(); ++i) r.ids.push_back(IdOf(s->req_id, i));
      out.push_back(r);
      if (push && s->notify) {
        for (const auto& id : r.ids) out.push_back(protocol::ResultMsg{Done(id)});
      }
      return out;
    }
    std::vector<std::string> ids;
    if (auto* w = std::get_if<protocol::Wait>(&m)) ids = w->ids;
    if (auto* g = std::get_if<protocol::Get>(&m)) ids = g->ids;
    for (const auto& id : ids) r.tasks.push_back(Done(id, "asked"));
    return {r};
  };
}

std::unique_ptr<Client> ConnectTo(const std::string& endpoint, size_t max_kept = 100'000) {
  ClientOptions o;
  o.endpoint = endpoint;
  o.request_timeout_ms = 2000;
  o.max_kept_results = max_kept;
  auto c = Client::Connect(o);
  EXPECT_TRUE(c.has_value()) << c.error().ToString();
  return c ? std::move(*c) : nullptr;
}

size_t CountOf(FakeBroker& fake, protocol::Command command) {
  size_t n = 0;
  for (const auto& m : fake.Requests()) n += protocol::CommandOf(m) == command ? 1 : 0;
  return n;
}

TEST(ResultPushTest, ANotifiedTaskGetsItsResultFromThePushWithoutAnotherRequest) {
  FakeBroker fake(Answer(true));
  auto client = ConnectTo(fake.endpoint());
  auto id = client->Submit(Echo(), SubmitOptions{.notify = true});
  ASSERT_TRUE(id) << id.error().ToString();
  auto task = client->WaitResult(*id, 5000);
  ASSERT_TRUE(task) << task.error().ToString();
  EXPECT_EQ(task->id, *id);
  EXPECT_EQ(task->state, protocol::TaskState::kSucceeded);
  EXPECT_EQ(task->output, "out");  // the pushed result, not an asked one
  ASSERT_EQ(fake.RequestCount(), 1u);
  EXPECT_TRUE(std::get<protocol::Submit>(fake.Requests()[0]).notify);
}

TEST(ResultPushTest, ResultsThatArriveBeforeTheyAreAskedForAreKept) {
  FakeBroker fake(Answer(true));
  auto client = ConnectTo(fake.endpoint());
  auto ids = client->SubmitMany({Echo(), Echo(), Echo()}, SubmitOptions{.notify = true});
  ASSERT_TRUE(ids) << ids.error().ToString();
  // Every push is in (a later request's reply comes after them on the same connection).
  ASSERT_TRUE(client->Stats());
  auto start = Clock::now();
  auto tasks = client->WaitResults(*ids, 5000);
  ASSERT_TRUE(tasks) << tasks.error().ToString();
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(1000));
  ASSERT_EQ(tasks->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*tasks)[i].id, (*ids)[i]);
    EXPECT_EQ((*tasks)[i].output, "out");
  }
  EXPECT_EQ(CountOf(fake, protocol::Command::kWait) + CountOf(fake, protocol::Command::kGet), 0u);
}

TEST(ResultPushTest, KeptResultsAreBoundedAndADroppedOneIsAskedFor) {
  FakeBroker fake(Answer(true));
  auto client = ConnectTo(fake.endpoint(), 2);
  auto ids = client->SubmitMany({Echo(), Echo(), Echo()}, SubmitOptions{.notify = true});
  ASSERT_TRUE(ids) << ids.error().ToString();
  ASSERT_TRUE(client->Stats());  // all three pushes are in; only two are kept
  auto tasks = client->WaitResults(*ids, 5000);
  ASSERT_TRUE(tasks) << tasks.error().ToString();
  ASSERT_EQ(tasks->size(), 3u);
  EXPECT_EQ((*tasks)[0].output, "asked");  // the oldest was dropped: one WAIT for it
  EXPECT_EQ((*tasks)[1].output, "out");
  EXPECT_EQ((*tasks)[2].output, "out");
  ASSERT_EQ(CountOf(fake, protocol::Command::kWait), 1u);
  for (const auto& m : fake.Requests()) {
    if (auto* w = std::get_if<protocol::Wait>(&m)) {
      EXPECT_EQ(w->ids, std::vector<std::string>{(*ids)[0]});
    }
  }
}

TEST(ResultPushTest, APushThatNeverComesIsReadFromTheBrokerAtTheDeadline) {
  FakeBroker fake(Answer(false));
  auto client = ConnectTo(fake.endpoint());
  auto id = client->Submit(Echo(), SubmitOptions{.notify = true});
  ASSERT_TRUE(id) << id.error().ToString();
  auto task = client->WaitResult(*id, 200);
  ASSERT_TRUE(task) << task.error().ToString();
  EXPECT_EQ(task->output, "asked");
  EXPECT_EQ(CountOf(fake, protocol::Command::kGet), 1u);
}

TEST(ResultPushTest, ATaskSubmittedWithoutNotifyIsWaitedForAtTheBroker) {
  FakeBroker fake(Answer(true));
  auto client = ConnectTo(fake.endpoint());
  auto id = client->Submit(Echo());
  ASSERT_TRUE(id) << id.error().ToString();
  EXPECT_FALSE(std::get<protocol::Submit>(fake.Requests()[0]).notify);
  auto start = Clock::now();
  auto task = client->WaitResult(*id, 20'000);
  ASSERT_TRUE(task) << task.error().ToString();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));  // no wait for a push
  EXPECT_EQ(task->output, "asked");
  EXPECT_EQ(CountOf(fake, protocol::Command::kWait), 1u);
}

TEST(ResultPushTest, AFallbackForMoreIdsThanOneWaitMayCarryIsSplit) {
  FakeBroker fake(Answer(true));
  auto client = ConnectTo(fake.endpoint());
  std::vector<std::string> ids;
  for (int i = 0; i < 10'001; ++i) ids.push_back("x" + std::to_string(i));
  auto tasks = client->WaitResults(ids, 20'000);
  ASSERT_TRUE(tasks) << tasks.error().ToString();
  ASSERT_EQ(tasks->size(), ids.size());
  EXPECT_EQ(tasks->back().id, ids.back());
  std::vector<size_t> sizes;
  for (const auto& m : fake.Requests()) {
    if (auto* w = std::get_if<protocol::Wait>(&m)) sizes.push_back(w->ids.size());
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{10'000, 1}));
}

TEST(ResultPushTest, AfterAReconnectAWaiterAsksTheBrokerInsteadOfWaitingForAPush) {
  auto fake = std::make_unique<FakeBroker>(Answer(false));
  std::string endpoint = fake->endpoint();
  auto client = ConnectTo(endpoint);
  auto id = client->Submit(Echo(), SubmitOptions{.notify = true});
  ASSERT_TRUE(id) << id.error().ToString();
  auto start = Clock::now();
  // Without the fallback it would wait out its whole timeout for a push that cannot come.
  auto waited = std::async(std::launch::async, [&] { return client->WaitResult(*id, 20'000); });
  fake.reset();                                                  // the broker goes away ...
  fake = std::make_unique<FakeBroker>(Answer(false), endpoint);  // ... and comes back
  ASSERT_EQ(waited.wait_for(std::chrono::seconds(12)), std::future_status::ready);
  auto task = waited.get();
  ASSERT_TRUE(task) << task.error().ToString();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(12));
  EXPECT_EQ(task->state, protocol::TaskState::kSucceeded);
  EXPECT_EQ(task->output, "asked");
  EXPECT_EQ(CountOf(*fake, protocol::Command::kWait), 1u);
}

TEST(ResultPushTest, SubmitManyAsyncKeepsSeveralSubmitsInFlight) {
  FakeBroker fake(Answer(true));
  auto client = ConnectTo(fake.endpoint());
  std::vector<std::future<Result<SubmitResult>>> inflight;
  for (int i = 0; i < 4; ++i) {
    inflight.push_back(client->SubmitManyAsync({Echo(), Echo()}, SubmitOptions{.notify = true}));
  }
  std::vector<std::string> all;
  for (auto& f : inflight) {
    auto submitted = f.get();
    ASSERT_TRUE(submitted) << submitted.error().ToString();
    all.insert(all.end(), submitted->ids.begin(), submitted->ids.end());
  }
  auto tasks = client->WaitResults(all, 5000);
  ASSERT_TRUE(tasks) << tasks.error().ToString();
  for (const auto& t : *tasks) EXPECT_EQ(t.output, "out");
  EXPECT_EQ(fake.RequestCount(), 4u);
  auto bad = client->SubmitManyAsync({protocol::TaskSpec{}}).get();
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST(ResultPushTest, SubmitWaitInTheCliIsOneRequest) {
  FakeBroker fake(Answer(true));
  auto r = testing::RunCliInProcess(
      {"submit", "--broker", fake.endpoint(), "--type", "echo", "--payload", "x", "--wait"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("succeeded"), std::string::npos) << r.out;
  ASSERT_EQ(fake.RequestCount(), 1u);
  EXPECT_TRUE(std::get<protocol::Submit>(fake.Requests()[0]).notify);
}

}  // namespace
}  // namespace taskmill::client
