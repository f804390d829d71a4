// A batch's finally task (issue 22): stored once, as ready, by the call that ends the batch
// (start_finally in lib/batch_end.lua), whatever the outcome, with the batch summary as its
// payload; its own outcome leaves the batch alone.
#include <nlohmann/json.hpp>

#include "store/batch_resolver.h"
#include "store_test_util.h"

namespace taskmill::broker {
namespace {

using nlohmann::json;
using protocol::TaskState;

class StoreBatchFinallyTest : public StoreTest {
 protected:
  // a -> b, and c alone; a finally task of type "wrap-up" on queue "ops".
  ResolvedBatch Stored(const std::string& on_failure = protocol::kOnFailureCancelDependents) {
    protocol::BatchSpec b;
    for (const char* n : {"a", "b", "c"}) {
      auto s = Spec();
      s.name = n;
      s.max_attempts = 1;
      b.tasks.push_back(s);
    }
    b.tasks[1].depends_on = {"a"};
    auto r = ResolveBatch(b);
    EXPECT_TRUE(r.has_value());
    BatchSettings settings;
    settings.on_failure = on_failure;
    settings.budget = {{"usd", 100.0}};
    protocol::TaskSpec fin = Spec("wrap-up", 7, "ops");
    fin.payload.clear();
    fin.id = "fin-" + r->batch_id;
    fin.name = "finally";
    settings.finally = fin;
    auto e = Await<EnqueueResult>(
        [&](auto cb) { store_->EnqueueBatch(r->batch_id, settings, r->tasks, cb); });
    EXPECT_TRUE(e.has_value()) << e.error().ToString();
    return *r;
  }
  protocol::BatchStatus Batch(const std::string& id) {
    auto r =
        Await<std::optional<protocol::BatchStatus>>([&](auto cb) { store_->GetBatch(id, cb); });
    EXPECT_TRUE(r.has_value() && r->has_value());
    return r && *r ? **r : protocol::BatchStatus{};
  }
  std::vector<protocol::TaskMsg> ClaimFinally() { return ClaimOk(10, {"ops"}, {}, "w9"); }
  static protocol::TaskMsg Named(const std::vector<protocol::TaskMsg>& tasks,
                                 const std::string& name) {
    for (const auto& t : tasks) {
      if (t.name == name) return t;
    }
    ADD_FAILURE() << "no claimed task named " << name;
    return {};
  }
};

TEST_F(StoreBatchFinallyTest, RunsOnceAfterEveryTaskSucceededWithTheSummary) {
  auto b = Stored();
  const std::string fid = "fin-" + b.batch_id;
  EXPECT_EQ(Batch(b.batch_id).finally_id, fid);
  EXPECT_EQ(Batch(b.batch_id).finally_state, "");
  EXPECT_TRUE(ClaimFinally().empty());  // nothing before the batch ends
  auto first = ClaimOk(10);
  auto a = Ok(Named(first, "a"), "A-out");
  a.cost = {{"usd", 0.25}};
  FinishOk({a});
  EXPECT_TRUE(ClaimFinally().empty());
  FinishOk({Ok(Named(first, "c"), std::string(5000, 'x'))});
  EXPECT_TRUE(ClaimFinally().empty());
  auto last = FinishOk({Ok(ClaimOk(10).at(0), "B-out")});
  ASSERT_EQ(last.batches.size(), 1u);
  EXPECT_EQ(last.batches[0].state, "succeeded");
  EXPECT_EQ(Batch(b.batch_id).finally_state, "queued");
  auto fin = ClaimFinally();
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0].task_id, fid);
  EXPECT_EQ(fin[0].type, "wrap-up");
  EXPECT_EQ(fin[0].name, "finally");
  EXPECT_TRUE(fin[0].batch_id.empty());  // no member: its outcome leaves the batch alone
  auto s = json::parse(fin[0].payload);
  EXPECT_EQ(s["batch_id"], b.batch_id);
  EXPECT_EQ(s["state"], "succeeded");
  EXPECT_EQ(s["total"], 3);
  EXPECT_EQ(s["counts"], json({{"succeeded", 3}}));
  EXPECT_DOUBLE_EQ(s["cost"]["usd"].get<double>(), 0.25);
  EXPECT_EQ(s["budget_exceeded"], false);
  EXPECT_EQ(s["tasks"]["a"]["output"], "A-out");
  EXPECT_EQ(s["tasks"]["a"]["id"], b.ids_by_name.at("a"));
  EXPECT_EQ(s["tasks"]["b"]["output"], "B-out");
  // A big output is cut, and says so.
  EXPECT_EQ(s["tasks"]["c"]["output"].get<std::string>().size(), 4096u);
  EXPECT_EQ(s["tasks"]["c"]["output_bytes"], 5000);
  EXPECT_EQ(s["tasks"]["c"]["truncated"], true);
  EXPECT_FALSE(s["tasks"]["a"].contains("truncated"));
  // Its failure changes nothing of the batch; GET shows it.
  FinishOk({Fail(fin[0], false)}, "w9");
  auto st = Batch(b.batch_id);
  EXPECT_EQ(st.state, "succeeded");
  EXPECT_EQ(st.counts.at("succeeded"), 3u);
  EXPECT_EQ(st.counts.count("failed"), 0u);
  EXPECT_EQ(st.finally_state, "failed");
  EXPECT_TRUE(ClaimFinally().empty());
}

