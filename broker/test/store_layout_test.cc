// The store's layout version (issue 15): an empty store gets the current version, a store
// written by the previous layout (commit 56a6702, whose scripts are in fixtures/lua_v1 and
// write the v1 store here exactly as they did) is migrated at start with every task still
// served once, a newer store is refused, and concurrent or interrupted migrations end in
// the same state as one clean run.

#include "store/store_layout.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "store/batch_resolver.h"
#include "store_test_util.h"
#include "test_paths.h"  // TASKMILL_SOURCE_DIR, TASKMILL_BUILD_DIR

namespace taskmill::broker {
namespace {

std::string ReadFixture(const std::string& path) {
  std::ifstream in(std::string(TASKMILL_SOURCE_DIR) + "/broker/test/fixtures/" + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The verbs of an older layout (`dir` under fixtures/), each with its prelude in front, as
// that build embedded them, run under today's contract by legacy_adapter.lua.
std::vector<LuaScript>* OldScripts(const std::string& dir) {
  auto* bodies = new std::vector<std::pair<std::string, std::string>>();
  std::string adapter = ReadFixture("legacy_adapter.lua");
  std::string prelude = ReadFixture(dir + "/prelude.lua");
  for (const char* name : {"enqueue", "claim", "finish", "promote"}) {
    bodies->emplace_back(name, adapter + "local function legacy_(ARGV)\n" + prelude +
                                   ReadFixture(dir + "/" + name + ".lua") +
                                   "\nend\nreturn adapt_('" + name + "', legacy_(argv_('" +
                                   name + "')))\n");
  }
  auto* s = new std::vector<LuaScript>();
  for (const auto& [name, body] : *bodies) s->push_back({name, body});
  return s;
}

std::span<const LuaScript> V1Scripts() {
  static const auto* scripts = OldScripts("lua_v1");
  return *scripts;
}

std::span<const LuaScript> V3Scripts() {
  static const auto* scripts = OldScripts("lua_v3");
  return *scripts;
}

// Layout 4's verbs (commit a2ffc26, fixtures/lua_v4): today's contract already, so each is
// record.lua + prelude.lua + the verb, as that build embedded them.
std::span<const LuaScript> V4Scripts() {
  static const auto* scripts = [] {
    auto* bodies = new std::vector<std::pair<std::string, std::string>>();
    std::string lib = ReadFixture("lua_v4/record.lua") + ReadFixture("lua_v4/prelude.lua");
    for (const char* name : {"enqueue", "claim", "finish", "promote"}) {
      bodies->emplace_back(name, lib + ReadFixture(std::string("lua_v4/") + name + ".lua"));
    }
    auto* s = new std::vector<LuaScript>();
    for (const auto& [name, body] : *bodies) s->push_back({name, body});
    return s;
  }();
  return *scripts;
}

// What BuildV1Store wrote, for the checks after the migration.
struct V1Store {
  std::vector<std::string> ready_order;  // "default"'s ready tasks, in the order due
  std::vector<std::string> delayed;      // due at +5 s, queued behind the child once promoted
  std::string parent;                    // running (its v1 claim's token in parent_token)
  uint64_t parent_token = 0;
  std::string child;  // blocked on the parent
  std::string dead;
  std::vector<std::string> other;  // "other": one ready task per type
};

class StoreLayoutTest : public StoreTest {
 protected:
  StoreLayoutOptions Layout(uint32_t chunk = 3) {
    StoreLayoutOptions o;
    o.prefix = prefix_;
    o.chunk = chunk;
    o.poll_ms = 5;
    o.lock_ttl_ms = 2000;
    return o;
  }
  Result<LayoutOutcome> Ensure(const StoreLayoutOptions& o) {
    return EnsureStoreLayout(server().config(), o);
  }
  std::string RawString(std::vector<std::string> args) {
    auto r = Await<std::string>([&](auto cb) {
      conn_->Command(args, [cb](Result<const redisReply*> rr) {
        if (!rr || (*rr)->type != REDIS_REPLY_STRING) return cb(std::string("<none>"));
        cb(std::string((*rr)->str, (*rr)->len));
      });
    });
    return r ? *r : "<error>";
  }

  // Writes a v1 store through the v1 scripts: ready tasks of two types and three priorities,
  // delayed, blocked, running, dead and succeeded tasks, a queue that holds nothing any more,
  // types whose ready zsets are empty, and a queue of many types (several chunks).
  V1Store BuildV1Store() {
    StoreOptions o;
    o.prefix = prefix_;
    Store old(*conn_, clock_, o, V1Scripts());
    EXPECT_TRUE(Until([&] { return conn_->in_flight() == 0; }));
    auto enqueue = [&](std::vector<protocol::TaskSpec> specs) {
      auto r = Await<EnqueueResult>([&](auto cb) { old.Enqueue(std::move(specs), cb); });
      EXPECT_TRUE(r.has_value()) << r.error().ToString();
      std::vector<std::string> ids;
      if (r) {
        for (const auto& item : r->items) ids.push_back(item.id);
      }
      return ids;
    };
    auto claim = [&](std::string queue, std::string type) {
      ClaimRequest req{"w1", {std::move(queue)}, {std::move(type)}, 10, 600000};
      auto r = Await<ClaimResult>([&](auto cb) { old.Claim(req, cb); });
      EXPECT_TRUE(r.has_value()) << r.error().ToString();
      return r ? r->tasks : std::vector<protocol::TaskMsg>{};
    };
    auto finish = [&](std::vector<protocol::Done> done) {
      auto r = Await<FinishResult>([&](auto cb) { old.Finish("w1", std::move(done), cb); });
      EXPECT_TRUE(r.has_value()) << r.error().ToString();
    };

    V1Store v;
    // Ready, in submit order: a0 a0 a5 b9 a5 a0 b0. Due order: b9, a5 a5, a0 a0 b0... by seq.
    auto ids = enqueue({Spec("a", 0), Spec("a", 0), Spec("a", 5), Spec("b", 9), Spec("a", 5),
                        Spec("a", 0), Spec("b", 0)});
    EXPECT_EQ(ids.size(), 7u);
    if (ids.size() == 7) v.ready_order = {ids[3], ids[2], ids[4], ids[0], ids[1], ids[5], ids[6]};
    auto later = Spec("a", 0);
    later.not_before_ms = clock_.NowMs() + 5000;
    v.delayed = enqueue({later, later});
    v.parent = enqueue({Spec("p")}).at(0);
    auto child = Spec("c");
    child.depends_on = {v.parent};
    v.child = enqueue({child}).at(0);
    auto running = claim("default", "p");
    EXPECT_EQ(running.size(), 1u);
    if (!running.empty()) v.parent_token = running[0].token;
    auto once = Spec("d");
    once.max_attempts = 1;
    v.dead = enqueue({once}).at(0);
    auto d = claim("default", "d");
    EXPECT_EQ(d.size(), 1u);
    if (!d.empty()) finish({Fail(d[0], false)});
    enqueue({Spec("s")});
    auto s = claim("default", "s");
    EXPECT_EQ(s.size(), 1u);
    if (!s.empty()) finish({Ok(s[0])});
    // A queue whose only task finished: it holds nothing.
    enqueue({Spec("x", 0, "idle")});
    auto x = claim("idle", "x");
    EXPECT_EQ(x.size(), 1u);
    if (!x.empty()) finish({Ok(x[0])});
    // Many types, several gone (claimed) and twelve ready.
    std::vector<protocol::TaskSpec> many;
    for (int i = 0; i < 12; ++i) many.push_back(Spec("t" + std::to_string(i), 0, "other"));
    v.other = enqueue(many);
    for (int i = 0; i < 5; ++i) {
      std::string ty = "gone" + std::to_string(i);
      enqueue({Spec(ty, 0, "other")});
      EXPECT_EQ(claim("other", ty).size(), 1u);
    }
    EXPECT_TRUE(Until([&] { return conn_->in_flight() == 0; }));
    // The v1 layout, as written: the queue set, every type kept, no ready gauge.
    EXPECT_EQ(RawInt({"SCARD", prefix_ + "queues"}), 3);
    EXPECT_EQ(RawInt({"SCARD", prefix_ + "types:other"}), 17);
    EXPECT_EQ(RawInt({"HEXISTS", prefix_ + "stats:default", "queued"}), 0);
    EXPECT_EQ(RawInt({"EXISTS", prefix_ + "layout"}), 0);
    return v;
  }

  // Everything BuildV1Store left is served exactly once, in priority order, by today's
  // scripts; STATS and the dead letters read right.
  void ExpectServedOnce(const V1Store& v) {
    auto st = StatsOf("default");
    EXPECT_EQ(st.stats.ready, 7u);
    EXPECT_EQ(st.stats.delayed, 2u);
    EXPECT_EQ(st.stats.running, 1u);
    EXPECT_EQ(st.blocked, 1u);
    EXPECT_EQ(st.stats.dead, 1u);
    EXPECT_EQ(st.stats.submitted, 13u);
    EXPECT_EQ(st.stats.succeeded, 1u);
    EXPECT_EQ(StatsOf("other").stats.ready, 12u);
    EXPECT_EQ(StatsOf("idle").stats.ready, 0u);
    // qindex knows every queue, so STATS of all of them and the dead letters see them.
    auto all = Await<std::vector<QueueCounters>>([&](auto cb) { store_->Stats({}, cb); });
    ASSERT_TRUE(all.has_value());
    EXPECT_EQ(all->size(), 3u);
    auto dead =
        Await<std::vector<protocol::TaskInfo>>([&](auto cb) { store_->DeadList("", 10, cb); });
    ASSERT_TRUE(dead.has_value());
    ASSERT_EQ(dead->size(), 1u);
    EXPECT_EQ((*dead)[0].id, v.dead);
    // The type sets list only types with ready tasks; the idle queue is filed idle.
    EXPECT_EQ(RawInt({"SCARD", prefix_ + "types:default"}), 2);  // a, b (p, d, s, c: none)
    EXPECT_EQ(RawInt({"SCARD", prefix_ + "types:other"}), 12);
    EXPECT_EQ(RawString({"ZSCORE", prefix_ + "qidle", "idle"}) != "<none>", true);
    EXPECT_EQ(RawString({"ZSCORE", prefix_ + "qidle", "default"}), "<none>");
    EXPECT_EQ(RawInt({"EXISTS", prefix_ + "queues"}), 0);
    EXPECT_EQ(RawString({"GET", prefix_ + "layout"}), std::to_string(kStoreLayoutVersion));

    // The running v1 attempt's token still fences: its DONE is accepted, the child released.
    protocol::Done done;
    done.task_id = v.parent;
    done.token = v.parent_token;
    done.ok = true;
    auto fin = FinishOk({done});
    ASSERT_EQ(fin.items.size(), 1u);
    EXPECT_EQ(fin.items[0].status, FinishStatus::kSucceeded);
    clock_.Advance(5001);
    auto promoted = Await<PromoteResult>([&](auto cb) { store_->Promote(100, cb); });
    ASSERT_TRUE(promoted.has_value());
    EXPECT_EQ(promoted->promoted, 2u);

    std::vector<std::string> expected = v.ready_order;
    expected.push_back(v.child);
    // Both delayed tasks fall due at the same ms: promote takes them in id order.
    std::vector<std::string> delayed = v.delayed;
    std::sort(delayed.begin(), delayed.end());
    for (const auto& id : delayed) expected.push_back(id);
    std::vector<std::string> got;
    for (size_t i = 0; i < expected.size() + 2; ++i) {
      auto one = ClaimOk(1);
      if (one.empty()) break;
      got.push_back(one[0].task_id);
      FinishOk({Ok(one[0])});
    }
    EXPECT_EQ(got, expected);
    auto rest = ClaimOk(100, {"other"});
    std::set<std::string> other;
    for (const auto& m : rest) other.insert(m.task_id);
    EXPECT_EQ(other, std::set<std::string>(v.other.begin(), v.other.end()));
    EXPECT_EQ(rest.size(), v.other.size());
    EXPECT_TRUE(ClaimOk(100, {"default", "other", "idle"}).empty());
    auto end = StatsOf("default");
    EXPECT_EQ(end.stats.ready + end.stats.delayed + end.stats.running + end.blocked, 0u);
    EXPECT_EQ(end.stats.succeeded, 1u + 1u + expected.size());
    EXPECT_EQ(StatsOf("other").stats.ready, 0u);
  }
};

TEST_F(StoreLayoutTest, AnEmptyStoreGetsTheCurrentVersion) {
  auto r = Ensure(Layout());
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->found_version, kStoreLayoutVersion);
  EXPECT_FALSE(r->migrated_here);
  EXPECT_EQ(RawString({"GET", prefix_ + "layout"}), std::to_string(kStoreLayoutVersion));
}

TEST_F(StoreLayoutTest, AVersionTwoStoreFromBeforeTheKeyIsReadAsTwo) {
  // Written by a v2 broker older than the version key: qindex, gauges, pruned types.
  std::string id = EnqueueOne(Spec("a"));
  ASSERT_EQ(RawInt({"DEL", prefix_ + "layout"}), 0);
  auto r = Ensure(Layout());
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->found_version, 2);
  EXPECT_EQ(r->queues, 0);  // not taken for v1
  // Its record is already the lean one (written by today's scripts): left as it is.
  EXPECT_EQ(r->records_converted, 0);
  EXPECT_EQ(r->records_found, 1);
  EXPECT_EQ(RawString({"GET", prefix_ + "layout"}), std::to_string(kStoreLayoutVersion));
  EXPECT_EQ(StatsOf("default").stats.ready, 1u);
  auto got = ClaimOk(10);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].task_id, id);
  EXPECT_EQ(got[0].queue, "default");
  EXPECT_EQ(got[0].type, "a");
  EXPECT_EQ(got[0].payload, "p");
}

