// LIST and UPDATE against a real redis-server (list.lua, update.lua): every state of
// docs/protocol.md 7.10 is listable from its index, pages neither repeat nor skip, filters
// (type, owner) hold, the work per call is bounded, and UPDATE re-scores, promotes and refuses
// what does not apply.

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "store/batch_resolver.h"
#include "store_test_util.h"

namespace taskmill::broker {
namespace {

class ListStoreTest : public StoreTest {
 protected:
  Result<ListPage> Page(protocol::List req, std::string owner = "", uint32_t scan = 2000) {
    return Await<ListPage>([&](auto cb) { store_->List(req, owner, scan, cb); });
  }
  static protocol::List Req(std::string queue, std::string state, uint32_t limit = 50,
                            std::string type = "") {
    protocol::List l;
    l.queue = std::move(queue);
    l.state = std::move(state);
    l.limit = limit;
    l.type = std::move(type);
    return l;
  }
  // Every page until the cursor is empty; fails on a page error or a cursor that stays put.
  std::vector<std::string> All(protocol::List req, std::string owner = "", uint32_t scan = 2000,
                               int* pages = nullptr) {
    std::vector<std::string> ids;
    std::string last;
    for (int n = 0; n < 1000; ++n) {
      auto p = Page(req, owner, scan);
      EXPECT_TRUE(p.has_value()) << p.error().ToString();
      if (!p) break;
      if (pages) ++*pages;
      for (const auto& t : p->tasks) ids.push_back(t.id);
      for (const auto& b : p->batches) ids.push_back(b.id);
      if (p->next.empty()) break;
      EXPECT_NE(p->next, last) << "the cursor did not move";
      if (p->next == last) break;
      last = req.cursor = p->next;
    }
    return ids;
  }
  static std::set<std::string> Set(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }
  static bool NoDuplicates(const std::vector<std::string>& v) { return Set(v).size() == v.size(); }
  Result<protocol::TaskInfo> Update(std::string id, std::string op, uint32_t prio = 0,
                                    std::string owner = "") {
    protocol::Update u;
    u.id = std::move(id);
    u.op = std::move(op);
    u.priority = prio;
    return Await<protocol::TaskInfo>([&](auto cb) { store_->Update(u, owner, cb); });
  }
};

TEST_F(ListStoreTest, EveryStateIsListedFromItsIndex) {
  auto delayed = Spec("t_wait", 0, "lq");
  delayed.not_before_ms = clock_.NowMs() + 3'600'000;
  std::string d = EnqueueOne(delayed);
  std::string q = EnqueueOne(Spec("t_queued", 0, "lq"));
  std::string r = EnqueueOne(Spec("t_run", 0, "lq"));
  std::string a = EnqueueOne(Spec("t_await", 0, "lq"));
  std::string s = EnqueueOne(Spec("t_ok", 0, "lq"));
  auto fail = Spec("t_fail", 0, "lq");
  fail.max_attempts = 1;
  std::string f = EnqueueOne(fail);
  std::string c = EnqueueOne(Spec("t_cancel", 0, "lq"));
  // A blocked task: its parent waits in the delayed set for an hour.
  auto child = Spec("t_child", 0, "lq");
  child.depends_on = {d};
  std::string b = EnqueueOne(child);

  ASSERT_EQ(ClaimOk(1, {"lq"}, {"t_run"}).size(), 1u);
  auto aw = ClaimOk(1, {"lq"}, {"t_await"});
  ASSERT_EQ(aw.size(), 1u);
  protocol::Done await_done = Ok(aw[0], "");
  await_done.awaiting = true;
  await_done.completion_token = std::string(32, 'a');
  FinishOk({await_done});
  auto ok = ClaimOk(1, {"lq"}, {"t_ok"});
  ASSERT_EQ(ok.size(), 1u);
  FinishOk({Ok(ok[0])});
  auto bad = ClaimOk(1, {"lq"}, {"t_fail"});
  ASSERT_EQ(bad.size(), 1u);
  FinishOk({Fail(bad[0], false)});
  auto cancelled = Await<CancelResult>([&](auto cb) { store_->Cancel({c}, "test", cb); });
  ASSERT_TRUE(cancelled.has_value());

  const std::vector<std::pair<std::string, std::string>> want = {
      {"queued", q},     {"delayed", d}, {"blocked", b},   {"running", r},
      {"awaiting", a},   {"succeeded", s}, {"failed", f}, {"cancelled", c}};
  for (const auto& [state, id] : want) {
    auto p = Page(Req("lq", state));
    ASSERT_TRUE(p.has_value()) << state << ": " << p.error().ToString();
    ASSERT_EQ(p->tasks.size(), 1u) << state;
    EXPECT_EQ(p->tasks[0].id, id) << state;
    EXPECT_EQ(protocol::TaskStateName(p->tasks[0].state), state);
    EXPECT_EQ(p->tasks[0].queue, "lq");
    EXPECT_TRUE(p->tasks[0].output.empty()) << "a summary carries no output";
    EXPECT_TRUE(p->next.empty()) << state;
  }
  auto dl = Page(Req("lq", "delayed"));
  ASSERT_TRUE(dl && dl->tasks.size() == 1);
  EXPECT_EQ(dl->tasks[0].ready_at_ms, delayed.not_before_ms);
  auto failed = Page(Req("lq", "failed"));
  ASSERT_TRUE(failed && failed->tasks.size() == 1 && failed->tasks[0].error);
  EXPECT_EQ(failed->tasks[0].error->code, "boom");
  // Another queue's tasks never show, even from the global delayed and lease sets.
  auto other = Page(Req("other", "delayed"));
  ASSERT_TRUE(other.has_value());
  EXPECT_TRUE(other->tasks.empty());
  // The per-state index follows the task: once its parent is cancelled, the child is too,
  // and it is no longer listed as blocked.
  ASSERT_TRUE(Await<CancelResult>([&](auto cb) { store_->Cancel({d}, "test", cb); }));
  EXPECT_EQ(RawInt({"EXISTS", prefix_ + "st:blocked:lq"}), 0) << "left by the transition";
  auto blocked = Page(Req("lq", "blocked"));
  ASSERT_TRUE(blocked.has_value());
  EXPECT_TRUE(blocked->tasks.empty());
}

TEST_F(ListStoreTest, QueuedPagesFollowTheClaimOrderAcrossTypesWithNoRepeatOrSkip) {
  std::vector<std::string> ids;
  for (int i = 0; i < 25; ++i) {
    ids.push_back(EnqueueOne(Spec("t" + std::to_string(i % 3), static_cast<uint8_t>(i % 4), "pq")));
  }
  int pages = 0;
  auto listed = All(Req("pq", "queued", 7), "", 2000, &pages);
  EXPECT_EQ(pages, 4);
  EXPECT_TRUE(NoDuplicates(listed));
  EXPECT_EQ(Set(listed), Set(ids));
  // The order is the claims' order: claim them all and compare.
  std::vector<std::string> claimed;
  for (const auto& m : ClaimOk(25, {"pq"})) claimed.push_back(m.task_id);
  EXPECT_EQ(listed, claimed);
}

TEST_F(ListStoreTest, ANarrowScanStillMergesTheReadySetsExactly) {
  // scan 6 over 3 types: 2 entries of each set per call, so a page may take only what is
  // certainly next (up to the smallest last entry of a set read in full).
  std::vector<std::string> ids;
  for (int i = 0; i < 18; ++i) {
    // Type t0 holds every high-priority task: its whole set comes before the others' heads.
    uint8_t prio = i % 3 == 0 ? 9 : static_cast<uint8_t>(i % 2);
    ids.push_back(EnqueueOne(Spec("t" + std::to_string(i % 3), prio, "nq")));
  }
  auto listed = All(Req("nq", "queued", 7), "", 6);
  EXPECT_TRUE(NoDuplicates(listed));
  std::vector<std::string> claimed;
  for (const auto& m : ClaimOk(18, {"nq"})) claimed.push_back(m.task_id);
  EXPECT_EQ(listed, claimed);
}

TEST_F(ListStoreTest, DelayedTiesAtOneTimeArePagedWithNoRepeatOrSkip) {
  int64_t at = clock_.NowMs() + 60'000;
  std::vector<std::string> ids;
  for (int i = 0; i < 23; ++i) {
    auto s = Spec(i % 2 ? "odd" : "even", 0, "dq");
    s.not_before_ms = at;  // every task at the same score: the ties are ordered by id
    ids.push_back(EnqueueOne(s));
  }
  auto listed = All(Req("dq", "delayed", 4));
  EXPECT_TRUE(NoDuplicates(listed));
  EXPECT_EQ(Set(listed), Set(ids));
  // The type filter keeps only that type, and still reaches the end.
  auto odd = All(Req("dq", "delayed", 3, "odd"));
  EXPECT_EQ(odd.size(), 11u);
  for (const auto& id : odd) EXPECT_EQ(GetOne(id).type, "odd");
  auto queued_odd = All(Req("dq", "queued", 3, "odd"));
  EXPECT_TRUE(queued_odd.empty());
}

TEST_F(ListStoreTest, FinishedListsPageOldestFirst) {
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) ids.push_back(EnqueueOne(Spec("echo", 0, "fq")));
  std::vector<protocol::Done> done;
  for (const auto& m : ClaimOk(12, {"fq"})) done.push_back(Ok(m));
  FinishOk(done);
  auto listed = All(Req("fq", "succeeded", 5));
  EXPECT_EQ(listed, ids);
}

TEST_F(ListStoreTest, AClientSeesOnlyItsOwnTasks) {
  std::vector<protocol::TaskSpec> specs = {Spec("echo", 0, "oq"), Spec("echo", 0, "oq"),
                                           Spec("echo", 0, "oq")};
  auto r = Await<EnqueueResult>(
      [&](auto cb) { store_->Enqueue(specs, cb, {"keyA", "keyB", "keyA"}); });
  ASSERT_TRUE(r.has_value());
  auto mine = All(Req("oq", "queued"), "keyA");
  EXPECT_EQ(mine, (std::vector<std::string>{r->items[0].id, r->items[2].id}));
  EXPECT_EQ(All(Req("oq", "queued"), "keyB").size(), 1u);
  EXPECT_EQ(All(Req("oq", "queued")).size(), 3u);  // an admin (no owner filter)
  // UPDATE follows the same rule: another key's task is not found.
  auto other = Update(r->items[1].id, "priority", 9, "keyA");
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().code, ErrorCode::kNotFound);
}

