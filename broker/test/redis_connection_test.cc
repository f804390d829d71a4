#include "redis/redis_connection.h"

#include <gtest/gtest.h>
#include <zmq.h>

#include "support/redis_fixture.h"

namespace taskmill::broker {
namespace {

using testing::RedisServer;
using testing::RedisTest;

class RedisConnectionTest : public RedisTest {
 protected:
  Result<std::string> Cmd(RedisConnection& c, std::vector<std::string> args) {
    std::optional<Result<std::string>> out;
    c.Command(args, [&](Result<const redisReply*> r) {
      if (!r) return out.emplace(std::unexpected(r.error())), void();
      out.emplace((*r)->str != nullptr ? std::string((*r)->str, (*r)->len)
                                       : std::to_string((*r)->integer));
    });
    if (!RunUntil(
            c, [&] { return out.has_value(); }, 10000)) {
      return MakeError(ErrorCode::kTimeout, "no reply");
    }
    return *out;
  }
};

TEST_F(RedisConnectionTest, CommandsAreBinarySafe) {
  std::string value("a\0b\xff\r\n", 6);
  ASSERT_TRUE(Cmd(*conn_, {"SET", prefix_ + "k", value}).has_value());
  auto got = Cmd(*conn_, {"GET", prefix_ + "k"});
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, value);
}

// A pipeline far larger than the socket takes in one write (big payloads in one turn) goes
// out in pieces from an offset into hiredis's buffer: every command must arrive whole, in
// order, with later commands appended while earlier ones are still being written.
TEST_F(RedisConnectionTest, AMultiMegabytePipelineArrivesWholeAndInOrder) {
  constexpr int kValues = 24;
  std::vector<std::string> values;
  for (int i = 0; i < kValues; ++i) {
    std::string v(300'000 + i * 7'919, static_cast<char>('a' + i % 26));
    v[i] = '\r';  // binary content, and no two values alike
    values.push_back(std::move(v));
  }
  int set_ok = 0;
  std::vector<std::string> got(kValues);
  int gets = 0;
  for (int i = 0; i < kValues; ++i) {
    std::string key = prefix_ + "big" + std::to_string(i);
    conn_->Command({"SET", key, values[static_cast<size_t>(i)]},
                   [&](Result<const redisReply*> r) { set_ok += r.has_value() ? 1 : 0; });
    if (i % 3 == 2) conn_->HandleEvents(ZMQ_POLLOUT);  // part written before more is queued
    conn_->Command({"GET", key}, [&, i](Result<const redisReply*> r) {
      if (r && (*r)->str != nullptr) got[static_cast<size_t>(i)].assign((*r)->str, (*r)->len);
      ++gets;
    });
  }
  ASSERT_TRUE(RunUntil(*conn_, [&] { return gets == kValues; }, 20000));
  EXPECT_EQ(set_ok, kValues);
  for (int i = 0; i < kValues; ++i) {
    EXPECT_TRUE(got[static_cast<size_t>(i)] == values[static_cast<size_t>(i)]) << "value " << i;
  }
  EXPECT_EQ(conn_->in_flight(), 0u);
}

TEST_F(RedisConnectionTest, CommandsFailAtOnceWhileUnreachable) {
  RedisConfig cfg;
  cfg.unix_path = server().dir() + "/no-such.sock";
  RedisConnection c(cfg);
  c.Start();
  EXPECT_FALSE(c.ready());
  bool called = false;
  c.Command({"PING"}, [&](Result<const redisReply*> r) {
    called = true;
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::kStoreUnavailable);
  });
  EXPECT_TRUE(called);            // synchronously: nothing queues behind an outage
  EXPECT_GE(c.NextTimerMs(), 0);  // a reconnect is scheduled
  EXPECT_NE(c.last_error().find("no-such.sock"), std::string::npos);
}

TEST_F(RedisConnectionTest, ScriptCacheFlushIsHandled) {
  size_t s = conn_->AddScript("echo", "return ARGV[1]");
  ASSERT_TRUE(Until([&] { return conn_->in_flight() == 0; }));
  ASSERT_TRUE(Cmd(*conn_, {"SCRIPT", "FLUSH"}).has_value());
  std::optional<std::string> out;
  conn_->Eval(s, {"hi"}, [&](Result<const redisReply*> r) {
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    out = std::string((*r)->str, (*r)->len);
  });
  ASSERT_TRUE(Until([&] { return out.has_value(); }));
  EXPECT_EQ(*out, "hi");
}

