// kill -9 redis-server (AOF everysec) and restart it on the same dir: every acknowledged
// task is still there, in the state its acknowledgement reported.
#include "store_test_util.h"

namespace taskmill::broker {
namespace {

using protocol::TaskState;
using testing::RedisServer;

TEST(StoreDurabilityTest, AcknowledgedTasksSurviveKill9AndRestart) {
  auto server = RedisServer::Start();
  ASSERT_TRUE(server.has_value()) << server.error().ToString();
  FakeClock clock;
  StoreOptions opts;
  opts.prefix = testing::UniquePrefix();
  auto conn = std::make_unique<RedisConnection>((*server)->config());
  auto store = std::make_unique<Store>(*conn, clock, opts);
  conn->Start();
  ASSERT_TRUE(RunUntil(
      *conn, [&] { return conn->ready(); }, 10000));

  constexpr int kCalls = 20, kPerCall = 100;
  std::vector<std::string> acked;
  int answered = 0;
  for (int c = 0; c < kCalls; ++c) {
    std::vector<protocol::TaskSpec> specs(kPerCall);
    for (auto& s : specs) s.type = "t";
    store->Enqueue(specs, [&](Result<EnqueueResult> r) {
      ++answered;
      ASSERT_TRUE(r.has_value());
      for (const auto& it : r->items) acked.push_back(it.id);
    });
  }
  ASSERT_TRUE(RunUntil(
      *conn, [&] { return answered == kCalls; }, 20000));
  // Complete the first 300 (acknowledged successes) and leave 200 running.
  std::optional<ClaimResult> claimed;
  store->Claim(ClaimRequest{"w1", {"default"}, {}, 500, 60000},
               [&](Result<ClaimResult> r) { claimed = std::move(*r); });
  ASSERT_TRUE(RunUntil(
      *conn, [&] { return claimed.has_value(); }, 20000));
  ASSERT_EQ(claimed->tasks.size(), 500u);
  std::vector<protocol::Done> done;
  for (size_t i = 0; i < 300; ++i) {
    protocol::Done d;
    d.task_id = claimed->tasks[i].task_id;
    d.token = claimed->tasks[i].token;
    d.ok = true;
    d.output = "out" + std::to_string(i);
    done.push_back(d);
  }
  bool finished = false;
  store->Finish("w1", done, [&](Result<FinishResult> r) { finished = r.has_value(); });
  ASSERT_TRUE(RunUntil(
      *conn, [&] { return finished; }, 20000));

  (*server)->Kill9();
  ASSERT_TRUE(RunUntil(
      *conn, [&] { return !conn->ready(); }, 10000));
  ASSERT_TRUE((*server)->Restart().has_value());
  ASSERT_TRUE(RunUntil(
      *conn, [&] { return conn->ready(); }, 10000))
      << conn->last_error();

  std::optional<std::vector<std::optional<protocol::TaskInfo>>> got;
  store->Get(acked, [&](auto r) {
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    got = std::move(*r);
  });
  ASSERT_TRUE(RunUntil(
      *conn, [&] { return got.has_value(); }, 20000));
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->size(), acked.size());
  std::map<std::string, TaskState> want;
  for (size_t i = 0; i < claimed->tasks.size(); ++i) {
    want[claimed->tasks[i].task_id] = i < 300 ? TaskState::kSucceeded : TaskState::kRunning;
  }
  int missing = 0;
  for (size_t i = 0; i < acked.size(); ++i) {
    const auto& t = (*got)[i];
    if (!t) {
      ++missing;
      continue;
    }
    auto it = want.find(acked[i]);
    EXPECT_EQ(t->state, it == want.end() ? TaskState::kQueued : it->second) << acked[i];
  }
  EXPECT_EQ(missing, 0);
  std::optional<ClaimResult> rest;
  store->Claim(ClaimRequest{"w2", {"default"}, {}, 5000, 60000},
               [&](Result<ClaimResult> r) { rest = std::move(*r); });
  ASSERT_TRUE(RunUntil(
      *conn, [&] { return rest.has_value(); }, 20000));
  EXPECT_EQ(rest->tasks.size(), 1500u);
  store.reset();
  conn.reset();
}

}  // namespace
}  // namespace taskmill::broker