// v2 kept every idempotency key at idem:<key>; v3 keeps an owned task's at idem@<owner>:<key>.
// Without the step, a client retrying a submit across the upgrade would get a second task.
TEST_F(StoreLayoutTest, AVersionTwoStoreGetsItsIdempotencyKeysMovedUnderTheirOwner) {
  StoreOptions o;
  o.prefix = prefix_;
  Store old(*conn_, clock_, o, V3Scripts());  // v2 and v3 wrote the same task records
  ASSERT_TRUE(Until([&] { return conn_->in_flight() == 0; }));
  auto enqueue_with = [&](Store& store, const std::string& key, const std::string& owner) {
    protocol::TaskSpec spec = Spec();
    spec.idempotency_key = key;
    auto r = Await<EnqueueResult>([&](auto cb) { store.Enqueue({spec}, cb, {owner}); });
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? r->items.at(0) : EnqueueOutcome{};
  };
  auto enqueue = [&](const std::string& key, const std::string& owner) {
    return enqueue_with(*store_, key, owner);
  };
  auto owned = enqueue_with(old, "order-1", "key-a");
  auto shared = enqueue_with(old, "order-2", "");
  // Back to how v2 wrote them.
  RawString({"RENAME", prefix_ + "idem@key-a:order-1", prefix_ + "idem:order-1"});
  ASSERT_EQ(RawInt({"EXISTS", prefix_ + "idem:order-1"}), 1);
  RawString({"SET", prefix_ + "layout", "2"});
  auto r = Ensure(Layout(1));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->found_version, 2);
  EXPECT_TRUE(r->migrated_here);
  EXPECT_EQ(r->idem_moved, 1);
  EXPECT_EQ(r->idem_kept, 1);
  EXPECT_EQ(RawString({"GET", prefix_ + "layout"}), std::to_string(kStoreLayoutVersion));
  EXPECT_EQ(RawInt({"EXISTS", prefix_ + "idem:order-1"}), 0);
  EXPECT_GT(RawInt({"PTTL", prefix_ + "idem@key-a:order-1"}), 0);  // the TTL went along
  EXPECT_EQ(RawInt({"EXISTS", prefix_ + "layout:mig3"}), 0);
  auto again = enqueue("order-1", "key-a");
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.id, owned.id);
  EXPECT_FALSE(enqueue("order-1", "key-b").duplicate);
  auto shared_again = enqueue("order-2", "");
  EXPECT_TRUE(shared_again.duplicate);
  EXPECT_EQ(shared_again.id, shared.id);
}