TEST_F(ListStoreTest, AFilteredPageReadsAtMostScanEntries) {
  // 60 delayed tasks of another queue in front of 3 of ours, in the global delayed set.
  int64_t at = clock_.NowMs() + 60'000;
  for (int i = 0; i < 60; ++i) {
    auto s = Spec("echo", 0, "noise");
    s.not_before_ms = at;
    EnqueueOne(s);
  }
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto s = Spec("echo", 0, "mine");
    s.not_before_ms = at + 1000;
    ids.push_back(EnqueueOne(s));
  }
  auto first = Page(Req("mine", "delayed", 10), "", 10);
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(first->tasks.empty()) << "the first 10 entries are another queue's";
  EXPECT_FALSE(first->next.empty());
  int pages = 0;
  auto mine = All(Req("mine", "delayed", 10), "", 10, &pages);  // ties: in id order
  EXPECT_EQ(mine.size(), 3u);
  EXPECT_EQ(Set(mine), Set(ids));
  EXPECT_GE(pages, 7);
}

TEST_F(ListStoreTest, BatchesAreListedByCreationAndState) {
  auto submit = [&](std::string id) {
    protocol::BatchSpec spec;
    spec.id = std::move(id);
    auto one = Spec("echo", 0, "bq");
    one.name = "only";
    spec.tasks = {one};
    auto r = ResolveBatch(spec);
    ASSERT_TRUE(r.has_value());
    auto e = Await<EnqueueResult>(
        [&](auto cb) { store_->EnqueueBatch(r->batch_id, {}, r->tasks, cb); });
    ASSERT_TRUE(e.has_value()) << e.error().ToString();
  };
  clock_.Advance(1);
  submit("ba");
  clock_.Advance(1);
  submit("bb");
  protocol::List req;
  req.what = "batches";
  req.limit = 1;
  EXPECT_EQ(All(req), (std::vector<std::string>{"ba", "bb"}));
  auto m = ClaimOk(1, {"bq"});
  ASSERT_EQ(m.size(), 1u);
  FinishOk({Ok(m[0])});
  req.state = "succeeded";
  auto done = Page(req);
  ASSERT_TRUE(done && done->batches.size() == 1);
  EXPECT_EQ(done->batches[0].id, "ba");
  EXPECT_EQ(done->batches[0].counts["succeeded"], 1u);
}

