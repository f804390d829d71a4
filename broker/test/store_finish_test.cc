#include <set>

#include "store_test_util.h"
#include "taskmill/shared/backoff.h"

namespace taskmill::broker {
namespace {

using protocol::TaskState;

TEST_F(StoreTest, CompleteRecordsResultCostAndCounters) {
  std::string id = EnqueueOne(Spec());
  auto m = ClaimOk(1).at(0);
  clock_.Advance(250);
  auto d = Ok(m, "result-bytes");
  d.exit_code = 0;
  d.stdout_data = "hello";
  d.duration_ms = 240;
  d.cost = {{"usd", 0.25}, {"tokens", 100}};
  auto r = FinishOk({d});
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].status, FinishStatus::kSucceeded);
  auto info = GetOne(id);
  EXPECT_EQ(info.state, TaskState::kSucceeded);
  EXPECT_EQ(info.output, "result-bytes");
  EXPECT_EQ(info.exit_code, 0);
  EXPECT_EQ(info.stdout_data, "hello");
  EXPECT_EQ(info.duration_ms, 240u);
  EXPECT_DOUBLE_EQ(info.cost.at("usd"), 0.25);
  EXPECT_EQ(info.finished_ms, clock_.NowMs());
  auto st = StatsOf("default");
  EXPECT_EQ(st.stats.succeeded, 1u);
  EXPECT_EQ(st.stats.running, 0u);
  EXPECT_DOUBLE_EQ(st.stats.cost.at("tokens"), 100);
  EXPECT_EQ(RawInt({"ZCARD", prefix_ + "leases"}), 0);
}

TEST_F(StoreTest, StaleTokenIsRejectedAndCounted) {
  std::string id = EnqueueOne(Spec());
  auto first = ClaimOk(1, {"default"}, {}, "w1", 1000).at(0);
  clock_.Advance(1001);
  auto reaped = Await<FinishResult>([&](auto cb) { store_->Reap(100, cb); });
  ASSERT_TRUE(reaped.has_value());
  ASSERT_EQ(reaped->items.size(), 1u);
  EXPECT_EQ(reaped->items[0].status, FinishStatus::kRetry);
  clock_.Advance(60000);
  ASSERT_TRUE(Await<PromoteResult>([&](auto cb) { store_->Promote(10, cb); }).has_value());
  auto second = ClaimOk(1, {"default"}, {}, "w2").at(0);
  EXPECT_EQ(second.attempt, 2u);
  EXPECT_NE(second.token, first.token);
  // The presumed-dead worker reports late: rejected, not recorded.
  auto late = FinishOk({Ok(first, "late")}, "w1");
  EXPECT_EQ(late.items.at(0).status, FinishStatus::kStale);
  EXPECT_EQ(GetOne(id).state, TaskState::kRunning);
  EXPECT_EQ(StatsOf("default").stale, 1u);
  auto good = FinishOk({Ok(second, "fresh")}, "w2");
  EXPECT_EQ(good.items.at(0).status, FinishStatus::kSucceeded);
  EXPECT_EQ(GetOne(id).output, "fresh");
  // A second DONE for the same attempt is stale too.
  EXPECT_EQ(FinishOk({Ok(second, "again")}, "w2").items.at(0).status, FinishStatus::kStale);
  EXPECT_EQ(GetOne(id).output, "fresh");
}

