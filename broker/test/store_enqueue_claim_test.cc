#include <algorithm>
#include <random>

#include "store_test_util.h"

namespace taskmill::broker {
namespace {

using protocol::TaskState;

TEST_F(StoreTest, EnqueueThenClaimReturnsTheTask) {
  auto spec = Spec("echo", 5);
  spec.labels = {{"team", "a"}};
  spec.timeout_ms = 1000;
  std::string id = EnqueueOne(spec);
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(GetOne(id).state, TaskState::kQueued);
  auto tasks = ClaimOk(10);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].task_id, id);
  EXPECT_EQ(tasks[0].type, "echo");
  EXPECT_EQ(tasks[0].payload, "p");
  EXPECT_EQ(tasks[0].attempt, 1u);
  EXPECT_NE(tasks[0].token, 0u);  // random: see FencingTokensAreRandom
  EXPECT_EQ(tasks[0].timeout_ms, 1000u);
  EXPECT_EQ(tasks[0].labels.at("team"), "a");
  auto info = GetOne(id);
  EXPECT_EQ(info.state, TaskState::kRunning);
  EXPECT_EQ(info.worker, "w1");
  EXPECT_EQ(info.started_ms, clock_.NowMs());
  EXPECT_TRUE(ClaimOk(10).empty());
  auto st = StatsOf("default");
  EXPECT_EQ(st.stats.running, 1u);
  EXPECT_EQ(st.stats.ready, 0u);
  EXPECT_EQ(st.stats.submitted, 1u);
}

TEST_F(StoreTest, PayloadIsBinarySafe) {
  auto spec = Spec();
  spec.payload = std::string("a\0b\r\n\xff", 6);
  EnqueueOne(spec);
  auto tasks = ClaimOk(1);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].payload, spec.payload);
}

// Thousands of tasks with random priorities: claimed strictly by priority, FIFO within one,
// across two queues, in several claim calls.
TEST_F(StoreTest, PriorityOrderAndFifoWithinPriorityAreExact) {
  constexpr int kTasks = 5000;
  std::mt19937 rng(42);
  std::vector<protocol::TaskSpec> specs;
  for (int i = 0; i < kTasks; ++i) {
    auto s = Spec("echo", static_cast<uint8_t>(rng() % 8 * 30), i % 2 ? "qa" : "qb");
    s.payload = std::to_string(i);
    specs.push_back(std::move(s));
  }
  std::vector<std::pair<int, int>> expected;  // (-priority, submit index)
  for (int i = 0; i < kTasks; ++i) expected.emplace_back(-specs[i].priority, i);
  std::sort(expected.begin(), expected.end());
  for (int off = 0; off < kTasks; off += 1000) {  // several enqueue calls keep the sequence
    EnqueueOk(std::vector<protocol::TaskSpec>(specs.begin() + off, specs.begin() + off + 1000));
  }
  std::vector<int> got;
  while (got.size() < kTasks) {
    auto tasks = ClaimOk(700, {"qa", "qb"});
    ASSERT_FALSE(tasks.empty());
    for (const auto& t : tasks) got.push_back(std::stoi(t.payload));
  }
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i], expected[i].second) << "position " << i;
  }
}

TEST_F(StoreTest, ClaimOnlyTakesTypesTheWorkerRuns) {
  std::string a = EnqueueOne(Spec("resize", 1));
  std::string b = EnqueueOne(Spec("ocr", 9));
  auto tasks = ClaimOk(10, {"default"}, {"resize", "never-seen"});
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].task_id, a);
  EXPECT_EQ(GetOne(b).state, TaskState::kQueued);
  auto any = ClaimOk(10, {"default"}, {});
  ASSERT_EQ(any.size(), 1u);
  EXPECT_EQ(any[0].task_id, b);
}

TEST_F(StoreTest, IdempotentEnqueueReturnsTheOriginalId) {
  auto s = Spec();
  s.idempotency_key = "order-17";
  std::string first = EnqueueOne(s);
  auto again = EnqueueOk({s, s});
  ASSERT_EQ(again.items.size(), 2u);
  for (const auto& it : again.items) {
    EXPECT_TRUE(it.duplicate);
    EXPECT_EQ(it.id, first);
  }
  EXPECT_EQ(StatsOf("default").stats.submitted, 1u);
  EXPECT_EQ(ClaimOk(10).size(), 1u);
  int64_t ttl = RawInt({"PTTL", prefix_ + "idem:order-17"});
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, store_->options().idempotency_ttl_ms);
}

