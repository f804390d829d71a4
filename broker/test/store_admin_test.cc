// Batches and dependencies, cancellation, dead-letter administration, retention.
#include "store/batch_resolver.h"
#include "store_test_util.h"

namespace taskmill::broker {
namespace {

using protocol::TaskState;

class StoreBatchTest : public StoreTest {
 protected:
  // a -> b -> d, a -> c -> d (d needs b and c).
  ResolvedBatch Diamond(protocol::CostMap budget = {}) {
    protocol::BatchSpec b;
    for (const char* n : {"d", "c", "b", "a"}) {  // children first: the resolver reorders
      auto s = Spec();
      s.name = n;
      s.backoff = BackoffPolicy{0, 0, 1.0, false};
      b.tasks.push_back(s);
    }
    b.tasks[0].depends_on = {"b", "c"};
    b.tasks[1].depends_on = {"a"};
    b.tasks[2].depends_on = {"a"};
    b.budget = budget;
    auto r = ResolveBatch(b);
    EXPECT_TRUE(r.has_value());
    auto e = Await<EnqueueResult>(
        [&](auto cb) { store_->EnqueueBatch(r->batch_id, b.budget, r->tasks, cb); });
    EXPECT_TRUE(e.has_value()) << e.error().ToString();
    return *r;
  }
  std::optional<protocol::BatchStatus> Batch(const std::string& id) {
    auto r =
        Await<std::optional<protocol::BatchStatus>>([&](auto cb) { store_->GetBatch(id, cb); });
    EXPECT_TRUE(r.has_value());
    return r ? *r : std::nullopt;
  }
};

TEST_F(StoreBatchTest, DependentsRunAfterAllParentsSucceedWithTheirOutputs) {
  auto b = Diamond();
  const auto& id = b.ids_by_name;
  EXPECT_EQ(GetOne(id.at("d")).state, TaskState::kBlocked);
  auto first = ClaimOk(10);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].name, "a");
  auto r = FinishOk({Ok(first[0], "A-out")});
  ASSERT_EQ(r.items.at(0).released.size(), 2u);
  ASSERT_EQ(r.batches.size(), 1u);
  EXPECT_EQ(r.batches[0].counts.at("succeeded"), 1u);
  auto mid = ClaimOk(10);
  ASSERT_EQ(mid.size(), 2u);
  EXPECT_EQ(mid[0].parents.at("a"), "A-out");
  EXPECT_TRUE(FinishOk({Ok(mid[0], mid[0].name + "-out")}).items.at(0).released.empty());
  EXPECT_EQ(GetOne(id.at("d")).state, TaskState::kBlocked);
  auto last = FinishOk({Ok(mid[1], mid[1].name + "-out")});
  EXPECT_EQ(last.items.at(0).released, std::vector<std::string>{id.at("d")});
  auto d = ClaimOk(10);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].parents.at("b"), "b-out");
  EXPECT_EQ(d[0].parents.at("c"), "c-out");
  auto done = FinishOk({Ok(d[0])});
  ASSERT_EQ(done.batches.size(), 1u);
  EXPECT_EQ(done.batches[0].state, "succeeded");
  auto st = Batch(b.batch_id);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->total, 4u);
  EXPECT_EQ(st->counts.at("succeeded"), 4u);
  EXPECT_EQ(st->tasks.at("d"), id.at("d"));
  EXPECT_GT(st->finished_ms, 0);
}

TEST_F(StoreBatchTest, DeadParentCancelsDescendantsWithDependencyFailed) {
  auto b = Diamond();
  auto a = ClaimOk(10).at(0);
  auto r = FinishOk({Fail(a, false)});
  ASSERT_EQ(r.items.at(0).status, FinishStatus::kDead);
  EXPECT_EQ(r.items[0].cancelled.size(), 3u);
  for (const char* n : {"b", "c", "d"}) {
    auto t = GetOne(b.ids_by_name.at(n));
    EXPECT_EQ(t.state, TaskState::kCancelled) << n;
    EXPECT_EQ(t.error->message, "dependency_failed");
  }
  auto st = Batch(b.batch_id);
  EXPECT_EQ(st->state, "failed");
  EXPECT_EQ(st->counts.at("cancelled"), 3u);
  EXPECT_EQ(st->counts.at("failed"), 1u);
  EXPECT_EQ(StatsOf("default").blocked, 0u);
}

