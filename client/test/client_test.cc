// The client against an in-process fake broker: request/reply matching, deadlines, error
// mapping, concurrency, subscriptions and reconnects.

#include "taskmill/client/client.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <set>
#include <thread>

#include "cli_runner.h"
#include "fake_broker.h"

namespace taskmill::client {
namespace {

using testing::FakeBroker;
using testing::WaitUntil;
using Clock = std::chrono::steady_clock;

protocol::TaskSpec Echo(const std::string& payload = "hi") {
  protocol::TaskSpec s;
  s.type = "echo";
  s.payload = payload;
  return s;
}

std::unique_ptr<Client> ConnectTo(const std::string& endpoint, uint32_t timeout_ms = 2000) {
  ClientOptions o;
  o.endpoint = endpoint;
  o.request_timeout_ms = timeout_ms;
  auto c = Client::Connect(o);
  EXPECT_TRUE(c.has_value()) << c.error().ToString();
  return c ? std::move(*c) : nullptr;
}

// Answers SUBMIT with ids "t<req_id>-<i>", GET with tasks echoing the ids, WAIT likewise
// after `wait_delay`, and everything else with an empty success.
std::vector<protocol::Message> Answer(const protocol::Message& m) {
  protocol::Reply r = FakeBroker::Ok(FakeBroker::ReqIdOf(m));
  if (auto* s = std::get_if<protocol::Submit>(&m)) {
    for (size_t i = 0; i < s->tasks.size(); ++i) {
      r.ids.push_back("t" + std::to_string(s->req_id) + "-" + std::to_string(i));
    }
  } else if (auto* g = std::get_if<protocol::Get>(&m)) {
    for (const auto& id : g->ids) {
      protocol::TaskInfo t;
      t.id = id;
      t.state = id == "ghost" ? protocol::TaskState::kUnknown : protocol::TaskState::kQueued;
      r.tasks.push_back(t);
    }
  }
  return {r};
}

// Sets (or, with nullptr, unsets) an environment variable for one test, then restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// Like the Python and Node clients and the CLI: no endpoint means $TASKMILL_BROKER.
TEST(ClientTest, AnEmptyEndpointIsTakenFromTaskmillBroker) {
  FakeBroker fake(Answer);
  ScopedEnv client_port("TASKMILL_BROKER", fake.endpoint().c_str());
  ScopedEnv worker_port("TASKMILL_WORKER_BROKER", "tcp://127.0.0.1:1");  // never a client's
  auto client = Client::Connect({.request_timeout_ms = 2000});
  ASSERT_TRUE(client) << client.error().ToString();
  auto id = (*client)->Submit(Echo());
  ASSERT_TRUE(id) << id.error().ToString();
  EXPECT_EQ(fake.Requests().size(), 1u);
  {
    ScopedEnv bad("TASKMILL_BROKER", "nonsense");
    auto refused = Client::Connect({});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(refused.error().message.find("TASKMILL_BROKER"), std::string::npos)
        << refused.error().message;
  }
  // An explicit endpoint wins over the variable.
  ScopedEnv elsewhere("TASKMILL_BROKER", "nonsense");
  EXPECT_TRUE(Client::Connect({.endpoint = fake.endpoint()}));
}

TEST(ClientTest, ConnectRefusesBadOptions) {
  ClientOptions o;
  o.endpoint = "nonsense";
  EXPECT_EQ(Client::Connect(o).error().code, ErrorCode::kInvalidArgument);
  o.endpoint = "tcp://127.0.0.1:5555";
  o.request_timeout_ms = 0;
  EXPECT_EQ(Client::Connect(o).error().code, ErrorCode::kInvalidArgument);
}

TEST(ClientTest, SubmitReturnsIdsAndUsesUniqueNonZeroReqIds) {
  FakeBroker fake(Answer);
  auto client = ConnectTo(fake.endpoint());
  auto one = client->Submit(Echo());
  ASSERT_TRUE(one) << one.error().ToString();
  auto many = client->SubmitMany({Echo("a"), Echo("b"), Echo("c")});
  ASSERT_TRUE(many) << many.error().ToString();
  ASSERT_EQ(many->size(), 3u);
  std::set<uint64_t> req_ids;
  for (const auto& m : fake.Requests()) req_ids.insert(FakeBroker::ReqIdOf(m));
  EXPECT_EQ(req_ids.size(), 2u);
  EXPECT_EQ(req_ids.count(0), 0u);
  EXPECT_EQ(*one, "t" + std::to_string(*req_ids.begin()) + "-0");
  EXPECT_EQ((*many)[2], "t" + std::to_string(*req_ids.rbegin()) + "-2");
  auto sent = std::get<protocol::Submit>(fake.Requests()[1]);
  EXPECT_EQ(sent.tasks[1].payload, "b");
}

TEST(ClientTest, AnInvalidSpecIsRefusedBeforeAnythingIsSent) {
  FakeBroker fake(Answer);
  auto client = ConnectTo(fake.endpoint());
  auto bad = Echo();
  bad.queue = "no spaces";
  auto r = client->SubmitMany({Echo(), bad});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("tasks[1].queue"), std::string::npos) << r.error().message;
  EXPECT_EQ(client->SubmitMany({}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(fake.RequestCount(), 0u);
}

TEST(ClientTest, ErrorRepliesBecomeErrorCodes) {
  FakeBroker fake([](const protocol::Message& m) -> std::vector<protocol::Message> {
    auto r = FakeBroker::Ok(FakeBroker::ReqIdOf(m));
    bool stats = std::holds_alternative<protocol::Stats>(m);
    r.error = protocol::WireError{stats ? "store_unavailable" : "a_code_from_the_future",
                                  "redis is down"};
    return {r};
  });
  auto client = ConnectTo(fake.endpoint());
  auto stats = client->Stats();
  ASSERT_FALSE(stats);
  EXPECT_EQ(stats.error().code, ErrorCode::kStoreUnavailable);
  EXPECT_EQ(stats.error().message, "redis is down");
  auto dead = client->ListDeadLetters();
  ASSERT_FALSE(dead);
  EXPECT_EQ(dead.error().code, ErrorCode::kInternal);  // unknown names map to internal
}

TEST(ClientTest, GetOfAnUnknownIdIsNotFound) {
  FakeBroker fake(Answer);
  auto client = ConnectTo(fake.endpoint());
  auto t = client->Get("ghost");
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, ErrorCode::kNotFound);
  auto many = client->GetMany({"a", "ghost"});
  ASSERT_TRUE(many);
  EXPECT_EQ((*many)[1].state, protocol::TaskState::kUnknown);
  ASSERT_TRUE(client->Get("a"));
}

TEST(ClientTest, RepliesOutOfOrderReachTheirOwnCallers) {
  constexpr int kThreads = 8;
  std::vector<protocol::Message> held;
  FakeBroker fake([&](const protocol::Message& m) -> std::vector<protocol::Message> {
    held.push_back(m);
    if (held.size() < kThreads) return {};
    std::vector<protocol::Message> out;  // answer all at once, last first
    for (auto it = held.rbegin(); it != held.rend(); ++it) {
      for (auto& r : Answer(*it)) out.push_back(r);
    }
    return out;
  });
  auto client = ConnectTo(fake.endpoint(), 5000);
  std::vector<std::thread> threads;
  std::vector<std::string> got(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto t = client->Get("task" + std::to_string(i));
      got[i] = t ? t->id : t.error().ToString();
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(got[i], "task" + std::to_string(i));
}

TEST(ClientTest, NothingListeningIsBrokerUnavailableWithoutHanging) {
  std::string endpoint;
  {
    FakeBroker gone(Answer);  // a port that was free a moment ago and is closed now
    endpoint = gone.endpoint();
  }
  auto client = ConnectTo(endpoint, 200);
  auto start = Clock::now();
  auto r = client->Submit(Echo());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kBrokerUnavailable) << r.error().ToString();
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(1500));
}

TEST(ClientTest, APeerThatNeverAnswersIsBrokerUnavailable) {
  FakeBroker fake([](const protocol::Message&) { return std::vector<protocol::Message>{}; });
  auto client = ConnectTo(fake.endpoint(), 200);
  auto r = client->Stats();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kBrokerUnavailable) << r.error().ToString();
}

