// Redis Sentinel and --redis-min-replicas at the connection level, against real
// redis-servers and Sentinels on loopback (tests/support/sentinel_fixture.h).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <optional>

#include "redis/master_locator.h"
#include "redis/redis_connection.h"
#include "redis/replica_gate.h"
#include "redis/sync_redis.h"
#include "support/launch.h"
#include "support/redis_fixture.h"
#include "support/sentinel_fixture.h"
#include "taskmill/shared/clock.h"

namespace taskmill::broker {
namespace {

using testing::SentinelGroup;

// Drives the connections (and the gate's turn ends) until pred() or the deadline.
bool Drive(std::vector<RedisConnection*> conns, ReplicaGate* gate,
           const std::function<bool()>& pred, int64_t timeout_ms) {
  const int64_t until = SystemClock::Instance().MonotonicMs() + timeout_ms;
  while (!pred()) {
    if (SystemClock::Instance().MonotonicMs() >= until) return false;
    if (gate != nullptr) gate->EndTurn();
    for (RedisConnection* c : conns) RunUntil(*c, pred, 5);
  }
  return true;
}

// One command, its reply as text (string or integer), driven to completion.
Result<std::string> Cmd(RedisConnection& c, std::vector<std::string> args,
                        ReplicaGate* gate = nullptr, std::vector<RedisConnection*> also = {}) {
  std::optional<Result<std::string>> out;
  c.Command(args, [&](Result<const redisReply*> r) {
    if (!r) return out.emplace(std::unexpected(r.error())), void();
    out.emplace((*r)->str != nullptr ? std::string((*r)->str, (*r)->len)
                                     : std::to_string((*r)->integer));
  });
  also.push_back(&c);
  if (!Drive(also, gate, [&] { return out.has_value(); }, 10000)) {
    return MakeError(ErrorCode::kTimeout, "no reply");
  }
  return *out;
}

// Attaches a gate to a writer and a reader for one scope; on the way out (a failed ASSERT
// too) drives the writer until the gate's WAIT has answered, then detaches it, so no
// callback outlives the gate.
class GateScope {
 public:
  GateScope(ReplicaGate& gate, RedisConnection& writer, RedisConnection& reader)
      : writer_(writer), reader_(reader) {
    writer_.SetReplicaGate(&gate);
    reader_.SetReplicaGate(&gate);
  }
  ~GateScope() {
    RunUntil(writer_, [&] { return writer_.in_flight() == 0; }, 5000);
    writer_.SetReplicaGate(nullptr);
    reader_.SetReplicaGate(nullptr);
  }

 private:
  RedisConnection& writer_;
  RedisConnection& reader_;
};

std::unique_ptr<SentinelGroup> StartGroup(SentinelGroup::Options o = {}) {
  auto g = SentinelGroup::Start(o);
  EXPECT_TRUE(g.has_value()) << g.error().ToString();
  if (!g) return nullptr;
  auto ready = (*g)->AwaitReady(20000);
  EXPECT_TRUE(ready.has_value()) << ready.error().ToString();
  return std::move(*g);
}

// The master is found through the Sentinels; after kill -9 of it the Sentinels promote the
// replica and the same connection (and a SyncRedis) carries on against the new master, its
// scripts loaded again there.
TEST(SentinelConnectionTest, FindsTheMasterAndFollowsAFailover) {
  auto group = StartGroup();
  ASSERT_NE(group, nullptr);
  auto config = ParseRedisUrl(group->Url());
  ASSERT_TRUE(config.has_value()) << config.error().ToString();
  RedisConnectionOptions options;
  options.reconnect_max_ms = 200;
  RedisConnection conn(*config, options);
  size_t script = conn.AddScript("incr", "return redis.call('INCR', KEYS[1])");
  conn.Start();
  ASSERT_TRUE(RunUntil(conn, [&] { return conn.ready(); }, 10000)) << conn.last_error();
  EXPECT_EQ(conn.node(), group->NodeConfig(0).Describe());
  ASSERT_EQ(Cmd(conn, {"SET", "k", "before"}).value_or("?"), "OK");
  SyncRedis sync(*config, 1000);
  auto before = sync.Command({"GET", "k"});
  ASSERT_TRUE(before.has_value()) << before.error().ToString();
  EXPECT_EQ(std::string((*before)->str), "before");
  // The replica has it before the primary dies (so the check below is about following).
  auto waited = Cmd(conn, {"WAIT", "1", "2000"});
  ASSERT_EQ(waited.value_or("?"), "1");

  auto killed_at = std::chrono::steady_clock::now();
  group->node(0).Kill();
  auto promoted = group->AwaitFailover(0, 20000);
  ASSERT_TRUE(promoted.has_value()) << promoted.error().ToString();
  const std::string new_master = group->NodeConfig(*promoted).Describe();
  ASSERT_TRUE(RunUntil(conn, [&] { return conn.ready() && conn.node() == new_master; }, 10000))
      << conn.last_error() << " on " << conn.node();
  auto back_after = std::chrono::steady_clock::now() - killed_at;
  std::optional<Result<int64_t>> eval;
  conn.Eval(script, {"counter"}, [&](Result<const redisReply*> r) {
    if (!r) return eval.emplace(std::unexpected(r.error())), void();
    eval.emplace((*r)->integer);
  }, 1);
  ASSERT_TRUE(RunUntil(conn, [&] { return eval.has_value(); }, 5000));
  ASSERT_TRUE(eval->has_value()) << eval->error().ToString();
  EXPECT_EQ(**eval, 1);
  EXPECT_EQ(Cmd(conn, {"GET", "k"}).value_or("?"), "before");
  // The blocking connection's first command after the loss may fail; then it is back.
  Result<RedisReplyPtr> after = MakeError(ErrorCode::kStoreUnavailable, "not tried");
  ASSERT_TRUE(testing::WaitFor([&] { return (after = sync.Command({"GET", "k"})).has_value(); },
                               5000))
      << after.error().ToString();
  EXPECT_EQ(std::string((*after)->str), "before");
  std::printf(
      "SENTINEL_FAILOVER connection on the new master %lld ms after kill -9 of the primary "
      "(down-after-milliseconds 600)\n",
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(back_after).count()));
}

// A master demoted under a live connection answers writes with READONLY: that command
// fails with store_unavailable (never anything else) and the connection finds the new
// master at once, where the next write succeeds.
TEST(SentinelConnectionTest, ReadonlyAfterADemotionFindsTheMasterAgain) {
  auto group = StartGroup();
  ASSERT_NE(group, nullptr);
  auto config = ParseRedisUrl(group->Url());
  ASSERT_TRUE(config.has_value());
  RedisConnectionOptions options;
  options.reconnect_max_ms = 200;
  RedisConnection conn(*config, options);
  conn.Start();
  ASSERT_TRUE(RunUntil(conn, [&] { return conn.ready(); }, 10000)) << conn.last_error();
  ASSERT_EQ(conn.node(), group->NodeConfig(0).Describe());
  // Swap the roles by hand, and point the Sentinels at the new master, without touching
  // the broker's connection (Sentinel's own failover would also kill it).
  const std::string& m = group->master_name();
  const std::string p1 = std::to_string(group->node_port(1));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(SentinelGroup::Ask(group->sentinel_port(i), {"SENTINEL", "REMOVE", m}));
  }
  ASSERT_TRUE(SentinelGroup::Ask(group->node_port(1), {"REPLICAOF", "NO", "ONE"}));
  ASSERT_TRUE(SentinelGroup::Ask(group->node_port(0), {"REPLICAOF", "127.0.0.1", p1}));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(SentinelGroup::Ask(group->sentinel_port(i),
                                   {"SENTINEL", "MONITOR", m, "127.0.0.1", p1, "2"}));
  }
  auto first = Cmd(conn, {"SET", "k", "v"});
  ASSERT_FALSE(first.has_value());
  EXPECT_EQ(first.error().code, ErrorCode::kStoreUnavailable) << first.error().ToString();
  EXPECT_NE(first.error().message.find("READONLY"), std::string::npos);
  ASSERT_TRUE(RunUntil(conn, [&] { return conn.ready(); }, 10000)) << conn.last_error();
  EXPECT_EQ(conn.node(), group->NodeConfig(1).Describe());
  EXPECT_EQ(Cmd(conn, {"SET", "k", "v"}).value_or("?"), "OK");
}