TEST_F(StoreBatchTest, PartialWhenSomeSucceed) {
  auto b = Diamond();
  FinishOk({Ok(ClaimOk(1).at(0))});
  auto mid = ClaimOk(10);
  FinishOk({Ok(mid[0])});
  auto r = FinishOk({Fail(mid[1], false)});
  EXPECT_EQ(r.items.at(0).cancelled, std::vector<std::string>{b.ids_by_name.at("d")});
  EXPECT_EQ(Batch(b.batch_id)->state, "partial");
}

TEST_F(StoreBatchTest, BudgetCrossedCancelsTheNotYetStartedRest) {
  auto b = Diamond({{"usd", 1.0}});
  auto a = ClaimOk(1).at(0);
  auto d = Ok(a);
  d.cost = {{"usd", 1.5}};
  auto r = FinishOk({d});
  EXPECT_EQ(r.items.at(0).status, FinishStatus::kSucceeded);
  EXPECT_EQ(r.items[0].cancelled.size(), 3u);
  auto st = Batch(b.batch_id);
  EXPECT_TRUE(st->budget_exceeded);
  EXPECT_DOUBLE_EQ(st->cost.at("usd"), 1.5);
  EXPECT_DOUBLE_EQ(st->budget.at("usd"), 1.0);
  EXPECT_EQ(st->state, "partial");
  EXPECT_EQ(GetOne(b.ids_by_name.at("b")).error->message, "budget_exceeded");
}

// A finished batch's hash and its task and name sets expire with the retention, as its tasks
// do; while it runs, none of them expires.
TEST_F(StoreBatchTest, AFinishedBatchAndItsSetsExpireWithTheRetention) {
  const int64_t retention = store_->options().retention_ms;
  auto b = Diamond();
  const std::string bk = prefix_ + "batch:" + b.batch_id;
  auto ttl_ok = [&](const std::string& key) {
    int64_t t = RawInt({"PTTL", key});
    return t > retention - 60000 && t <= retention;
  };
  auto a = ClaimOk(1).at(0);
  FinishOk({Ok(a)});
  for (const std::string& key : {bk, bk + ":tasks", bk + ":names"}) {
    EXPECT_EQ(RawInt({"PTTL", key}), -1) << key << " expires while its batch runs";
  }
  auto mid = ClaimOk(10);
  ASSERT_EQ(mid.size(), 2u);
  auto r = FinishOk({Ok(mid[0]), Fail(mid[1], false)});  // d is cancelled: the batch ends
  ASSERT_EQ(r.batches.size(), 1u);
  EXPECT_EQ(r.batches[0].state, "partial");
  for (const std::string& key : {bk, bk + ":tasks", bk + ":names"}) {
    EXPECT_TRUE(ttl_ok(key)) << key << " PTTL " << RawInt({"PTTL", key});
  }
  // Its tasks: a dead letter expires with the retention; succeeded and cancelled ones have no
  // TTL of their own but are listed in done:<queue>, whose trim deletes them (layout 5).
  for (const char* n : {"a", "b", "c", "d"}) {
    const std::string id = b.ids_by_name.at(n);
    const std::string tk = prefix_ + "task:" + id;
    if (GetOne(id).state == protocol::TaskState::kFailed) {
      EXPECT_TRUE(ttl_ok(tk)) << tk << " PTTL " << RawInt({"PTTL", tk});
    } else {
      EXPECT_EQ(RawInt({"PTTL", tk}), -1) << tk;
      EXPECT_GE(RawInt({"LPOS", prefix_ + "done:default", id}), 0) << id << " not listed";
    }
  }
}

TEST_F(StoreBatchTest, BatchIsAllOrNothing) {
  auto s = Spec();
  s.name = "x";
  s.id = "x1";
  s.depends_on = {"no-such-task"};
  auto r = Await<EnqueueResult>([&](auto cb) { store_->EnqueueBatch("bt1", {}, {s}, cb); });
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(Batch("bt1").has_value());
  EXPECT_EQ(RawInt({"EXISTS", prefix_ + "task:x1"}), 0);
}