TEST_F(ListStoreTest, ACursorOfAnotherStateIsRefused) {
  EnqueueOne(Spec("echo", 0, "cq"));
  auto bad = Req("cq", "queued");
  bad.cursor = "l:3:01JD0000000000000000000001";
  auto r = Page(bad);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  auto unknown = Req("cq", "sleeping");
  auto u = Page(unknown);
  ASSERT_FALSE(u.has_value());
  EXPECT_NE(u.error().message.find("allowed: queued, delayed"), std::string::npos)
      << u.error().message;
}

TEST_F(ListStoreTest, APriorityChangeReordersTheReadySetAndKeepsFifoWithinIt) {
  std::string a = EnqueueOne(Spec("echo", 5, "uq"));
  std::string b = EnqueueOne(Spec("echo", 5, "uq"));
  std::string c = EnqueueOne(Spec("echo", 1, "uq"));
  std::string d = EnqueueOne(Spec("echo", 9, "uq"));
  // c goes up to 5: it was submitted after a and b, so it runs after them, before nothing else.
  auto up = Update(c, "priority", 5);
  ASSERT_TRUE(up.has_value()) << up.error().ToString();
  EXPECT_EQ(up->priority, 5);
  EXPECT_EQ(up->state, protocol::TaskState::kQueued);
  // a goes down to 0: last.
  ASSERT_TRUE(Update(a, "priority", 0).has_value());
  EXPECT_EQ(All(Req("uq", "queued")), (std::vector<std::string>{d, b, c, a}));
  std::vector<std::string> claimed;
  for (const auto& m : ClaimOk(4, {"uq"})) claimed.push_back(m.task_id);
  EXPECT_EQ(claimed, (std::vector<std::string>{d, b, c, a}));
}