TEST_F(StoreLayoutTest, AV1StoreIsMigratedAndEveryTaskServedOnceInPriorityOrder) {
  V1Store v = BuildV1Store();
  auto r = Ensure(Layout());
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->found_version, 1);
  EXPECT_TRUE(r->migrated_here);
  EXPECT_EQ(r->queues, 3);
  EXPECT_EQ(r->queued, 7 + 12);
  EXPECT_EQ(r->types_kept, 2 + 12);
  EXPECT_EQ(r->types_dropped, 4 + 1 + 5);  // default: p c d s; idle: x; other: gone0-4
  ExpectServedOnce(v);
  // A second start finds the current version and does nothing.
  auto again = Ensure(Layout());
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->found_version, kStoreLayoutVersion);
  EXPECT_FALSE(again->migrated_here);
}

// v3 wrote the spec and the result field by field; v4 keeps them as one encoded value each
// (record.lua). Every kind of task a v3 store holds is read and served the same afterwards:
// the spec (payload, labels, priority order), the running task's fence, the result and
// costs of a finished task and its TTL, a dead letter's history, a blocked child's release
// with its parent's output, a delayed task's due time.
TEST_F(StoreLayoutTest, AVersionThreeStoreGetsTheLeanRecordAndServesEveryTask) {
  StoreOptions o;
  o.prefix = prefix_;
  Store old(*conn_, clock_, o, V3Scripts());
  ASSERT_TRUE(Until([&] { return conn_->in_flight() == 0; }));
  auto enqueue = [&](protocol::TaskSpec spec) {
    auto r = Await<EnqueueResult>([&](auto cb) { old.Enqueue({spec}, cb, {"key-a"}); });
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r && !r->items.empty() ? r->items[0].id : std::string();
  };
  auto claim = [&](const std::string& type) {
    ClaimRequest req{"w1", {"default"}, {type}, 10, 600000};
    auto r = Await<ClaimResult>([&](auto cb) { old.Claim(req, cb); });
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? r->tasks : std::vector<protocol::TaskMsg>{};
  };
  auto finish = [&](protocol::Done d) {
    auto r = Await<FinishResult>([&](auto cb) { old.Finish("w1", {d}, cb); });
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
  };
  auto low = Spec("q", 1);
  low.payload = std::string(300, 'x');  // a v3 hash past the listpack value size
  low.labels = {{"team", "a"}, {"env", "prod"}};
  low.timeout_ms = 4000;
  low.backoff = BackoffPolicy{100, 1000, 3.0, false};
  std::string queued_low = enqueue(low);
  std::string queued_high = enqueue(Spec("q", 7));
  auto later = Spec("q", 0);
  later.not_before_ms = clock_.NowMs() + 5000;
  std::string delayed = enqueue(later);
  std::string parent = enqueue(Spec("p"));
  auto child_spec = Spec("c");
  child_spec.depends_on = {parent};
  std::string child = enqueue(child_spec);
  auto running = claim("p");
  ASSERT_EQ(running.size(), 1u);
  auto once = Spec("d");
  once.max_attempts = 1;
  std::string dead = enqueue(once);
  auto d = claim("d");
  ASSERT_EQ(d.size(), 1u);
  finish(Fail(d[0], false));
  std::string done = enqueue(Spec("s"));
  auto s = claim("s");
  ASSERT_EQ(s.size(), 1u);
  protocol::Done ok = Ok(s[0], "result");
  ok.exit_code = 3;
  ok.stdout_data = "so";
  ok.stderr_data = "se";
  ok.duration_ms = 42;
  ok.cost = {{"usd", 0.25}};
  finish(ok);
  ASSERT_TRUE(Until([&] { return conn_->in_flight() == 0; }));
  ASSERT_EQ(RawInt({"HEXISTS", prefix_ + "task:" + queued_low, "queue"}), 1);  // v3 as written
  RawString({"SET", prefix_ + "layout", "3"});

  auto r = Ensure(Layout(1));
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->found_version, 3);
  EXPECT_TRUE(r->migrated_here);
  EXPECT_EQ(r->records_converted, 7);
  EXPECT_EQ(r->records_found, 0);
  EXPECT_EQ(RawString({"GET", prefix_ + "layout"}), std::to_string(kStoreLayoutVersion));
  EXPECT_EQ(RawInt({"EXISTS", prefix_ + "layout:mig4"}), 0);
  EXPECT_EQ(RawInt({"HEXISTS", prefix_ + "task:" + queued_low, "queue"}), 0);
  EXPECT_EQ(RawInt({"HEXISTS", prefix_ + "task:" + queued_low, "l:team"}), 0);

  // The finished task reads as it did, TTL included; the dead letter keeps its history.
  auto fin = GetOne(done);
  EXPECT_EQ(fin.state, protocol::TaskState::kSucceeded);
  EXPECT_EQ(fin.output, "result");
  EXPECT_EQ(fin.exit_code, std::optional<int32_t>(3));
  EXPECT_EQ(fin.stdout_data, "so");
  EXPECT_EQ(fin.stderr_data, "se");
  EXPECT_EQ(fin.duration_ms, 42u);
  EXPECT_EQ(fin.cost, (protocol::CostMap{{"usd", 0.25}}));
  EXPECT_EQ(fin.type, "s");
  EXPECT_EQ(fin.worker, "w1");
  EXPECT_GT(fin.created_ms, 0);
  EXPECT_GT(RawInt({"PTTL", prefix_ + "task:" + done}), 0);
  auto dl = Await<std::vector<protocol::TaskInfo>>([&](auto cb) { store_->DeadList("", 10, cb); });
  ASSERT_TRUE(dl.has_value());
  ASSERT_EQ(dl->size(), 1u);
  EXPECT_EQ((*dl)[0].id, dead);
  ASSERT_EQ((*dl)[0].history.size(), 1u);
  EXPECT_EQ((*dl)[0].history[0].code, "boom");
  auto q = GetOne(queued_low);
  EXPECT_EQ(q.priority, 1);
  EXPECT_EQ(q.max_attempts, low.max_attempts);

  // The running attempt's token still fences; its success releases the child with its output.
  protocol::Done stale = Ok(running[0]);
  stale.token = running[0].token + 1;
  EXPECT_EQ(FinishOk({stale}).items.at(0).status, FinishStatus::kStale);
  EXPECT_EQ(FinishOk({Ok(running[0], "from-parent")}).items.at(0).status,
            FinishStatus::kSucceeded);
  auto c = ClaimOk(1, {"default"}, {"c"});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].task_id, child);
  EXPECT_EQ(c[0].parents, (std::map<std::string, std::string>{{parent, "from-parent"}}));
  // Queued tasks come in priority order with their spec; the delayed one when due.
  auto got = ClaimOk(2, {"default"}, {"q"});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].task_id, queued_high);
  EXPECT_EQ(got[1].task_id, queued_low);
  EXPECT_EQ(got[1].payload, low.payload);
  EXPECT_EQ(got[1].labels, low.labels);
  EXPECT_EQ(got[1].timeout_ms, 4000u);
  // Its backoff came along: a retryable failure is due base (100 ms) later.
  auto retried = FinishOk({Fail(got[1], true)});
  ASSERT_EQ(retried.items.size(), 1u);
  EXPECT_EQ(retried.items[0].status, FinishStatus::kRetry);
  EXPECT_EQ(retried.items[0].ready_at_ms, clock_.NowMs() + 100);
  clock_.Advance(5001);
  auto promoted = Await<PromoteResult>([&](auto cb) { store_->Promote(100, cb); });
  ASSERT_TRUE(promoted.has_value());
  EXPECT_EQ(promoted->promoted, 2u);
  std::set<std::string> due;
  for (const auto& m : ClaimOk(10, {"default"}, {"q"})) due.insert(m.task_id);
  EXPECT_EQ(due, (std::set<std::string>{delayed, queued_low}));
}