// The token is the fence when the worker id cannot tell the attempts apart: the same worker
// claimed the task again after its first lease was reaped, or the DONE comes from a
// connection the broker no longer knows (worker id "", a frozen or cut-off worker resuming).
TEST_F(StoreTest, TheTokenAloneFencesOffAnOldAttemptOfTheSameWorker) {
  auto s = Spec();
  s.backoff = BackoffPolicy{0, 0, 1.0, false};
  std::string id = EnqueueOne(s);
  auto first = ClaimOk(1, {"default"}, {}, "w1", 1000).at(0);
  clock_.Advance(1001);
  auto reaped = Await<FinishResult>([&](auto cb) { store_->Reap(100, cb); });
  ASSERT_TRUE(reaped.has_value());
  ASSERT_EQ(reaped->items.size(), 1u);
  ASSERT_TRUE(Await<PromoteResult>([&](auto cb) { store_->Promote(10, cb); }).has_value());
  auto second = ClaimOk(1, {"default"}, {}, "w1").at(0);
  ASSERT_EQ(second.task_id, id);
  ASSERT_EQ(second.attempt, 2u);
  ASSERT_NE(second.token, first.token);
  for (const std::string worker : {"w1", ""}) {
    auto late = FinishOk({Ok(first, "late-" + worker)}, worker);
    EXPECT_EQ(late.items.at(0).status, FinishStatus::kStale) << "as '" << worker << "'";
    EXPECT_EQ(GetOne(id).state, TaskState::kRunning) << "as '" << worker << "'";
  }
  EXPECT_EQ(StatsOf("default").stale, 2u);
  EXPECT_EQ(StatsOf("default").stats.succeeded, 0u);
  // The live attempt is still the one that records.
  EXPECT_EQ(FinishOk({Ok(second, "live")}, "w1").items.at(0).status, FinishStatus::kSucceeded);
  EXPECT_EQ(GetOne(id).output, "live");
}

TEST_F(StoreTest, AWorkerCannotRecordAResultForAnotherWorkersLease) {
  std::string id = EnqueueOne(Spec());
  auto claimed = ClaimOk(1, {"default"}, {}, "w1").at(0);
  // Right token, wrong worker: refused as stale, nothing recorded.
  EXPECT_EQ(FinishOk({Ok(claimed, "forged")}, "intruder").items.at(0).status, FinishStatus::kStale);
  EXPECT_EQ(GetOne(id).state, TaskState::kRunning);
  // "" (a sender that never registered) matches no lease, even with the right token.
  EXPECT_EQ(FinishOk({Ok(claimed, "forged")}, "").items.at(0).status, FinishStatus::kStale);
  EXPECT_EQ(GetOne(id).state, TaskState::kRunning);
  EXPECT_EQ(FinishOk({Ok(claimed, "real")}, "w1").items.at(0).status, FinishStatus::kSucceeded);
  EXPECT_EQ(GetOne(id).output, "real");
}

// Issue 13: the token was the attempt counter, 1 on every first attempt, so anyone could
// forge a first attempt's result. Tokens are random 64-bit values now.
TEST_F(StoreTest, FencingTokensAreRandomNotAttemptCounters) {
  constexpr int kTasks = 64;
  std::vector<protocol::TaskSpec> specs(kTasks, Spec());
  for (auto& s : specs) EnqueueOne(s);
  auto claimed = ClaimOk(kTasks);
  ASSERT_EQ(claimed.size(), static_cast<size_t>(kTasks));
  std::set<uint64_t> tokens;
  size_t small = 0;
  for (const auto& t : claimed) {
    EXPECT_EQ(t.attempt, 1u);
    tokens.insert(t.token);
    small += t.token < (uint64_t{1} << 32) ? 1 : 0;
  }
  EXPECT_EQ(tokens.size(), claimed.size()) << "tokens repeat";
  // Each token is below 2^32 with probability 2^-32: a counter would be below 65.
  EXPECT_EQ(small, 0u);
  // Above 2^53 the token would be rounded by a Lua number; it must come back exact.
  auto done = FinishOk({Ok(claimed[0], "x")});
  EXPECT_EQ(done.items.at(0).status, FinishStatus::kSucceeded);
  // Retried attempts get fresh tokens, and an old one stays stale.
  auto failed = FinishOk({Fail(claimed[1], true)});
  ASSERT_EQ(failed.items.at(0).status, FinishStatus::kRetry);
  clock_.Advance(3'600'000);
  ASSERT_TRUE(Await<PromoteResult>([&](auto cb) { store_->Promote(10, cb); }).has_value());
  auto again = ClaimOk(1).at(0);
  EXPECT_EQ(again.task_id, claimed[1].task_id);
  EXPECT_EQ(again.attempt, 2u);
  EXPECT_NE(again.token, claimed[1].token);
  EXPECT_EQ(FinishOk({Ok(claimed[1], "old")}).items.at(0).status, FinishStatus::kStale);
  EXPECT_EQ(FinishOk({Ok(again, "new")}).items.at(0).status, FinishStatus::kSucceeded);
}