TEST_F(StoreBatchFinallyTest, RunsAfterAFailureWithTheErrorsInTheSummary) {
  auto b = Stored();
  auto first = ClaimOk(10);
  FinishOk({Fail(Named(first, "a"), false, "exit_status")});  // b is cancelled with it
  EXPECT_TRUE(ClaimFinally().empty());
  FinishOk({Ok(Named(first, "c"))});
  auto fin = ClaimFinally();
  ASSERT_EQ(fin.size(), 1u);
  auto s = json::parse(fin[0].payload);
  EXPECT_EQ(s["state"], "partial");
  EXPECT_EQ(s["counts"], json({{"cancelled", 1}, {"failed", 1}, {"succeeded", 1}}));
  EXPECT_EQ(s["tasks"]["a"]["state"], "failed");
  EXPECT_EQ(s["tasks"]["a"]["error"]["code"], "exit_status");
  EXPECT_EQ(s["tasks"]["b"]["state"], "cancelled");
  EXPECT_FALSE(s["tasks"]["c"].contains("error"));
}

TEST_F(StoreBatchFinallyTest, RunsAfterACancelOfTheBatchAndAfterAFailFast) {
  auto b = Stored();
  auto running = ClaimOk(1).at(0);
  std::vector<std::string> ids;
  for (const auto& [name, id] : b.ids_by_name) ids.push_back(id);
  auto r = Await<CancelResult>([&](auto cb) { store_->Cancel(ids, "stop", cb); });
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_TRUE(ClaimFinally().empty());  // one still runs
  FinishOk({Fail(running, true, "cancelled")});
  auto fin = ClaimFinally();
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(json::parse(fin[0].payload)["state"], "failed");

  auto fast = Stored(protocol::kOnFailureFailFast);
  auto two = ClaimOk(10);
  FinishOk({Fail(Named(two, "c"), false)});  // a is asked to stop, b cancelled
  EXPECT_TRUE(ClaimFinally().empty());
  FinishOk({Ok(Named(two, "a"))});  // its result was on its way: it succeeds
  auto fin2 = ClaimFinally();
  ASSERT_EQ(fin2.size(), 1u);
  EXPECT_EQ(fin2[0].task_id, "fin-" + fast.batch_id);
  EXPECT_EQ(json::parse(fin2[0].payload)["state"], "partial");
}

// Two brokers are two Stores on one Redis: the last two tasks end through different ones, in
// the same instant; the finally task is stored exactly once.
TEST_F(StoreBatchFinallyTest, TwoStoresEndingTheLastTasksStoreItOnce) {
  StoreOptions o = store_->options();
  Store other(*conn_, clock_, o);
  ASSERT_TRUE(Until([&] { return conn_->in_flight() == 0; }));
  auto b = Stored();
  auto first = ClaimOk(10);
  FinishOk({Ok(Named(first, "a"))});
  auto bt = ClaimOk(10).at(0);
  int done = 0;
  FinishResult r1, r2;
  store_->Finish("w1", {Ok(Named(first, "c"))}, [&](Result<FinishResult> r) {
    if (r) r1 = *r;
    ++done;
  });
  other.Finish("w1", {Ok(bt)}, [&](Result<FinishResult> r) {
    if (r) r2 = *r;
    ++done;
  });
  ASSERT_TRUE(Until([&] { return done == 2; }));
  EXPECT_EQ(ClaimFinally().size(), 1u);
  EXPECT_TRUE(ClaimFinally().empty());
  EXPECT_EQ(StatsOf("ops").stats.submitted, 1u);
  EXPECT_EQ(Batch(b.batch_id).finally_state, "running");
}

TEST_F(StoreBatchFinallyTest, AFinallyIdThatExistsIsAConflictAndNothingIsStored) {
  auto b = Stored();
  protocol::BatchSpec spec;
  auto s = Spec();
  s.name = "x";
  spec.tasks = {s};
  auto r = ResolveBatch(spec);
  ASSERT_TRUE(r.has_value());
  BatchSettings settings;
  protocol::TaskSpec fin = Spec("wrap-up");
  fin.payload.clear();
  fin.id = b.ids_by_name.at("a");  // taken
  settings.finally = fin;
  auto e = Await<EnqueueResult>(
      [&](auto cb) { store_->EnqueueBatch(r->batch_id, settings, r->tasks, cb); });
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code, ErrorCode::kConflict);
  EXPECT_EQ(RawInt({"EXISTS", prefix_ + "batch:" + r->batch_id}), 0);
}

}  // namespace
}  // namespace taskmill::broker