TEST_F(StoreTest, ExplicitIdThatExistsIsAConflict) {
  auto s = Spec();
  s.id = "fixed-1";
  EnqueueOne(s);
  auto r = EnqueueOk({s});
  ASSERT_EQ(r.items.size(), 1u);
  ASSERT_TRUE(r.items[0].error.has_value());
  EXPECT_EQ(r.items[0].error->code, ErrorCode::kConflict);
}

// enqueue.lua checks every new id with one EXISTS over the call's keys and only then key by
// key: a clash anywhere in a call refuses exactly the task that clashes.
TEST_F(StoreTest, OnlyTheExistingIdOfACallIsAConflict) {
  auto s = Spec();
  s.id = "fixed-2";
  EnqueueOne(s);
  std::vector<protocol::TaskSpec> specs(5, Spec());
  for (size_t i = 0; i < specs.size(); ++i) specs[i].id = "call-" + std::to_string(i);
  specs[3].id = "fixed-2";
  auto r = EnqueueOk(specs);
  ASSERT_EQ(r.items.size(), 5u);
  for (size_t i = 0; i < specs.size(); ++i) {
    if (i == 3) {
      ASSERT_TRUE(r.items[i].error.has_value());
      EXPECT_EQ(r.items[i].error->code, ErrorCode::kConflict);
    } else {
      EXPECT_FALSE(r.items[i].error.has_value()) << i;
      EXPECT_EQ(r.items[i].id, specs[i].id);
    }
  }
  EXPECT_EQ(StatsOf("default").stats.submitted, 5u);  // fixed-2 once, and four new
  EXPECT_EQ(ClaimOk(10).size(), 5u);
}

