// The broker binary and the store's layout version (issue 15): a store newer than the broker
// is refused at start with a clear message and a non-zero exit; a v1 store is migrated
// before the broker serves.

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "store/store_layout.h"
#include "support/launch.h"
#include "support/redis_fixture.h"
#include "support/wire_client.h"

namespace taskmill::testing {
namespace {

class BrokerLayoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = RedisServer::Start();
    ASSERT_TRUE(r.has_value()) << r.error().message;
    redis_ = std::move(*r);
    ctx_ = redisConnectUnix(redis_->config().unix_path.c_str());
    ASSERT_TRUE(ctx_ != nullptr && ctx_->err == 0);
    prefix_ = UniquePrefix();
    dir_ = redis_->dir() + "/broker";
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (ctx_ != nullptr) redisFree(ctx_);
  }
  // A command's reply as text ("" for nil), integers in decimal.
  std::string Run(std::vector<std::string> args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (r == nullptr) return "<io error>";
    std::string out;
    if (r->type == REDIS_REPLY_INTEGER) {
      out = std::to_string(r->integer);
    } else if (r->str != nullptr) {
      out.assign(r->str, r->len);
    }
    freeReplyObject(r);
    return out;
  }
  BrokerLaunch Launch() {
    BrokerLaunch l;
    l.dir = dir_;
    l.redis_url = "unix://" + redis_->config().unix_path;
    l.prefix = prefix_;
    return l;
  }
  std::string Log() {
    std::ifstream in(dir_ + "/broker.log");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  std::unique_ptr<RedisServer> redis_;
  redisContext* ctx_ = nullptr;
  std::string prefix_;
  std::string dir_;
};

TEST_F(BrokerLayoutTest, ABrokerOnANewerStoreExitsNonZeroNamingBothVersions) {
  std::string newer = std::to_string(broker::kStoreLayoutVersion + 1);
  ASSERT_EQ(Run({"SET", prefix_ + "layout", newer}), "OK");
  ChildProcess broker;
  auto started = LaunchBroker(Launch(), broker, [&] { return Log(); });
  EXPECT_FALSE(started.has_value()) << "a broker served a store of layout " << newer;
  auto code = broker.Wait(10000);
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  std::string log = Log();
  EXPECT_NE(log.find("layout version " + newer), std::string::npos) << log;
  EXPECT_NE(log.find("layout version " + std::to_string(broker::kStoreLayoutVersion)),
            std::string::npos)
      << log;
  EXPECT_EQ(Run({"GET", prefix_ + "layout"}), newer);
}

TEST_F(BrokerLayoutTest, ABrokerMigratesAV1StoreBeforeItServes) {
  // The v1 keys of one queued task, as v1's enqueue.lua wrote them.
  ASSERT_EQ(Run({"SADD", prefix_ + "queues", "default"}), "1");
  ASSERT_EQ(Run({"SADD", prefix_ + "types:default", "echo", "gone"}), "2");
  ASSERT_EQ(Run({"ZADD", prefix_ + "q:default:echo", "1", "t1"}), "1");
  ASSERT_EQ(Run({"HSET", prefix_ + "task:t1", "id", "t1", "queue", "default", "type", "echo",
                 "state", "queued", "prio", "0", "max_att", "3"}),
            "6");
  ASSERT_EQ(Run({"HSET", prefix_ + "stats:default", "submitted", "1"}), "1");
  ChildProcess broker;
  auto started = LaunchBroker(Launch(), broker, [&] { return Log(); });
  ASSERT_TRUE(started.has_value()) << started.error().message;
  EXPECT_EQ(Run({"GET", prefix_ + "layout"}), std::to_string(broker::kStoreLayoutVersion));
  EXPECT_EQ(Run({"EXISTS", prefix_ + "queues"}), "0");
  EXPECT_EQ(Run({"ZSCORE", prefix_ + "qindex", "default"}), "0");
  EXPECT_EQ(Run({"HGET", prefix_ + "stats:default", "queued"}), "1");
  EXPECT_EQ(Run({"SCARD", prefix_ + "types:default"}), "1");
  EXPECT_NE(Log().find("migrated version 1 to 2"), std::string::npos) << Log();
  // And on to the lean record (v4): the spec as one encoded value, the v1 fields gone.
  EXPECT_NE(Log().find("migrated version 3 to 4"), std::string::npos) << Log();
  EXPECT_EQ(Run({"HEXISTS", prefix_ + "task:t1", "spec"}), "1");
  EXPECT_EQ(Run({"HEXISTS", prefix_ + "task:t1", "queue"}), "0");
  broker.Signal(SIGTERM);
  EXPECT_TRUE(broker.Wait(10000).has_value());
}

TEST_F(BrokerLayoutTest, ABrokerThatCouldNotCheckAtStartRefusesTheStoreUntilItHas) {
  // Redis refuses the broker (no password given, one required): the broker serves, but
  // every store call fails until its late check passes; here that check finds a newer
  // store once Redis lets it in, and the broker stops with the refusal.
  ASSERT_EQ(Run({"CONFIG", "SET", "requirepass", "pw-layout"}), "OK");
  ASSERT_EQ(Run({"AUTH", "pw-layout"}), "OK");
  std::string newer = std::to_string(broker::kStoreLayoutVersion + 1);
  ASSERT_EQ(Run({"SET", prefix_ + "layout", newer}), "OK");
  ChildProcess broker;
  auto started = LaunchBroker(Launch(), broker, [&] { return Log(); });
  ASSERT_TRUE(started.has_value()) << started.error().message;
  WireClient wire(started->frontend);
  protocol::Submit submit;
  protocol::TaskSpec spec;
  spec.queue = "default";
  spec.type = "echo";
  submit.tasks = {spec};
  auto reply = wire.Call(submit, 5000);
  ASSERT_TRUE(reply.has_value()) << reply.error().ToString();
  ASSERT_TRUE(reply->error.has_value());
  EXPECT_EQ(reply->error->code, "store_unavailable");
  ASSERT_EQ(Run({"CONFIG", "SET", "requirepass", ""}), "OK");
  auto code = broker.Wait(15000);
  ASSERT_TRUE(code.has_value()) << Log();
  EXPECT_NE(*code, 0);
  EXPECT_NE(Log().find("layout version " + newer), std::string::npos) << Log();
  EXPECT_EQ(Run({"EXISTS", prefix_ + "task:" + (reply->ids.empty() ? "x" : reply->ids[0])}),
            "0");
}

TEST_F(BrokerLayoutTest, WhileAnotherBrokerMigratesTheStoreIsRefusedThenServed) {
  // A v1 store whose migration lock another broker holds (for 2 s, then it lapses as if
  // that broker died): this broker serves at once but answers store_unavailable instead of
  // writing into the old layout, then migrates the store itself and serves it.
  ASSERT_EQ(Run({"SADD", prefix_ + "queues", "default"}), "1");
  ASSERT_EQ(Run({"SET", prefix_ + "layout:lock", "another-broker", "PX", "2000"}), "OK");
  ChildProcess broker;
  auto started = LaunchBroker(Launch(), broker, [&] { return Log(); });
  ASSERT_TRUE(started.has_value()) << started.error().message;
  WireClient wire(started->frontend);
  protocol::Submit submit;
  protocol::TaskSpec spec;
  spec.queue = "default";
  spec.type = "echo";
  submit.tasks = {spec};
  auto early = wire.Call(submit, 5000);
  ASSERT_TRUE(early.has_value()) << early.error().ToString();
  ASSERT_TRUE(early->error.has_value()) << "a submit went into a v1 store";
  EXPECT_EQ(early->error->code, "store_unavailable");
  EXPECT_EQ(Run({"EXISTS", prefix_ + "layout"}), "0");
  const std::string current = std::to_string(broker::kStoreLayoutVersion);
  ASSERT_TRUE(WaitFor([&] { return Run({"GET", prefix_ + "layout"}) == current; }, 15000))
      << Log();
  // The migrating thread writes `layout` a moment before it opens the broker's store gate:
  // a submit in between is still refused (and stores nothing), so wait for the first one
  // accepted.
  std::string last_error;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto later = wire.Call(submit, 5000);
        if (!later.has_value()) {
          last_error = later.error().ToString();
          return false;
        }
        if (later->error.has_value()) {
          last_error = later->error->message;
          return false;
        }
        return true;
      },
      15000))
      << last_error;
  EXPECT_EQ(Run({"HGET", prefix_ + "stats:default", "queued"}), "1") << "a refused submit stored";
  broker.Signal(SIGTERM);
  EXPECT_TRUE(broker.Wait(10000).has_value());
}

