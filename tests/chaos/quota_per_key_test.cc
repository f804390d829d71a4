// Quotas per client identity (issue 13, sec-limits): with CURVE a client is its key, so a key
// that opens more connections gets no more WAITs or subscriptions than one connection would,
// while another key still gets in; without CURVE each connection has its own quota (and the
// totals bound them all).

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "chaos/harness.h"
#include "support/launch.h"
#include "support/wire_client.h"
#include "taskmill/shared/curve_keys.h"
#include "taskmill/shared/protocol/codec.h"

namespace taskmill::chaos {
namespace {

namespace fs = std::filesystem;
using taskmill::testing::WireClient;

// CURVE keys in a private directory; every client key is allowed (and an admin: no roles).
class Keys {
 public:
  Keys() {
    std::string tmpl = (fs::temp_directory_path() / "taskmill-quota-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data()) ? tmpl : "";
    fs::create_directory(dir_ + "/clients");
    broker_ = Make("broker", false);
  }
  ~Keys() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  CurveKeyPair Make(const std::string& name, bool allowed = true) {
    auto pair = GenerateCurveKeyPair();
    EXPECT_TRUE(pair.has_value());
    auto files = WriteCurveKeyFiles(dir_, name, *pair, false);
    EXPECT_TRUE(files.has_value());
    if (allowed) fs::copy_file(files->pub_file, dir_ + "/clients/" + name + ".pub");
    return *pair;
  }
  WireClient::Options As(const CurveKeyPair& own) const {
    return {CurveClientKeys{broker_.public_key, own}, ""};
  }
  std::vector<std::string> BrokerArgs() const {
    return {"--curve-secret-key-file", dir_ + "/broker.key", "--curve-allow-dir",
            dir_ + "/clients"};
  }

 private:
  std::string dir_;
  CurveKeyPair broker_;
};

void SendRaw(WireClient& c, const protocol::Message& m) {
  auto f = protocol::Encode(m);
  c.SendRaw({f.version, f.command, f.body});
}

class QuotaPerKeyTest : public ::testing::TestWithParam<bool> {
 protected:
  // A broker allowing 3 WAITs and 2 subscriptions per client; CURVE on when `curve`.
  void Start(bool curve) {
    ChaosCluster::Options o;
    o.broker_args = {"--max-waits-per-client", "3", "--max-subscriptions-per-client", "2"};
    if (curve) {
      auto args = keys_.BrokerArgs();
      o.broker_args.insert(o.broker_args.end(), args.begin(), args.end());
      a_ = keys_.As(keys_.Make("client-a"));
      b_ = keys_.As(keys_.Make("client-b"));
    }
    auto started = ChaosCluster::Start(curve ? "quota-per-key" : "quota-per-conn", o);
    ASSERT_TRUE(started.has_value()) << started.error().message;
    cluster_ = std::move(*started);
  }
  std::unique_ptr<WireClient> Connect(const WireClient::Options& as) {
    return std::make_unique<WireClient>(cluster_->frontend(), as);
  }
  // The broker section of STATS, read as `as`.
  std::optional<protocol::BrokerStats> Broker(WireClient& c) {
    protocol::Stats st;
    st.sections = {"broker"};
    auto r = c.Call(st, 5000);
    if (!r || r->error || !r->broker) return std::nullopt;
    return *r->broker;
  }