// With CURVE, tasks carry their submitter's key: reads and cancels limited to an owner see
// another owner's tasks and batches as unknown, and leave them alone.
TEST_F(StoreTest, OwnerFilterHidesAndProtectsOtherOwnersTasks) {
  std::vector<protocol::TaskSpec> specs = {Spec(), Spec()};
  specs[0].id = "owned-by-a";
  specs[1].id = "owned-by-b";
  auto added = Await<EnqueueResult>(
      [&](auto cb) { store_->Enqueue(specs, cb, {"key-a", "key-b"}); });
  ASSERT_TRUE(added.has_value()) << added.error().ToString();
  auto get = [&](const std::string& owner) {
    auto r = Await<std::vector<std::optional<protocol::TaskInfo>>>(
        [&](auto cb) { store_->Get({"owned-by-a", "owned-by-b"}, cb, owner); });
    EXPECT_TRUE(r.has_value());
    std::vector<bool> seen;
    for (const auto& t : *r) seen.push_back(t.has_value());
    return seen;
  };
  EXPECT_EQ(get("key-a"), (std::vector<bool>{true, false}));
  EXPECT_EQ(get("key-b"), (std::vector<bool>{false, true}));
  EXPECT_EQ(get(""), (std::vector<bool>{true, true}));
  auto cancel = Await<CancelResult>(
      [&](auto cb) { store_->Cancel({"owned-by-a", "owned-by-b"}, "x", cb, "key-b"); });
  ASSERT_TRUE(cancel.has_value());
  EXPECT_EQ(cancel->items.at(0).status, CancelStatus::kNotFound);
  EXPECT_EQ(cancel->items.at(1).status, CancelStatus::kCancelled);
  EXPECT_EQ(GetOne("owned-by-a").state, TaskState::kQueued);

  protocol::TaskSpec member = Spec();
  member.id = "member-1";
  member.name = "only";
  auto batch = Await<EnqueueResult>(
      [&](auto cb) { store_->EnqueueBatch("batch-of-a", {}, {member}, cb, "key-a"); });
  ASSERT_TRUE(batch.has_value()) << batch.error().ToString();
  auto read_batch = [&](const std::string& owner) {
    auto r = Await<std::optional<protocol::BatchStatus>>(
        [&](auto cb) { store_->GetBatch("batch-of-a", cb, owner); });
    EXPECT_TRUE(r.has_value());
    return r && r->has_value();
  };
  EXPECT_TRUE(read_batch("key-a"));
  EXPECT_FALSE(read_batch("key-b"));
  EXPECT_TRUE(read_batch(""));
}