// Layout 4 -> 5: done:<queue> (a zset, with a count cap) becomes a list in finish order and
// the count cap and retention keep working on it; a running task's token moves into wl:<worker>; queued, delayed, running (its lease and
// token), blocked batch tasks with a parent and dead letters are served as before.
TEST_F(StoreLayoutTest, AVersionFourStoreGetsItsFinishedTasksListedAndServesEveryTask) {
  StoreOptions o;
  o.prefix = prefix_;
  o.max_finished_per_queue = 3;
  Store old(*conn_, clock_, o, V4Scripts());
  ASSERT_TRUE(Until([&] { return conn_->in_flight() == 0; }));
  auto enqueue = [&](protocol::TaskSpec spec) {
    auto r = Await<EnqueueResult>([&](auto cb) { old.Enqueue({spec}, cb); });
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r && !r->items.empty() ? r->items[0].id : std::string();
  };
  auto claim = [&](const std::string& type) {
    ClaimRequest req{"w1", {"default"}, {type}, 10, 600000};
    auto r = Await<ClaimResult>([&](auto cb) { old.Claim(req, cb); });
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? r->tasks : std::vector<protocol::TaskMsg>{};
  };
  auto finish = [&](protocol::Done d) {
    auto r = Await<FinishResult>([&](auto cb) { old.Finish("w1", {d}, cb); });
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
  };
  std::vector<std::string> done;
  for (int i = 0; i < 5; ++i) {
    done.push_back(enqueue(Spec("s")));
    auto s = claim("s");
    EXPECT_EQ(s.size(), 1u);
    if (!s.empty()) finish(Ok(s[0], "r" + std::to_string(i)));
    clock_.Advance(10);
  }
  std::string queued = enqueue(Spec("q", 3));
  auto later = Spec("q", 0);
  later.not_before_ms = clock_.NowMs() + 5000;
  std::string delayed = enqueue(later);
  auto once = Spec("d");
  once.max_attempts = 1;
  std::string dead = enqueue(once);
  auto d = claim("d");
  ASSERT_EQ(d.size(), 1u);
  finish(Fail(d[0], false));
  // A batch: its parent running under a lease, its child blocked on it.
  protocol::BatchSpec b;
  b.tasks.push_back(Spec("p"));
  b.tasks[0].name = "parent";
  b.tasks.push_back(Spec("c"));
  b.tasks[1].name = "child";
  b.tasks[1].depends_on = {"parent"};
  auto rb = ResolveBatch(b);
  ASSERT_TRUE(rb.has_value());
  auto eb = Await<EnqueueResult>(
      [&](auto cb) { old.EnqueueBatch(rb->batch_id, b.budget, rb->tasks, cb); });
  ASSERT_TRUE(eb.has_value()) << eb.error().ToString();
  auto running = claim("p");
  ASSERT_EQ(running.size(), 1u);
  ASSERT_TRUE(Until([&] { return conn_->in_flight() == 0; }));
  // Layout 4 as written: a zset of the 3 newest, each finished task with a TTL.
  ASSERT_EQ(RawInt({"ZCARD", prefix_ + "done:default"}), 3);
  ASSERT_GT(RawInt({"PTTL", prefix_ + "task:" + done[4]}), 0);
  RawString({"SET", prefix_ + "layout", "4"});

  auto r = Ensure(Layout(1));  // one entry per call: the step spans several calls
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->found_version, 4);
  EXPECT_TRUE(r->migrated_here);
  EXPECT_EQ(r->done_lists, 1);
  EXPECT_EQ(r->done_moved, 3);
  EXPECT_EQ(r->tokens_moved, 1);
  // The running task's token moved from its hash into its worker's lease hash.
  EXPECT_EQ(RawInt({"HEXISTS", prefix_ + "task:" + running[0].task_id, "tok"}), 0);
  EXPECT_EQ(RawString({"HGET", prefix_ + "wl:w1", running[0].task_id}),
            std::to_string(running[0].token));
  EXPECT_EQ(RawInt({"EXISTS", prefix_ + "wleases:w1"}), 0);
  EXPECT_EQ(RawString({"GET", prefix_ + "layout"}), std::to_string(kStoreLayoutVersion));
  EXPECT_EQ(RawInt({"EXISTS", prefix_ + "layout:mig5"}), 0);
  EXPECT_EQ(RawInt({"EXISTS", prefix_ + "layout:mig5:done"}), 0);
  ASSERT_EQ(RawInt({"LLEN", prefix_ + "done:default"}), 3);  // a list now (ZCARD: wrong type)
  EXPECT_EQ(RawString({"LINDEX", prefix_ + "done:default", "0"}), done[2]);  // finish order
  EXPECT_EQ(RawString({"LINDEX", prefix_ + "done:default", "2"}), done[4]);

  store_ = std::make_unique<Store>(*conn_, clock_, o);
  ASSERT_TRUE(Until([&] { return conn_->in_flight() == 0; }));
  EXPECT_EQ(GetOne(done[3]).output, "r3");
  // The running attempt's token still fences; its success releases the blocked child.
  protocol::Done stale = Ok(running[0]);
  stale.token = running[0].token + 1;
  EXPECT_EQ(FinishOk({stale}).items.at(0).status, FinishStatus::kStale);
  EXPECT_EQ(FinishOk({Ok(running[0], "from-parent")}).items.at(0).status,
            FinishStatus::kSucceeded);
  // The cap of 3 holds on the list: the parent's success pushed the oldest listed out.
  EXPECT_EQ(RawInt({"LLEN", prefix_ + "done:default"}), 3);
  EXPECT_EQ(RawInt({"EXISTS", prefix_ + "task:" + done[2]}), 0);
  EXPECT_EQ(RawInt({"EXISTS", prefix_ + "task:" + done[3]}), 1);
  EXPECT_EQ(RawInt({"PTTL", prefix_ + "task:" + running[0].task_id}), -1);  // no TTL of its own
  auto c = ClaimOk(1, {"default"}, {"c"});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].parents, (std::map<std::string, std::string>{{"parent", "from-parent"}}));
  EXPECT_EQ(ClaimOk(1, {"default"}, {"q"}).at(0).task_id, queued);
  clock_.Advance(5001);
  auto promoted = Await<PromoteResult>([&](auto cb) { store_->Promote(100, cb); });
  ASSERT_TRUE(promoted.has_value());
  EXPECT_EQ(promoted->promoted, 1u);
  EXPECT_EQ(ClaimOk(1, {"default"}, {"q"}).at(0).task_id, delayed);
  auto dl = Await<std::vector<protocol::TaskInfo>>([&](auto cb) { store_->DeadList("", 10, cb); });
  ASSERT_TRUE(dl.has_value());
  ASSERT_EQ(dl->size(), 1u);
  EXPECT_EQ((*dl)[0].id, dead);
}

