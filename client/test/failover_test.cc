// Endpoint lists and the move to another broker (issue 17): a client given several broker
// endpoints moves to the next one when its broker says GOAWAY or goes away, resends what is
// unanswered byte for byte, and renews its subscriptions there. Two fake brokers stand in
// for two brokers on one Redis; the client starts at a random one of them, so every test
// first finds out which one it reached.

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <optional>

#include "connection.h"
#include "fake_broker.h"
#include "taskmill/client/client.h"

namespace taskmill::client {
namespace {

using testing::FakeBroker;
using testing::WaitUntil;

protocol::Submit OneTask(const std::string& type) {
  protocol::Submit s;
  protocol::TaskSpec spec;
  spec.type = type;
  s.tasks.push_back(spec);
  return s;
}

protocol::Reply Ids(uint64_t req_id, std::string id) {
  protocol::Reply r = FakeBroker::Ok(req_id);
  r.ids.push_back(std::move(id));
  return r;
}

// True iff `broker` got a SUBSCRIBE to batch_id.
bool RenewedOn(FakeBroker& broker, const std::string& batch_id) {
  for (const auto& m : broker.Requests()) {
    auto* s = std::get_if<protocol::Subscribe>(&m);
    if (s != nullptr && s->batch_id == batch_id && !s->unsubscribe) return true;
  }
  return false;
}

std::shared_ptr<Connection> OpenOn(const std::string& endpoints, uint32_t timeout_ms = 8000,
                                   bool monitor_held = false) {
  ClientOptions options;
  options.endpoint = endpoints;
  options.request_timeout_ms = timeout_ms;
  auto c = Connection::Open(options, monitor_held);
  EXPECT_TRUE(c) << c.error().message;
  return c ? *c : nullptr;
}

// Two brokers; the first request that reaches either is answered by `first` (GOAWAY, or
// nothing), every later one with ids "<broker>-<req_id>".
struct TwoBrokers {
  enum class First { kGoaway, kSilent };
  explicit TwoBrokers(First first)
      : a(Handler("a", first)), b(Handler("b", first)) {}
  FakeBroker::Handler Handler(std::string name, First first) {
    return [this, name, first](const protocol::Message& m) -> std::vector<protocol::Message> {
      if (!std::holds_alternative<protocol::Submit>(m)) {
        return {FakeBroker::Ok(FakeBroker::ReqIdOf(m))};
      }
      if (!answered_first.exchange(true)) {
        first_was = name[0];
        if (first == First::kGoaway) return {protocol::Goaway{"shutting down"}};
        return {};
      }
      return {Ids(FakeBroker::ReqIdOf(m), name + "-" + std::to_string(FakeBroker::ReqIdOf(m)))};
    };
  }
  std::string list() const { return a.endpoint() + " , " + b.endpoint(); }
  std::atomic<bool> answered_first{false};
  std::atomic<char> first_was{0};  // 'a' or 'b': the broker that got the first request
  FakeBroker a;
  FakeBroker b;
};

TEST(FailoverTest, GoawayMovesToTheNextEndpointAndResendsTheSameRequest) {
  TwoBrokers brokers(TwoBrokers::First::kGoaway);
  auto c = OpenOn(brokers.list());
  ASSERT_TRUE(c);
  auto reply = c->Call(OneTask("resize"), 8000);
  ASSERT_TRUE(reply) << reply.error().message << " (requests at a: " << brokers.a.RequestCount()
                     << ", at b: " << brokers.b.RequestCount() << ", first: " << brokers.first_was
                     << ")";
  ASSERT_EQ(reply->ids.size(), 1u);
  // Answered by the other broker, which got the very same request.
  std::string other = brokers.first_was.load() == 'a' ? "b" : "a";
  EXPECT_TRUE(reply->ids[0].starts_with(other + "-")) << reply->ids[0];
  auto at_a = brokers.a.Requests();
  auto at_b = brokers.b.Requests();
  ASSERT_EQ(at_a.size(), 1u);
  ASSERT_EQ(at_b.size(), 1u);
  EXPECT_EQ(protocol::Encode(at_a[0]).body, protocol::Encode(at_b[0]).body);
  EXPECT_EQ(c->moves(), 1u);
  EXPECT_EQ(c->current_endpoint(),
            other == "a" ? brokers.a.endpoint() : brokers.b.endpoint());
}

TEST(FailoverTest, LossOfTheBrokerMovesAndResendsWhatIsUnanswered) {
  auto answered_first = std::make_shared<std::atomic<bool>>(false);
  auto silent_first = [answered_first](std::string name) {
    return [answered_first, name](const protocol::Message& m) -> std::vector<protocol::Message> {
      if (!answered_first->exchange(true)) return {};  // the broker "dies" with it
      return {Ids(FakeBroker::ReqIdOf(m), name)};
    };
  };
  auto a = std::make_unique<FakeBroker>(silent_first("a"));
  auto b = std::make_unique<FakeBroker>(silent_first("b"));
  std::string a_endpoint = a->endpoint();
  std::string b_endpoint = b->endpoint();
  auto c = OpenOn(a_endpoint + "," + b_endpoint);
  ASSERT_TRUE(c);
  auto pending = c->Send(OneTask("resize"), 8000);
  ASSERT_TRUE(WaitUntil([&] { return a->RequestCount() + b->RequestCount() == 1; }));
  bool a_had_it = a->RequestCount() == 1;
  auto lost_at = std::chrono::steady_clock::now();
  (a_had_it ? a : b).reset();  // its port closes: the client sees the disconnect at once
  auto reply = Connection::Await(std::move(pending));
  ASSERT_TRUE(reply) << reply.error().message;
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - lost_at)
                  .count();
  ASSERT_EQ(reply->ids.size(), 1u);
  EXPECT_EQ(reply->ids[0], a_had_it ? "b" : "a");
  EXPECT_EQ(c->current_endpoint(), a_had_it ? b_endpoint : a_endpoint);
  EXPECT_LT(took, 3000) << "moved and answered " << took << " ms after the loss";
  std::printf("client move after a broker loss (fake brokers): %lld ms\n",
              static_cast<long long>(took));
}

TEST(FailoverTest, SingleEndpointGoawayReconnectsToItAndResends) {
  std::atomic<int> submits{0};
  FakeBroker only([&](const protocol::Message& m) -> std::vector<protocol::Message> {
    if (std::holds_alternative<protocol::Submit>(m) && submits.fetch_add(1) == 0) {
      return {protocol::Goaway{}};
    }
    return {Ids(FakeBroker::ReqIdOf(m), "again")};
  });
  auto c = OpenOn(only.endpoint());
  ASSERT_TRUE(c);
  auto reply = c->Call(OneTask("resize"), 8000);
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->ids, std::vector<std::string>{"again"});
  EXPECT_EQ(submits.load(), 2);
  EXPECT_EQ(c->current_endpoint(), only.endpoint());
}