// --redis-min-replicas: a reply is released only once WAIT confirms the replicas; short of
// them, it fails with store_unavailable. A reader's reply waits too (behind a marker write).
TEST(SentinelConnectionTest, ReplicaGateHoldsRepliesUntilWaitConfirms) {
  SentinelGroup::Options o;
  o.sentinels = 0;
  auto group = StartGroup(o);
  ASSERT_NE(group, nullptr);
  RedisConnection writer(group->NodeConfig(0));
  RedisConnection reader(group->NodeConfig(0));
  writer.Start();
  reader.Start();
  ASSERT_TRUE(RunUntil(writer, [&] { return writer.ready(); }, 5000));
  ASSERT_TRUE(RunUntil(reader, [&] { return reader.ready(); }, 5000));

  {  // One replica is there: confirmed; the replica has the write when the reply comes.
    ReplicaGate gate(writer, 1, 2000, "mark");
    GateScope scope(gate, writer, reader);
    std::optional<std::string> on_replica;
    std::optional<Result<const redisReply*>> reply;
    writer.Command({"SET", "k1", "v1"}, [&](Result<const redisReply*> r) {
      reply.emplace(r);
      auto got = SentinelGroup::Ask(group->node_port(1), {"GET", "k1"});
      on_replica = got && (*got)->str != nullptr ? std::string((*got)->str) : "(none)";
    });
    ASSERT_TRUE(Drive({&writer}, &gate, [&] { return reply.has_value(); }, 5000));
    EXPECT_TRUE(reply->has_value());
    EXPECT_EQ(on_replica, "v1");
    EXPECT_EQ(Cmd(reader, {"GET", "k1"}, &gate, {&writer}).value_or("?"), "v1");
    EXPECT_EQ(gate.counters().short_waits, 0u);
    EXPECT_GE(gate.counters().released, 2u);
  }
  {  // Two asked, one there: the write is not acknowledged, nor is a read of it.
    ReplicaGate gate(writer, 2, 100, "mark");
    GateScope scope(gate, writer, reader);
    auto w = Cmd(writer, {"SET", "k2", "v2"}, &gate);
    ASSERT_FALSE(w.has_value());
    EXPECT_EQ(w.error().code, ErrorCode::kStoreUnavailable);
    EXPECT_NE(w.error().message.find("min-replicas"), std::string::npos) << w.error().message;
    auto r = Cmd(reader, {"GET", "k2"}, &gate, {&writer});
    ASSERT_FALSE(r.has_value()) << "a read of an unconfirmed write was answered: " << *r;
    EXPECT_EQ(r.error().code, ErrorCode::kStoreUnavailable);
    EXPECT_GE(gate.counters().short_waits, 2u);
    EXPECT_EQ(gate.held(), 0u);
  }
}

}  // namespace
}  // namespace taskmill::broker