// Specs are validated once, at the broker's edge (request_checks_test.cc), and the store
// trusts them; a worker's claim keys are still checked here, as they build Redis keys.
TEST_F(StoreTest, InvalidNamesAreRejectedBeforeRedis) {
  EXPECT_FALSE(Store::ValidateSpec(Spec("bad type!"), "tasks[0]").has_value());
  ClaimRequest bad{"w1", {"no:colons"}, {}, 1, 1000};
  auto c = Await<ClaimResult>([&](auto cb) { store_->Claim(bad, cb); });
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(StoreTest, OneClaimCallLeasesToSeveralWorkersInTurn) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(EnqueueOne(Spec()));
  std::vector<ClaimRequest> reqs = {{"w1", {"default"}, {}, 2, 30000},
                                    {"bad worker!", {"default"}, {}, 1, 30000},
                                    {"w2", {"default"}, {}, 2, 30000},
                                    {"w3", {"default"}, {}, 0, 30000},
                                    {"w3", {"default"}, {}, 5, 30000}};
  auto r = Await<ClaimsResult>([&](auto cb) { store_->ClaimMany(reqs, cb); });
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ASSERT_EQ(r->claims.size(), 5u);
  ASSERT_FALSE(r->claims[1].has_value()) << "an invalid request fails alone";
  EXPECT_EQ(r->claims[1].error().code, ErrorCode::kInvalidArgument);
  ASSERT_TRUE(r->claims[0] && r->claims[2] && r->claims[3] && r->claims[4]);
  auto task_ids = [](const ClaimResult& c) {
    std::vector<std::string> out;
    for (const auto& t : c.tasks) out.push_back(t.task_id);
    return out;
  };
  // In request order, FIFO, each as if claimed alone.
  EXPECT_EQ(task_ids(*r->claims[0]), (std::vector<std::string>{ids[0], ids[1]}));
  EXPECT_EQ(task_ids(*r->claims[2]), (std::vector<std::string>{ids[2], ids[3]}));
  EXPECT_TRUE(r->claims[3]->tasks.empty());
  EXPECT_EQ(task_ids(*r->claims[4]), std::vector<std::string>{ids[4]});
  EXPECT_EQ(GetOne(ids[3]).worker, "w2");
  EXPECT_EQ(StatsOf("default").stats.running, 5u);
  const auto& w1 = r->claims[0]->tasks;
  const auto& w2 = r->claims[2]->tasks;
  // One finish call for several workers: each DONE is fenced against its own group's worker.
  std::vector<protocol::Done> done = {Ok(w1[0]), Ok(w2[0]), Ok(w2[1]), Ok(w1[1])};
  std::vector<DoneGroup> wrong = {{"w2", 1}, {"w1", 2}, {"w2", 1}};  // each under the other
  auto stale = Await<FinishResult>([&](auto cb) { store_->FinishMany(wrong, done, cb); });
  ASSERT_TRUE(stale.has_value()) << stale.error().ToString();
  ASSERT_EQ(stale->items.size(), 4u);
  for (const auto& item : stale->items) EXPECT_EQ(item.status, FinishStatus::kStale);
  std::vector<DoneGroup> right = {{"w1", 1}, {"w2", 2}, {"w1", 1}};
  auto fin = Await<FinishResult>([&](auto cb) { store_->FinishMany(right, done, cb); });
  ASSERT_TRUE(fin.has_value()) << fin.error().ToString();
  ASSERT_EQ(fin->items.size(), 4u);
  for (size_t i = 0; i < done.size(); ++i) {
    EXPECT_EQ(fin->items[i].task_id, done[i].task_id) << "items in the order of the DONEs";
    EXPECT_EQ(fin->items[i].status, FinishStatus::kSucceeded);
  }
  EXPECT_EQ(fin->items[1].summary->worker, "w2");
  EXPECT_EQ(StatsOf("default").stats.running, 1u);
  std::vector<DoneGroup> short_groups = {{"w1", 1}};
  auto bad = Await<FinishResult>([&](auto cb) { store_->FinishMany(short_groups, done, cb); });
  ASSERT_FALSE(bad.has_value()) << "groups that do not add up to the DONEs are refused";
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(StoreTest, LaterRequestsOfAClaimCallSkipWhatEarlierOnesTookFromEachReadySet) {
  std::string x1 = EnqueueOne(Spec("x", 0)), x2 = EnqueueOne(Spec("x", 0));
  std::string y1 = EnqueueOne(Spec("y", 5)), y2 = EnqueueOne(Spec("y", 5));
  std::string x3 = EnqueueOne(Spec("x", 9));
  std::vector<ClaimRequest> reqs = {{"a", {"default"}, {}, 2, 30000},
                                    {"b", {"default"}, {"x"}, 2, 30000},
                                    {"c", {"default"}, {}, 5, 30000}};
  auto r = Await<ClaimsResult>([&](auto cb) { store_->ClaimMany(reqs, cb); });
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ASSERT_EQ(r->claims.size(), 3u);
  std::vector<std::vector<std::string>> got;
  for (const auto& c : r->claims) {
    ASSERT_TRUE(c.has_value());
    got.emplace_back();
    for (const auto& t : c->tasks) got.back().push_back(t.task_id);
  }
  EXPECT_EQ(got[0], (std::vector<std::string>{x3, y1})) << "priority first, across types";
  EXPECT_EQ(got[1], (std::vector<std::string>{x1, x2})) << "past x3, taken by a";
  EXPECT_EQ(got[2], std::vector<std::string>{y2});
  EXPECT_TRUE(ClaimOk(10).empty());
  EXPECT_EQ(StatsOf("default").stats.running, 5u);
}

TEST_F(StoreTest, NotBeforeDelaysUntilPromoted) {
  auto s = Spec();
  s.not_before_ms = clock_.NowMs() + 5000;
  std::string id = EnqueueOne(s);
  EXPECT_EQ(GetOne(id).state, TaskState::kDelayed);
  EXPECT_TRUE(ClaimOk(1).empty());
  auto p = Await<PromoteResult>([&](auto cb) { store_->Promote(100, cb); });
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->promoted, 0u);
  EXPECT_EQ(p->next_due_ms, s.not_before_ms);
  clock_.Advance(5000);
  p = Await<PromoteResult>([&](auto cb) { store_->Promote(100, cb); });
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->promoted, 1u);
  EXPECT_EQ(p->queues, std::vector<std::string>{"default"});
  EXPECT_EQ(p->next_due_ms, -1);
  EXPECT_EQ(ClaimOk(1).size(), 1u);
}

TEST_F(StoreTest, ManyVerbsInOneTurnShareOnePipeline) {
  // Issue 50 enqueues without driving the loop: they are written together and all answer.
  int answered = 0;
  for (int i = 0; i < 50; ++i) {
    store_->Enqueue({Spec()}, [&](Result<EnqueueResult> r) { answered += r.has_value(); });
  }
  EXPECT_EQ(conn_->in_flight(), 50u);
  ASSERT_TRUE(Until([&] { return answered == 50; }));
  EXPECT_EQ(StatsOf("default").stats.ready, 50u);
}

}  // namespace
}  // namespace taskmill::broker