  Keys keys_;
  WireClient::Options a_, b_;
  std::unique_ptr<ChaosCluster> cluster_;
};

// Four connections of key A: the first three WAITs (over two connections) are admitted, the
// next ones are refused whichever connection sends them; key B still gets in. Subscriptions
// likewise. Without CURVE the same four connections are four clients.
TEST_P(QuotaPerKeyTest, OneKeyOverSeveralConnectionsHitsItsQuota) {
  const bool curve = GetParam();
  Start(curve);
  auto setup = Connect(a_);
  // Pending tasks (nobody serves the queue) to wait on, and two running batches.
  protocol::Submit s;
  for (int i = 0; i < 4; ++i) {
    protocol::TaskSpec t;
    t.id = "pending-" + std::to_string(i);
    t.queue = "nobody-serves-this";
    t.type = "echo";
    s.tasks.push_back(t);
  }
  auto submitted = setup->Call(s, 10000);
  ASSERT_TRUE(submitted && !submitted->error);
  std::vector<std::string> batches;
  for (int i = 0; i < 3; ++i) {
    protocol::Batch b;
    protocol::TaskSpec t;
    t.name = "only";
    t.queue = "nobody-serves-this";
    t.type = "echo";
    b.batch.tasks = {t};
    auto r = setup->Call(b, 10000);
    ASSERT_TRUE(r && !r->error && r->batch);
    batches.push_back(r->batch->id);
  }
  std::vector<std::unique_ptr<WireClient>> conns;
  for (int i = 0; i < 4; ++i) conns.push_back(Connect(a_));
  uint64_t req = 100;
  auto wait = [&](WireClient& c) {
    protocol::Wait w;
    w.req_id = ++req;
    w.ids = {"pending-" + std::to_string(req % 4)};
    w.timeout_ms = 60000;
    SendRaw(c, w);
    return w.req_id;
  };
  // Admitted: two on the first connection, one on the second (none answered: they wait).
  wait(*conns[0]);
  wait(*conns[0]);
  wait(*conns[1]);
  ASSERT_TRUE(WaitFor(
      [&] {
        auto b = Broker(*setup);
        return b && b->waits == 3;
      },
      10000));
  // The third and fourth connections: refused with curve (same key), admitted without.
  for (int i = 2; i < 4; ++i) {
    uint64_t id = wait(*conns[i]);
    if (curve) {
      auto r = conns[i]->Receive(5000);
      ASSERT_TRUE(r.has_value()) << "no answer to a WAIT past the key's quota";
      auto* reply = std::get_if<protocol::Reply>(&*r);
      ASSERT_TRUE(reply && reply->req_id == id && reply->error);
      EXPECT_EQ(reply->error->code, "over_limit");
      EXPECT_NE(reply->error->message.find("already has 3 WAITs pending"), std::string::npos)
          << reply->error->message;
    }
  }
  uint64_t expected = curve ? 3 : 5;
  EXPECT_TRUE(WaitFor(
      [&] {
        auto b = Broker(*setup);
        return b && b->waits == expected;
      },
      10000))
      << "expected " << expected << " WAITs held";
  // Another key (or connection) still gets in.
  // Its own pending task: with CURVE a key sees only its own tasks (an id of A's would be
  // unknown to B, so its WAIT would be answered at once).
  auto other = Connect(curve ? b_ : WireClient::Options{});
  protocol::Submit own;
  own.tasks = {s.tasks[0]};
  own.tasks[0].id = "pending-of-b";
  auto own_submitted = other->Call(own, 10000);
  ASSERT_TRUE(own_submitted && !own_submitted->error);
  protocol::Wait other_wait;
  other_wait.ids = {"pending-of-b"};
  other_wait.timeout_ms = 60000;
  SendRaw(*other, other_wait);
  EXPECT_TRUE(WaitFor(
      [&] {
        auto b = Broker(*setup);
        return b && b->waits == expected + 1;
      },
      10000));
  // Subscriptions: two over two connections of A, the third refused (curve) on a third.
  for (int i = 0; i < 3; ++i) {
    protocol::Subscribe sub;
    sub.batch_id = batches[static_cast<size_t>(i)];
    auto r = conns[static_cast<size_t>(i)]->Call(sub, 10000);
    ASSERT_TRUE(r.has_value());
    bool refused = r->error && r->error->code == "over_limit";
    EXPECT_EQ(refused, curve && i == 2) << "subscription " << i << ": "
                                        << (r->error ? r->error->message : "admitted");
  }
  // A connection that goes away frees its share of the key's quota.
  conns[0].reset();
  EXPECT_TRUE(WaitFor(
      [&] {
        auto b = Broker(*setup);
        return b && b->waits == expected - 1;
      },
      10000));
  if (curve) {
    wait(*conns[3]);
    EXPECT_TRUE(WaitFor(
        [&] {
          auto b = Broker(*setup);
          return b && b->waits == expected;
        },
        10000))
        << "the key did not get its quota back when one of its connections left";
  }
}

INSTANTIATE_TEST_SUITE_P(CurveAndPlain, QuotaPerKeyTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "Curve" : "Plain"; });

}  // namespace
}  // namespace taskmill::chaos