TEST_F(ListStoreTest, PromoteMakesADelayedTaskReadyAndKeepsItsNewPriority) {
  auto s = Spec("echo", 0, "prq");
  s.not_before_ms = clock_.NowMs() + 3'600'000;
  std::string late = EnqueueOne(s);
  std::string now = EnqueueOne(Spec("echo", 3, "prq"));
  ASSERT_TRUE(Update(late, "priority", 7).has_value());  // kept for when it is ready
  auto p = Update(late, "promote");
  ASSERT_TRUE(p.has_value()) << p.error().ToString();
  EXPECT_EQ(p->state, protocol::TaskState::kQueued);
  EXPECT_EQ(p->priority, 7);
  EXPECT_EQ(StatsOf("prq").stats.delayed, 0u);
  auto m = ClaimOk(2, {"prq"});
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].task_id, late);
  EXPECT_EQ(m[1].task_id, now);
  // Running now: neither op applies, and the error names the state.
  auto again = Update(late, "promote");
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_NE(again.error().message.find("running"), std::string::npos);
  auto prio = Update(late, "priority", 1);
  ASSERT_FALSE(prio.has_value());
  EXPECT_EQ(prio.error().code, ErrorCode::kConflict);
  auto missing = Update("01JD0000000000000000000099", "promote");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace taskmill::broker