TEST_F(StoreTest, CancelInEveryState) {
  std::string queued = EnqueueOne(Spec("t-queued"));
  auto ds = Spec("t-delayed");
  ds.not_before_ms = clock_.NowMs() + 10000;
  std::string delayed = EnqueueOne(ds);
  auto parent = Spec("t-parent");
  std::string p = EnqueueOne(parent);
  auto bs = Spec("t-blocked");
  bs.depends_on = {p};
  std::string blocked = EnqueueOne(bs);
  auto gs = Spec("t-grandchild");
  gs.depends_on = {blocked};
  std::string grandchild = EnqueueOne(gs);
  std::string running = EnqueueOne(Spec("t-running"));
  auto run = ClaimOk(1, {"default"}, {"t-running"}).at(0);
  std::string done = EnqueueOne(Spec("t-done"));
  FinishOk({Ok(ClaimOk(1, {"default"}, {"t-done"}).at(0))});

  auto r = Await<CancelResult>([&](auto cb) {
    store_->Cancel({queued, delayed, blocked, running, done, "missing"}, "user asked", cb);
  });
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->items.size(), 6u);
  EXPECT_EQ(r->items[0].status, CancelStatus::kCancelled);
  EXPECT_EQ(r->items[1].status, CancelStatus::kCancelled);
  EXPECT_EQ(r->items[2].status, CancelStatus::kCancelled);
  EXPECT_EQ(r->items[2].cancelled, std::vector<std::string>{grandchild});
  EXPECT_EQ(r->items[3].status, CancelStatus::kCancelRequested);
  EXPECT_EQ(r->items[3].worker_id, "w1");
  EXPECT_EQ(r->items[3].token, run.token);
  EXPECT_EQ(r->items[4].status, CancelStatus::kFinished);
  EXPECT_EQ(r->items[4].state, TaskState::kSucceeded);
  EXPECT_EQ(r->items[5].status, CancelStatus::kNotFound);
  for (const auto& id : {queued, delayed, blocked}) {
    auto t = GetOne(id);
    EXPECT_EQ(t.state, TaskState::kCancelled);
    EXPECT_EQ(t.error->message, "user asked");
  }
  EXPECT_EQ(GetOne(grandchild).error->message, "dependency_failed");
  EXPECT_EQ(GetOne(running).state, TaskState::kRunning);
  // The heartbeat tells the broker again; the worker's failure ends it as cancelled.
  auto ext = Await<ExtendResult>([&](auto cb) { store_->Extend("w1", 30000, cb); });
  ASSERT_TRUE(ext.has_value());
  ASSERT_EQ(ext->cancel_requested.size(), 1u);
  EXPECT_EQ(ext->cancel_requested[0].task_id, running);
  EXPECT_EQ(FinishOk({Fail(run, true, "cancelled")}).items.at(0).status, FinishStatus::kCancelled);
  EXPECT_EQ(GetOne(running).state, TaskState::kCancelled);
  // Nothing is left to claim or promote.
  clock_.Advance(20000);
  auto p2 = Await<PromoteResult>([&](auto cb) { store_->Promote(10, cb); });
  EXPECT_EQ(p2->promoted, 0u);
  auto rest = ClaimOk(10);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].task_id, p);
  auto st = StatsOf("default");
  EXPECT_EQ(st.stats.cancelled, 5u);
  EXPECT_EQ(st.blocked, 0u);
  EXPECT_EQ(st.stats.delayed, 0u);
}

TEST_F(StoreTest, DeadLettersRetryAndPurge) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(EnqueueOne(Spec()));
  std::vector<protocol::Done> fails;
  for (const auto& m : ClaimOk(3)) fails.push_back(Fail(m, false));
  FinishOk(fails);
  EXPECT_EQ(StatsOf("default").stats.dead, 3u);
  auto retried = Await<std::vector<std::string>>(
      [&](auto cb) { store_->DeadRetry("default", {ids[0]}, 100, cb); });
  ASSERT_TRUE(retried.has_value());
  EXPECT_EQ(*retried, std::vector<std::string>{ids[0]});
  auto again = ClaimOk(10);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].attempt, 1u);  // attempts reset
  EXPECT_GT(again[0].token, 1u);    // the fencing counter is not
  EXPECT_EQ(GetOne(ids[0]).history.size(), 1u);
  auto purged =
      Await<std::vector<std::string>>([&](auto cb) { store_->DeadPurge("default", {}, 100, cb); });
  ASSERT_TRUE(purged.has_value());
  EXPECT_EQ(purged->size(), 2u);
  EXPECT_EQ(StatsOf("default").stats.dead, 0u);
  auto gone = Await<std::vector<std::optional<protocol::TaskInfo>>>(
      [&](auto cb) { store_->Get({ids[1]}, cb); });
  EXPECT_FALSE(gone->at(0).has_value());
}