TEST_F(StoreLayoutTest, ARunningTaskFromBeforeRandomTokensKeepsItsAttemptAsToken) {
  // Stores older than random tokens fenced with the attempt counter and kept no `tok`.
  V1Store v = BuildV1Store();
  ASSERT_EQ(RawInt({"HDEL", prefix_ + "task:" + v.parent, "tok"}), 1);
  auto r = Ensure(Layout());
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->fenced, 1);
  protocol::Done done;
  done.task_id = v.parent;
  done.token = 1;  // its first attempt
  done.ok = true;
  auto fin = FinishOk({done});
  ASSERT_EQ(fin.items.size(), 1u);
  EXPECT_EQ(fin.items[0].status, FinishStatus::kSucceeded);
}

TEST_F(StoreLayoutTest, ANewerStoreIsRefusedNamingBothVersions) {
  std::string newer = std::to_string(kStoreLayoutVersion + 1);
  ASSERT_EQ(RawString({"SET", prefix_ + "layout", newer}), "<none>");  // status reply
  auto r = Ensure(Layout());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kConflict);
  EXPECT_NE(r.error().message.find("layout version " + newer), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("layout version " + std::to_string(kStoreLayoutVersion)),
            std::string::npos)
      << r.error().message;
  EXPECT_EQ(RawString({"GET", prefix_ + "layout"}), newer);
}