TEST(ClientTest, ABrokerThatAnsweredBeforeAndNowDoesNotIsATimeout) {
  int seen = 0;
  FakeBroker fake([&](const protocol::Message& m) {
    return ++seen == 1 ? Answer(m) : std::vector<protocol::Message>{};
  });
  auto client = ConnectTo(fake.endpoint(), 200);
  ASSERT_TRUE(client->Stats());
  auto start = Clock::now();
  auto r = client->Stats();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout) << r.error().ToString();
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(1500));
}

TEST(ClientTest, WaitMayTakeItsTimeoutPlusTheRequestTimeout) {
  // The fake holds the WAIT for longer than request_timeout_ms alone would allow.
  std::vector<protocol::Message> held;
  FakeBroker fake([&](const protocol::Message& m) -> std::vector<protocol::Message> {
    if (std::holds_alternative<protocol::Wait>(m)) {
      held.push_back(m);
      return {};
    }
    return Answer(m);
  });
  auto client = ConnectTo(fake.endpoint(), 300);
  std::thread releaser([&] {
    ASSERT_TRUE(WaitUntil([&] { return fake.RequestCount() == 1; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the delay under test
    auto w = std::get<protocol::Wait>(fake.Requests()[0]);
    protocol::Reply r = FakeBroker::Ok(w.req_id);
    protocol::TaskInfo t;
    t.id = w.ids[0];
    t.state = protocol::TaskState::kSucceeded;
    r.tasks.push_back(t);
    fake.Push({r});
  });
  auto r = client->Wait({"x"}, 600);
  releaser.join();
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->at(0).state, protocol::TaskState::kSucceeded);
  EXPECT_EQ(std::get<protocol::Wait>(fake.Requests()[0]).timeout_ms, 600u);
}

protocol::Event MakeEvent(const std::string& batch, const std::string& type, uint32_t done) {
  protocol::Event e;
  e.batch_id = batch;
  e.type = type;
  e.done = done;
  e.total = 3;
  return e;
}

TEST(ClientTest, SubscriptionDeliversItsBatchEventsUntilCancelled) {
  FakeBroker fake([](const protocol::Message& m) -> std::vector<protocol::Message> {
    std::vector<protocol::Message> out = Answer(m);
    if (auto* s = std::get_if<protocol::Subscribe>(&m); s && !s->unsubscribe) {
      out.push_back(MakeEvent("other", "batch_progress", 9));
      out.push_back(MakeEvent(s->batch_id, "batch_started", 0));
      out.push_back(MakeEvent(s->batch_id, "batch_progress", 1));
    }
    return out;
  });
  auto client = ConnectTo(fake.endpoint());
  std::mutex mu;
  std::vector<protocol::Event> events;
  auto sub = client->Subscribe("b1", [&](const protocol::Event& e) {
    std::lock_guard lock(mu);
    events.push_back(e);
  });
  ASSERT_TRUE(sub) << sub.error().ToString();
  ASSERT_TRUE(WaitUntil([&] {
    std::lock_guard lock(mu);
    return events.size() == 2;
  }));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(events[0].type, "batch_started");
    EXPECT_EQ(events[1].done, 1u);
  }
  sub->Cancel();
  EXPECT_FALSE(sub->active());
  ASSERT_TRUE(WaitUntil([&] { return fake.RequestCount() == 2; }));
  auto unsub = std::get<protocol::Subscribe>(fake.Requests()[1]);
  EXPECT_TRUE(unsub.unsubscribe);
  EXPECT_EQ(unsub.batch_id, "b1");
  fake.Push({MakeEvent("b1", "batch_completed", 3)});
  ASSERT_TRUE(client->Stats());  // a round trip after the push: it has arrived by now
  std::lock_guard lock(mu);
  EXPECT_EQ(events.size(), 2u);
}

TEST(ClientTest, SubmitBatchWithACallbackMissesNoEarlyEvent) {
  FakeBroker fake([](const protocol::Message& m) -> std::vector<protocol::Message> {
    auto* b = std::get_if<protocol::Batch>(&m);
    if (b == nullptr) return Answer(m);
    // The event overtakes the reply: it must still reach the callback.
    protocol::Reply r = FakeBroker::Ok(b->req_id);
    r.batch = protocol::BatchStatus{};
    r.batch->id = b->batch.id;
    r.batch->state = "running";
    r.batch->total = 1;
    r.batch->tasks = {{"only", "tid"}};
    return {MakeEvent(b->batch.id, "batch_started", 0), r};
  });
  auto client = ConnectTo(fake.endpoint());
  protocol::BatchSpec spec;
  auto task = Echo();
  task.name = "only";
  spec.tasks = {task};
  std::atomic<int> events{0};
  auto sb = client->SubmitBatch(spec, [&](const protocol::Event&) { ++events; });
  ASSERT_TRUE(sb) << sb.error().ToString();
  EXPECT_EQ(sb->status.tasks.at("only"), "tid");
  EXPECT_FALSE(sb->status.id.empty());  // chosen by the client
  auto sent = std::get<protocol::Batch>(fake.Requests()[0]);
  EXPECT_TRUE(sent.subscribe);
  EXPECT_EQ(sent.batch.id, sb->status.id);
  EXPECT_TRUE(WaitUntil([&] { return events == 1; }));
}

TEST(ClientTest, ACallbackMayCallTheClient) {
  FakeBroker fake([](const protocol::Message& m) -> std::vector<protocol::Message> {
    auto out = Answer(m);
    if (auto* s = std::get_if<protocol::Subscribe>(&m); s && !s->unsubscribe) {
      out.push_back(MakeEvent(s->batch_id, "batch_started", 0));
    }
    return out;
  });
  auto client = ConnectTo(fake.endpoint());
  std::atomic<bool> called{false};
  auto sub = client->Subscribe(
      "b1", [&](const protocol::Event&) { called = client->Stats().has_value(); });
  ASSERT_TRUE(sub);
  EXPECT_TRUE(WaitUntil([&] { return called.load(); }));
}

TEST(ClientTest, SubscriptionsAreRenewedAfterAReconnect) {
  auto fake = std::make_unique<FakeBroker>(Answer);
  std::string endpoint = fake->endpoint();
  auto client = ConnectTo(endpoint, 1000);
  auto sub = client->Subscribe("b7", [](const protocol::Event&) {});
  ASSERT_TRUE(sub);
  fake.reset();                                           // the broker goes away ...
  fake = std::make_unique<FakeBroker>(Answer, endpoint);  // ... and comes back
  // Without any call, the client says SUBSCRIBE again on the new connection.
  ASSERT_TRUE(WaitUntil([&] { return fake->RequestCount() >= 1; }, 10000));
  auto again = std::get<protocol::Subscribe>(fake->Requests()[0]);
  EXPECT_EQ(again.batch_id, "b7");
  EXPECT_FALSE(again.unsubscribe);
  EXPECT_TRUE(client->Stats());  // and ordinary requests work again
}

TEST(ClientTest, ASubscriptionMayOutliveItsClient) {
  FakeBroker fake(Answer);
  auto client = ConnectTo(fake.endpoint());
  auto sub = client->Subscribe("b1", [](const protocol::Event&) {});
  ASSERT_TRUE(sub);
  client.reset();
  sub->Cancel();  // does nothing, safely
  EXPECT_FALSE(sub->active());
}

TEST(ClientTest, CallRefusesNonClientMessages) {
  FakeBroker fake(Answer);
  auto client = ConnectTo(fake.endpoint());
  auto r = client->Call(protocol::Heartbeat{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace taskmill::client

namespace taskmill::client {
namespace {

// A CANCEL's REPLY says which tasks still run (protocol-messages.md 8.5): the client and the CLI
// report them from it alone, with no GET of the ids.
std::vector<protocol::Message> AnswerCancel(const protocol::Message& m) {
  protocol::Reply r = FakeBroker::Ok(FakeBroker::ReqIdOf(m));
  if (auto* c = std::get_if<protocol::Cancel>(&m)) {
    r.ids = c->ids.empty() ? std::vector<std::string>{"b-1", "run-b-2"} : c->ids;
    r.count = static_cast<uint32_t>(r.ids.size());
    for (const auto& id : r.ids) {
      if (id.starts_with("run")) r.requested.push_back(id);
    }
  } else if (auto* g = std::get_if<protocol::Get>(&m)) {
    for (const auto& id : g->ids) {  // a GET would see every task finished
      protocol::TaskInfo t;
      t.id = id;
      t.state = protocol::TaskState::kCancelled;
      r.tasks.push_back(t);
    }
  }
  return {r};
}

TEST(ClientTest, ACancelReplySaysWhichTasksStillRunWithoutAGet) {
  FakeBroker fake(AnswerCancel);
  auto client = ConnectTo(fake.endpoint());
  ASSERT_TRUE(client);
  auto affected = client->CancelMany({"done-1", "run-2", "done-3"});
  ASSERT_TRUE(affected) << affected.error().ToString();
  EXPECT_EQ(affected->count, 3u);
  EXPECT_EQ(affected->ids, (std::vector<std::string>{"done-1", "run-2", "done-3"}));
  EXPECT_EQ(affected->requested, (std::vector<std::string>{"run-2"}));
  auto batch = client->CancelBatch("B1");
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->requested, (std::vector<std::string>{"run-b-2"}));

  auto r = testing::RunCliInProcess({"--broker", fake.endpoint(), "cancel", "done-1", "run-2"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("cancelled 1 task(s)\ndone-1\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cancel requested for 1 running task(s)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nrun-2\n"), std::string::npos) << r.out;
  r = testing::RunCliInProcess({"--broker", fake.endpoint(), "--json", "cancel", "--batch", "B1"});
  EXPECT_EQ(r.code, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r.out;
  EXPECT_EQ(doc["requested"], nlohmann::json::array({"run-b-2"})) << r.out;
  EXPECT_EQ(doc["count"], 2) << r.out;

  for (const auto& m : fake.Requests()) {
    EXPECT_TRUE(std::holds_alternative<protocol::Cancel>(m))
        << "sent " << protocol::CommandName(protocol::CommandOf(m));
  }
  EXPECT_EQ(fake.RequestCount(), 4u);
}

}  // namespace
}  // namespace taskmill::client