TEST(FailoverTest, SubscriptionsAreRenewedOnTheNewBroker) {
  TwoBrokers brokers(TwoBrokers::First::kGoaway);
  auto c = OpenOn(brokers.list());
  ASSERT_TRUE(c);
  c->AddSubscription("batch-1", [](const protocol::Event&) {});
  protocol::Subscribe subscribe;
  subscribe.batch_id = "batch-1";
  auto subscribed = c->Call(subscribe, 8000);
  ASSERT_TRUE(subscribed) << subscribed.error().message;
  auto submitted = c->Call(OneTask("resize"), 8000);  // the GOAWAY comes with this one
  ASSERT_TRUE(submitted) << submitted.error().message
                         << " (requests at a: " << brokers.a.RequestCount()
                         << ", at b: " << brokers.b.RequestCount()
                         << ", first: " << brokers.first_was << ")";
  std::string other = brokers.first_was.load() == 'a' ? "b" : "a";
  FakeBroker& next = other == "a" ? brokers.a : brokers.b;
  ASSERT_TRUE(WaitUntil([&] { return RenewedOn(next, "batch-1"); }))
      << "the subscription was not renewed on the broker moved to";
}

// A caller may drive whole requests over the first link, and meet its GOAWAY, before the I/O
// thread reads that link's handshake from the socket monitor (a busy machine: seen 2 in 1200
// runs of the test above under load). The handshake then names a broker left already, yet
// the next one is still a reconnect: the subscriptions must be renewed there. The monitor is
// held unread until the move, so this order is certain here.
TEST(FailoverTest, SubscriptionsAreRenewedWhenTheFirstHandshakeIsReadAfterTheMove) {
  TwoBrokers brokers(TwoBrokers::First::kGoaway);
  auto c = OpenOn(brokers.list(), 8000, /*monitor_held=*/true);
  ASSERT_TRUE(c);
  c->AddSubscription("batch-1", [](const protocol::Event&) {});
  protocol::Subscribe subscribe;
  subscribe.batch_id = "batch-1";
  auto subscribed = c->Call(subscribe, 8000);
  ASSERT_TRUE(subscribed) << subscribed.error().message;
  auto submitted = c->Send(OneTask("resize"), 8000);  // met by the GOAWAY
  ASSERT_TRUE(WaitUntil([&] { return c->moves() == 1; }));
  c->HoldMonitorForTest(false);
  auto reply = Connection::Await(std::move(submitted));
  ASSERT_TRUE(reply) << reply.error().message;
  FakeBroker& next = brokers.first_was.load() == 'a' ? brokers.b : brokers.a;
  EXPECT_TRUE(WaitUntil([&] { return RenewedOn(next, "batch-1"); }))
      << "the subscription was not renewed on the broker moved to";
}

TEST(FailoverTest, BadEndpointListIsRefusedAtOpen) {
  for (const char* bad : {"tcp://127.0.0.1:1,", "tcp://127.0.0.1:1,,tcp://127.0.0.1:2",
                          "tcp://127.0.0.1:1,http://x:2"}) {
    ClientOptions options;
    options.endpoint = bad;
    auto c = Connection::Open(options);
    ASSERT_FALSE(c) << bad;
    EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace taskmill::client