TEST(EmbeddedRedisMemoryTest, TheEmbeddedRedisGetsItsMaxmemoryWithNoeviction) {
  std::string dir = std::filesystem::temp_directory_path() /
                    ("tm-maxmem-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  BrokerLaunch l;
  l.dir = dir;
  l.prefix = UniquePrefix();
  l.extra_args = {"--redis-maxmemory-mb", "64"};
  ChildProcess broker;
  auto started = LaunchBroker(l, broker, [&] { return std::string("see ") + dir; });
  ASSERT_TRUE(started.has_value()) << started.error().message;
  redisContext* c = redisConnectUnix((dir + "/data/redis/redis.sock").c_str());
  ASSERT_TRUE(c != nullptr && c->err == 0);
  auto get = [&](const char* name) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "CONFIG GET %s", name));
    std::string v = r != nullptr && r->type == REDIS_REPLY_ARRAY && r->elements == 2
                        ? std::string(r->element[1]->str, r->element[1]->len)
                        : "";
    if (r != nullptr) freeReplyObject(r);
    return v;
  };
  EXPECT_EQ(get("maxmemory"), std::to_string(64 << 20));
  EXPECT_EQ(get("maxmemory-policy"), "noeviction");
  redisFree(c);
  broker.Signal(SIGTERM);
  EXPECT_TRUE(broker.Wait(15000).has_value());
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace taskmill::testing