TEST_F(StoreLayoutTest, TwoBrokersStartingTogetherMigrateOnce) {
  V1Store v = BuildV1Store();
  // One unit of work per call: the migration spans dozens of calls, so both starts overlap.
  std::optional<Result<LayoutOutcome>> a, b;
  std::thread ta([&] { a.emplace(Ensure(Layout(1))); });
  std::thread tb([&] { b.emplace(Ensure(Layout(1))); });
  ta.join();
  tb.join();
  ASSERT_TRUE(a && a->has_value()) << (a ? a->error().ToString() : "");
  ASSERT_TRUE(b && b->has_value()) << (b ? b->error().ToString() : "");
  EXPECT_EQ(int((*a)->migrated_here) + int((*b)->migrated_here), 1);
  ExpectServedOnce(v);
}

TEST_F(StoreLayoutTest, AMigrationKilledAtAnyPointIsCompletedByTheNextStart) {
  V1Store v = BuildV1Store();
  // Each "broker" runs one chunk of one unit and dies holding the lock; the next waits for
  // the lock to lapse and carries on from the progress recorded in Redis.
  auto dying = Layout(1);
  dying.max_chunks = 1;
  dying.lock_ttl_ms = 30;
  int starts = 0;
  for (; starts < 200; ++starts) {
    auto r = Ensure(dying);
    if (r.has_value()) break;
    ASSERT_NE(r.error().message.find("max_chunks"), std::string::npos) << r.error().message;
    EXPECT_NE(RawString({"GET", prefix_ + "layout"}), std::to_string(kStoreLayoutVersion));
  }
  EXPECT_GT(starts, 10);
  EXPECT_LT(starts, 200);
  ExpectServedOnce(v);
}

}  // namespace
}  // namespace taskmill::broker