TEST_F(StoreTest, RetentionListsFinishedTasksAndBoundsDeadLetters) {
  StoreOptions o = store_->options();
  o.dead_letter_max = 5;
  Store store(*conn_, clock_, o);
  std::vector<protocol::TaskSpec> specs(8, Spec());
  specs[0].idempotency_key = "k1";
  auto e = Await<EnqueueResult>([&](auto cb) { store.Enqueue(specs, cb); });
  ASSERT_TRUE(e.has_value());
  const std::string running_id = e->items[0].id;
  EXPECT_EQ(RawInt({"PTTL", prefix_ + "task:" + running_id}), -1);  // live tasks never expire
  ClaimRequest req{"w1", {"default"}, {}, 8, 30000};
  auto c = Await<ClaimResult>([&](auto cb) { store.Claim(req, cb); });
  ASSERT_TRUE(c.has_value());
  std::vector<protocol::Done> done{Ok(c->tasks[0])};
  for (size_t i = 1; i < c->tasks.size(); ++i) done.push_back(Fail(c->tasks[i], false));
  ASSERT_TRUE(Await<FinishResult>([&](auto cb) { store.Finish("w1", done, cb); }).has_value());
  // A succeeded task has no TTL (layout 5): done:<queue> lists it for the retention's trim.
  EXPECT_EQ(RawInt({"PTTL", prefix_ + "task:" + c->tasks[0].task_id}), -1);
  EXPECT_EQ(RawInt({"LPOS", prefix_ + "done:default", c->tasks[0].task_id}), 0);
  int with_ttl = 0, deleted = 0;  // the 2 dead letters over the bound are deleted outright
  for (size_t i = 1; i < c->tasks.size(); ++i) {
    int64_t t = RawInt({"PTTL", prefix_ + "task:" + c->tasks[i].task_id});
    int64_t h = RawInt({"PTTL", prefix_ + "hist:" + c->tasks[i].task_id});
    with_ttl += t > 0 && h > 0;
    deleted += t == -2 && h == -2;
  }
  EXPECT_EQ(with_ttl, 5);
  EXPECT_EQ(deleted, 2);
  EXPECT_GT(RawInt({"PTTL", prefix_ + "idem:k1"}), 0);
  EXPECT_EQ(RawInt({"ZCARD", prefix_ + "dead:default"}), 5);  // 7 dead, bounded to 5
  // Dead letters older than the retention are trimmed on the next death.
  clock_.Advance(o.retention_ms + 1);
  EnqueueOne(Spec());
  auto lc = Await<ClaimResult>([&](auto cb) { store.Claim(req, cb); });
  ASSERT_TRUE(Await<FinishResult>([&](auto cb) {
                store.Finish("w1", {Fail(lc->tasks.at(0), false)}, cb);
              }).has_value());
  EXPECT_EQ(RawInt({"ZCARD", prefix_ + "dead:default"}), 1);
}

TEST_F(StoreTest, StatsWithoutQueuesListsEveryQueue) {
  EnqueueOne(Spec("a", 0, "q1"));
  EnqueueOne(Spec("a", 0, "q2"));
  auto r = Await<std::vector<QueueCounters>>([&](auto cb) { store_->Stats({}, cb); });
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].stats.queue, "q1");
  EXPECT_EQ((*r)[1].stats.ready, 1u);
}

}  // namespace
}  // namespace taskmill::broker

namespace taskmill::broker {
namespace {

// Issue 13: a worker id belongs to the CURVE key that registered it first, for every broker
// on the Redis: a second key is told whose it is; the same key refreshes it.
TEST_F(StoreTest, BindWorkersKeepsAWorkerIdWithItsFirstKey) {
  auto bind = [&](std::vector<std::pair<std::string, std::string>> pairs) {
    auto r = Await<std::vector<std::string>>(
        [&](auto cb) { store_->BindWorkers(pairs, 60'000, cb); });
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r.value_or(std::vector<std::string>{});
  };
  EXPECT_EQ(bind({{"w1", "key-a"}, {"w2", "key-b"}}), (std::vector<std::string>{"", ""}));
  EXPECT_EQ(bind({{"w1", "key-b"}, {"w2", "key-b"}}), (std::vector<std::string>{"key-a", ""}));
  EXPECT_EQ(bind({{"w1", "key-a"}}), (std::vector<std::string>{""}));
  EXPECT_GT(RawInt({"PTTL", prefix_ + "wkey:w1"}), 0);  // it expires unless refreshed
}

}  // namespace
}  // namespace taskmill::broker