// Issue 13, reach through ids: with owners, depends_on finds only the submitter's own tasks
// (another owner's is as unknown as a missing one) and idempotency keys are per owner; without
// owners (no CURVE) both work as before.
TEST_F(StoreTest, DependsOnAndIdempotencyKeysStayWithinTheirOwner) {
  auto enqueue = [&](protocol::TaskSpec spec, const std::string& owner) {
    auto r = Await<EnqueueResult>([&](auto cb) { store_->Enqueue({spec}, cb, {owner}); });
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? r->items.at(0) : EnqueueOutcome{};
  };
  protocol::TaskSpec parent = Spec();
  parent.id = "parent-of-a";
  ASSERT_FALSE(enqueue(parent, "key-a").error);
  auto child_of = [&](const std::string& parent_id, const std::string& id) {
    protocol::TaskSpec c = Spec();
    c.id = id;
    c.depends_on = {parent_id};
    return c;
  };
  auto foreign = enqueue(child_of("parent-of-a", "child-of-b"), "key-b");
  auto missing = enqueue(child_of("no-such-task", "child-of-nothing"), "key-b");
  ASSERT_TRUE(foreign.error && missing.error);
  EXPECT_EQ(foreign.error->code, ErrorCode::kNotFound);
  EXPECT_EQ(foreign.error->message, "parent task parent-of-a not found");
  EXPECT_EQ(missing.error->message, "parent task no-such-task not found");
  auto stored = Await<std::vector<std::optional<protocol::TaskInfo>>>(
      [&](auto cb) { store_->Get({"child-of-b"}, cb); });
  ASSERT_TRUE(stored.has_value());
  EXPECT_FALSE(stored->at(0).has_value());  // nothing stored
  EXPECT_FALSE(enqueue(child_of("parent-of-a", "child-of-a"), "key-a").error);
  EXPECT_EQ(GetOne("child-of-a").state, TaskState::kBlocked);

  protocol::TaskSpec idem = Spec();
  idem.idempotency_key = "order-17";
  auto a1 = enqueue(idem, "key-a");
  auto b1 = enqueue(idem, "key-b");
  auto a2 = enqueue(idem, "key-a");
  auto b2 = enqueue(idem, "key-b");
  EXPECT_FALSE(a1.duplicate || b1.duplicate);
  EXPECT_NE(a1.id, b1.id);  // two owners, two tasks
  EXPECT_TRUE(a2.duplicate && b2.duplicate);
  EXPECT_EQ(a2.id, a1.id);
  EXPECT_EQ(b2.id, b1.id);
  // No owner: one key for everyone, as before CURVE.
  auto n1 = enqueue(idem, "");
  auto n2 = enqueue(idem, "");
  EXPECT_FALSE(n1.duplicate);
  EXPECT_TRUE(n2.duplicate);
  EXPECT_EQ(n2.id, n1.id);
  EXPECT_FALSE(enqueue(child_of("parent-of-a", "child-of-anyone"), "").error);
}

// The Lua backoff must equal BackoffPolicy::DelayFor for every attempt, with and without
// jitter; the clock is fake and the jitter seed fixed, so the schedule is exact.
TEST_F(StoreTest, BackoffScheduleMatchesTheSharedFormula) {
  for (bool jitter : {false, true}) {
    auto s = Spec();
    s.max_attempts = 8;
    s.backoff = BackoffPolicy{100, 5000, 3.0, jitter};
    std::string id = EnqueueOne(s);
    const double seed = 0.3141;
    store_->SetJitterSource([seed] { return seed; });
    for (uint32_t attempt = 1; attempt < 8; ++attempt) {
      auto m = ClaimOk(1).at(0);
      ASSERT_EQ(m.attempt, attempt);
      auto r = FinishOk({Fail(m, true)});
      ASSERT_EQ(r.items.at(0).status, FinishStatus::kRetry);
      uint64_t want = s.backoff.DelayFor(attempt, Store::JitterUnit(seed, 1));
      EXPECT_EQ(r.items[0].ready_at_ms - clock_.NowMs(), static_cast<int64_t>(want))
          << "attempt " << attempt << " jitter " << jitter;
      EXPECT_TRUE(ClaimOk(1).empty());  // not before its time
      clock_.Set(r.items[0].ready_at_ms);
      auto p = Await<PromoteResult>([&](auto cb) { store_->Promote(10, cb); });
      ASSERT_TRUE(p.has_value());
      ASSERT_EQ(p->promoted, 1u);
    }
    auto last = ClaimOk(1).at(0);
    EXPECT_EQ(FinishOk({Fail(last, true)}).items.at(0).status, FinishStatus::kDead);
    EXPECT_EQ(GetOne(id).state, TaskState::kFailed);
  }
  EXPECT_EQ(StatsOf("default").stats.retried, 14u);
}