TEST_F(RedisConnectionTest, ScriptErrorsMapToErrorCodes) {
  size_t s = conn_->AddScript("fails", "return redis.error_reply('TM_CONFLICT it exists')");
  std::optional<Error> err;
  conn_->Eval(s, {}, [&](Result<const redisReply*> r) { err = r.error(); });
  ASSERT_TRUE(Until([&] { return err.has_value(); }));
  EXPECT_EQ(err->code, ErrorCode::kConflict);
  EXPECT_EQ(err->message, "it exists");
}

TEST_F(RedisConnectionTest, ReconnectsAfterRedisRestarts) {
  std::vector<RedisConnection::State> states;
  conn_->SetStateCallback([&](RedisConnection::State s) { states.push_back(s); });
  std::optional<Error> pending_error;
  conn_->Command({"BLPOP", prefix_ + "never", "5"}, [&](Result<const redisReply*> r) {
    if (!r) pending_error = r.error();
  });
  ASSERT_TRUE(Until([&] { return !conn_->WantedEvents() || conn_->in_flight() == 1; }));
  server().Kill9();
  ASSERT_TRUE(Until([&] { return pending_error.has_value(); }));
  EXPECT_EQ(pending_error->code, ErrorCode::kStoreUnavailable);
  EXPECT_FALSE(conn_->ready());
  auto r = Cmd(*conn_, {"PING"});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kStoreUnavailable);
  ASSERT_TRUE(server().Restart().has_value());
  ASSERT_TRUE(Until([&] { return conn_->ready(); }));
  EXPECT_EQ(*Cmd(*conn_, {"PING"}), "PONG");
  ASSERT_GE(states.size(), 2u);
  EXPECT_EQ(states.back(), RedisConnection::State::kReady);
}

TEST(RedisConnectionAuthTest, AuthAndSelectOverTcp) {
  auto server = RedisServer::Start(RedisServer::Options{.tcp = true});
  ASSERT_TRUE(server.has_value()) << server.error().ToString();
  RedisConfig plain = (*server)->config();
  {
    RedisConnection admin(plain);
    admin.Start();
    ASSERT_TRUE(RunUntil(
        admin, [&] { return admin.ready(); }, 10000));
    bool done = false;
    admin.Command({"CONFIG", "SET", "requirepass", "s3cret"}, [&](auto) { done = true; });
    ASSERT_TRUE(RunUntil(
        admin, [&] { return done; }, 10000));
  }
  auto url = ParseRedisUrl("redis://:wrong@127.0.0.1:" + std::to_string(plain.port) + "/3");
  ASSERT_TRUE(url.has_value());
  RedisConnection bad(*url, RedisConnectionOptions{.connect_timeout_ms = 2000});
  bad.Start();
  ASSERT_TRUE(RunUntil(
      bad, [&] { return !bad.last_error().empty(); }, 10000));
  EXPECT_FALSE(bad.ready());
  EXPECT_NE(bad.last_error().find("AUTH"), std::string::npos) << bad.last_error();
  EXPECT_EQ(bad.last_error().find("wrong"), std::string::npos) << "the password leaked";

  url->password = "s3cret";
  RedisConnection good(*url);
  good.Start();
  ASSERT_TRUE(RunUntil(
      good, [&] { return good.ready(); }, 10000))
      << good.last_error();
  std::optional<int64_t> db;
  good.Command({"CLIENT", "INFO"}, [&](Result<const redisReply*> r) {
    ASSERT_TRUE(r.has_value());
    std::string info((*r)->str, (*r)->len);
    db = info.find(" db=3 ") != std::string::npos ? 3 : -1;
  });
  ASSERT_TRUE(RunUntil(
      good, [&] { return db.has_value(); }, 10000));
  EXPECT_EQ(*db, 3);
}

}  // namespace
}  // namespace taskmill::broker
