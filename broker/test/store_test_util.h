#pragma once

// Helpers for the store's integration tests: a Store on the suite's redis-server with a
// FakeClock and the test's unique prefix, and synchronous wrappers around its verbs.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "store/store.h"
#include "support/redis_fixture.h"

namespace taskmill::broker {

class StoreTest : public testing::RedisTest {
 protected:
  void SetUp() override {
    RedisTest::SetUp();
    if (HasFatalFailure()) return;
    StoreOptions o;
    o.prefix = prefix_;
    store_ = std::make_unique<Store>(*conn_, clock_, o);
    ASSERT_TRUE(Until([&] { return conn_->in_flight() == 0; }));  // its SCRIPT LOADs
  }
  void TearDown() override {
    store_.reset();
    RedisTest::TearDown();
  }

  static protocol::TaskSpec Spec(std::string type = "echo", uint8_t prio = 0,
                                 std::string queue = "default") {
    protocol::TaskSpec s;
    s.queue = std::move(queue);
    s.type = std::move(type);
    s.priority = prio;
    s.payload = "p";
    return s;
  }

  EnqueueResult EnqueueOk(std::vector<protocol::TaskSpec> specs) {
    auto r = Await<EnqueueResult>([&](auto cb) { store_->Enqueue(std::move(specs), cb); });
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? *r : EnqueueResult{};
  }
  std::string EnqueueOne(protocol::TaskSpec spec) {
    auto r = EnqueueOk({std::move(spec)});
    EXPECT_EQ(r.items.size(), 1u);
    return r.items.empty() ? "" : r.items[0].id;
  }
  std::vector<protocol::TaskMsg> ClaimOk(uint32_t n, std::vector<std::string> queues = {"default"},
                                         std::vector<std::string> types = {},
                                         std::string worker = "w1", uint32_t lease_ms = 30000) {
    ClaimRequest req{std::move(worker), std::move(queues), std::move(types), n, lease_ms};
    auto r = Await<ClaimResult>([&](auto cb) { store_->Claim(req, cb); });
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? r->tasks : std::vector<protocol::TaskMsg>{};
  }
  static protocol::Done Ok(const protocol::TaskMsg& m, std::string output = "out") {
    protocol::Done d;
    d.task_id = m.task_id;
    d.token = m.token;
    d.ok = true;
    d.output = std::move(output);
    return d;
  }
  static protocol::Done Fail(const protocol::TaskMsg& m, bool retryable,
                             std::string code = "boom") {
    protocol::Done d;
    d.task_id = m.task_id;
    d.token = m.token;
    d.ok = false;
    d.error = protocol::TaskError{std::move(code), "it broke", retryable};
    return d;
  }
  FinishResult FinishOk(std::vector<protocol::Done> done, std::string worker = "w1") {
    auto r = Await<FinishResult>([&](auto cb) { store_->Finish(worker, std::move(done), cb); });
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? *r : FinishResult{};
  }
  protocol::TaskInfo GetOne(const std::string& id) {
    auto r = Await<std::vector<std::optional<protocol::TaskInfo>>>(
        [&](auto cb) { store_->Get({id}, cb); });
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    if (!r || r->size() != 1 || !(*r)[0]) {
      ADD_FAILURE() << "task " << id << " not found";
      return {};
    }
    return *(*r)[0];
  }
  QueueCounters StatsOf(const std::string& queue) {
    auto r = Await<std::vector<QueueCounters>>([&](auto cb) { store_->Stats({queue}, cb); });
    EXPECT_TRUE(r.has_value() && r->size() == 1);
    return r && r->size() == 1 ? (*r)[0] : QueueCounters{};
  }
  // A raw command's integer reply, or -1.
  int64_t RawInt(std::vector<std::string> args) {
    auto r = Await<int64_t>([&](auto cb) {
      conn_->Command(args, [cb](Result<const redisReply*> rr) {
        if (!rr || (*rr)->type != REDIS_REPLY_INTEGER) return cb(int64_t{-1});
        cb(static_cast<int64_t>((*rr)->integer));
      });
    });
    return r ? *r : -1;
  }

  FakeClock clock_;
  std::unique_ptr<Store> store_;
};

}  // namespace taskmill::broker