TEST_F(StoreTest, DeadLetterAfterMaxAttemptsKeepsHistory) {
  auto s = Spec();
  s.max_attempts = 3;
  s.backoff = BackoffPolicy{10, 10, 1.0, false};
  std::string id = EnqueueOne(s);
  for (int i = 0; i < 3; ++i) {
    auto m = ClaimOk(1).at(0);
    auto r = FinishOk({Fail(m, true, "err" + std::to_string(i))});
    EXPECT_EQ(r.items.at(0).status, i < 2 ? FinishStatus::kRetry : FinishStatus::kDead);
    clock_.Advance(10);
    ASSERT_TRUE(Await<PromoteResult>([&](auto cb) { store_->Promote(10, cb); }).has_value());
  }
  auto info = GetOne(id);
  EXPECT_EQ(info.state, TaskState::kFailed);
  EXPECT_EQ(info.attempts, 3u);
  ASSERT_EQ(info.history.size(), 3u);
  EXPECT_EQ(info.history[0].code, "err0");
  EXPECT_EQ(info.history[2].code, "err2");
  ASSERT_TRUE(info.error.has_value());
  EXPECT_EQ(info.error->code, "err2");
  auto st = StatsOf("default");
  EXPECT_EQ(st.stats.dead, 1u);
  EXPECT_EQ(st.stats.failed, 1u);
  auto dead =
      Await<std::vector<protocol::TaskInfo>>([&](auto cb) { store_->DeadList("", 10, cb); });
  ASSERT_TRUE(dead.has_value());
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].id, id);
  EXPECT_EQ((*dead)[0].history.size(), 3u);
}

TEST_F(StoreTest, NonRetryableFailureGoesStraightToDead) {
  std::string id = EnqueueOne(Spec());
  auto m = ClaimOk(1).at(0);
  EXPECT_EQ(FinishOk({Fail(m, false)}).items.at(0).status, FinishStatus::kDead);
  EXPECT_EQ(GetOne(id).state, TaskState::kFailed);
}

TEST_F(StoreTest, ReapedLeasesComeBack) {
  auto s = Spec();
  s.backoff = BackoffPolicy{0, 0, 1.0, false};
  std::string id = EnqueueOne(s);
  ClaimOk(1, {"default"}, {}, "w1", 5000);
  auto none = Await<FinishResult>([&](auto cb) { store_->Reap(100, cb); });
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->items.empty());
  EXPECT_EQ(none->next_deadline_ms, clock_.NowMs() + 5000);
  // A heartbeat pushes the deadline forward.
  clock_.Advance(4000);
  auto ext = Await<ExtendResult>([&](auto cb) { store_->Extend("w1", 5000, cb); });
  ASSERT_TRUE(ext.has_value());
  EXPECT_EQ(ext->extended, 1u);
  clock_.Advance(4000);
  none = Await<FinishResult>([&](auto cb) { store_->Reap(100, cb); });
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->items.empty());
  clock_.Advance(1001);
  auto r = Await<FinishResult>([&](auto cb) { store_->Reap(100, cb); });
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->items.size(), 1u);
  EXPECT_EQ(r->items[0].status, FinishStatus::kRetry);
  EXPECT_EQ(r->next_deadline_ms, -1);
  EXPECT_EQ(GetOne(id).error->code, "lease_expired");
  ASSERT_TRUE(Await<PromoteResult>([&](auto cb) { store_->Promote(10, cb); }).has_value());
  auto again = ClaimOk(1, {"default"}, {}, "w2");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].task_id, id);
  EXPECT_EQ(again[0].attempt, 2u);
}

TEST_F(StoreTest, LeaseNeverOutlivesTimeoutPlusGrace) {
  auto s = Spec();
  s.timeout_ms = 1000;
  std::string id = EnqueueOne(s);
  ClaimOk(1, {"default"}, {}, "w1", 60000);
  clock_.Advance(900);
  ASSERT_TRUE(Await<ExtendResult>([&](auto cb) { store_->Extend("w1", 60000, cb); }).has_value());
  clock_.Advance(100 + store_->options().lease_grace_ms);
  auto r = Await<FinishResult>([&](auto cb) { store_->Reap(100, cb); });
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->items.size(), 1u);
  EXPECT_EQ(GetOne(id).error->code, "timeout");
}

TEST_F(StoreTest, ReleaseWorkerFailsAllItsLeasesAtOnce) {
  for (int i = 0; i < 5; ++i) EnqueueOne(Spec());
  auto mine = ClaimOk(3, {"default"}, {}, "w1");
  auto other = ClaimOk(2, {"default"}, {}, "w2");
  auto r = Await<FinishResult>([&](auto cb) { store_->ReleaseWorker("w1", cb); });
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->items.size(), 3u);
  for (const auto& it : r->items) {
    EXPECT_EQ(it.status, FinishStatus::kRetry);
    EXPECT_EQ(GetOne(it.task_id).error->code, "worker_lost");
  }
  EXPECT_EQ(StatsOf("default").stats.running, 2u);
  EXPECT_EQ(StatsOf("default").stats.delayed, 3u);
  EXPECT_EQ(FinishOk({Ok(other[0])}, "w2").items.at(0).status, FinishStatus::kSucceeded);
  EXPECT_EQ(FinishOk({Ok(mine[0])}).items.at(0).status, FinishStatus::kStale);
}

// A worker that moved to another broker re-registers with its running list: the leases it
// lists stay its own (their DONEs are accepted, their leases still extended), the others fail.
TEST_F(StoreTest, ReleaseWorkerKeepsTheLeasesItsReadyLists) {
  for (int i = 0; i < 3; ++i) EnqueueOne(Spec());
  auto mine = ClaimOk(3, {"default"}, {}, "w1");
  ASSERT_EQ(mine.size(), 3u);
  auto r = Await<FinishResult>([&](auto cb) {
    store_->ReleaseWorker("w1", cb, {mine[0].task_id, mine[1].task_id});
  });
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->items.size(), 1u);
  EXPECT_EQ(r->items[0].task_id, mine[2].task_id);
  EXPECT_EQ(GetOne(mine[2].task_id).error->code, "worker_lost");
  EXPECT_EQ(StatsOf("default").stats.running, 2u);
  auto extended = Await<ExtendResult>([&](auto cb) { store_->Extend("w1", 60000, cb); });
  ASSERT_TRUE(extended.has_value());
  EXPECT_EQ(extended->extended, 2u);
  EXPECT_EQ(FinishOk({Ok(mine[0])}).items.at(0).status, FinishStatus::kSucceeded);
  EXPECT_EQ(FinishOk({Ok(mine[2])}).items.at(0).status, FinishStatus::kStale);
}

TEST_F(StoreTest, FinishBatchesManyOutcomesInOneCall) {
  std::vector<protocol::TaskSpec> specs(200, Spec());
  EnqueueOk(specs);
  auto tasks = ClaimOk(200);
  ASSERT_EQ(tasks.size(), 200u);
  std::vector<protocol::Done> done;
  for (size_t i = 0; i < tasks.size(); ++i) {
    done.push_back(i % 2 ? Ok(tasks[i]) : Fail(tasks[i], false));
  }
  auto r = FinishOk(done);
  ASSERT_EQ(r.items.size(), 200u);
  auto st = StatsOf("default");
  EXPECT_EQ(st.stats.succeeded, 100u);
  EXPECT_EQ(st.stats.failed, 100u);
  EXPECT_EQ(st.stats.dead, 100u);
}

}  // namespace
}  // namespace taskmill::broker
