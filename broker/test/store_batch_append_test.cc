// Tasks appended to a running batch (BATCH append_to, issue 22), as the store records them
// (enqueue.lua `app`): what a new task's stored parents make of it, the batch's total, and
// the refusals, judged inside the script.
#include "store/batch_resolver.h"
#include "store_test_util.h"

namespace taskmill::broker {
namespace {

using protocol::TaskState;

class StoreBatchAppendTest : public StoreTest {
 protected:
  static protocol::TaskSpec Task(const std::string& name, std::vector<std::string> deps = {}) {
    auto s = Spec();
    s.name = name;
    s.depends_on = std::move(deps);
    s.max_attempts = 1;
    return s;
  }
  // A batch of `names` (no edges), stored with `on_failure` and owned by `owner`.
  ResolvedBatch Stored(std::vector<std::string> names, const std::string& on_failure = "",
                       const std::string& owner = "") {
    protocol::BatchSpec b;
    for (const auto& n : names) b.tasks.push_back(Task(n));
    auto r = ResolveBatch(b);
    EXPECT_TRUE(r.has_value());
    BatchSettings settings;
    if (!on_failure.empty()) settings.on_failure = on_failure;
    auto e = Await<EnqueueResult>(
        [&](auto cb) { store_->EnqueueBatch(r->batch_id, settings, r->tasks, cb, owner); });
    EXPECT_TRUE(e.has_value()) << e.error().ToString();
    return *r;
  }
  // Appends `tasks` (parents by name, among the batch's `existing` names) as the broker does.
  Result<EnqueueResult> Append(const ResolvedBatch& batch, std::vector<protocol::TaskSpec> tasks,
                               const std::string& owner = "", uint32_t max = 1000,
                               const std::map<std::string, std::string>* names = nullptr) {
    protocol::BatchSpec spec;
    spec.append_to = batch.batch_id;
    spec.tasks = std::move(tasks);
    auto r = ResolveBatch(spec, names != nullptr ? *names : batch.ids_by_name);
    if (!r) return std::unexpected(r.error());
    appended_ = r->ids_by_name;
    BatchSettings settings;
    settings.append = true;
    settings.append_max = max;
    return Await<EnqueueResult>(
        [&](auto cb) { store_->EnqueueBatch(batch.batch_id, settings, r->tasks, cb, owner); });
  }
  protocol::BatchStatus Batch(const std::string& id) {
    auto r =
        Await<std::optional<protocol::BatchStatus>>([&](auto cb) { store_->GetBatch(id, cb); });
    EXPECT_TRUE(r.has_value() && r->has_value());
    return r && *r ? **r : protocol::BatchStatus{};
  }
  static protocol::TaskMsg Named(const std::vector<protocol::TaskMsg>& tasks,
                                 const std::string& name) {
    for (const auto& t : tasks) {
      if (t.name == name) return t;
    }
    ADD_FAILURE() << "no claimed task named " << name;
    return {};
  }
  std::map<std::string, std::string> appended_;  // the last Append's new names -> ids
};

TEST_F(StoreBatchAppendTest, ANewChildWaitsForARunningParentAndTheBatchForIt) {
  auto b = Stored({"fetch", "other"});
  auto first = ClaimOk(10);
  ASSERT_EQ(first.size(), 2u);
  auto r = Append(b, {Task("report", {"fetch"}), Task("late")});
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ASSERT_EQ(r->items.size(), 2u);
  EXPECT_EQ(r->items[0].state, TaskState::kBlocked);
  EXPECT_EQ(r->items[1].state, TaskState::kQueued);
  auto st = Batch(b.batch_id);
  EXPECT_EQ(st.total, 4u);
  EXPECT_EQ(st.tasks.size(), 4u);
  EXPECT_EQ(st.tasks.at("report"), appended_.at("report"));
  // The old tasks end: the batch runs on for the new ones.
  FinishOk({Ok(Named(first, "fetch"), "fetched"), Ok(Named(first, "other"))});
  EXPECT_EQ(Batch(b.batch_id).state, "running");
  auto next = ClaimOk(10);
  ASSERT_EQ(next.size(), 2u);
  // A stored parent's output reaches the new child by its name.
  EXPECT_EQ(Named(next, "report").parents.at("fetch"), "fetched");
  FinishOk({Ok(Named(next, "report")), Ok(Named(next, "late"))});
  st = Batch(b.batch_id);
  EXPECT_EQ(st.state, "succeeded");
  EXPECT_EQ(st.counts.at("succeeded"), 4u);
}

TEST_F(StoreBatchAppendTest, AStoredParentsEndDecidesTheChildByTheBatchPolicy) {
  // fetch succeeded, broken died: a child of fetch is ready at once; a child of broken is
  // cancelled (cancel_dependents) or runs given its error (continue).
  for (const char* policy : {"cancel_dependents", "continue"}) {
    SCOPED_TRACE(policy);
    auto b = Stored({"fetch", "broken", "slow"}, policy);
    auto first = ClaimOk(10);
    ASSERT_EQ(first.size(), 3u);
    FinishOk({Ok(Named(first, "fetch"), "fetched"), Fail(Named(first, "broken"), false)});
    auto r = Append(b, {Task("after_fetch", {"fetch"}), Task("after_broken", {"broken"})});
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    EXPECT_EQ(r->items[0].state, TaskState::kQueued);
    bool cont = std::string(policy) == "continue";
    EXPECT_EQ(r->items[1].state, cont ? TaskState::kQueued : TaskState::kCancelled);
    auto next = ClaimOk(10);
    ASSERT_EQ(next.size(), cont ? 2u : 1u);
    EXPECT_EQ(Named(next, "after_fetch").parents.at("fetch"), "fetched");
    if (cont) {
      auto child = Named(next, "after_broken");
      ASSERT_EQ(child.parent_errors.size(), 1u);
      EXPECT_EQ(child.parent_errors[0].name, "broken");
    } else {
      EXPECT_EQ(GetOne(appended_.at("after_broken")).error->message, "dependency_failed");
    }
    for (const auto& t : next) FinishOk({Ok(t)});
    FinishOk({Ok(Named(first, "slow"))});
    auto st = Batch(b.batch_id);
    EXPECT_EQ(st.state, "partial");
    EXPECT_EQ(st.total, 5u);
    EXPECT_EQ(st.counts.at("succeeded"), cont ? 4u : 3u);
  }
}

TEST_F(StoreBatchAppendTest, TheScriptRefusesWhatTheBatchCannotTake) {
  auto b = Stored({"a", "b"});
  // A name it has: conflict (the broker's resolver says so first; the script too, as a
  // racing append may have taken it).
  std::map<std::string, std::string> stale;  // as read before another append added "c"
  ASSERT_TRUE(Append(b, {Task("c")}).has_value());
  auto taken = Append(b, {Task("c")}, "", 1000, &stale);
  ASSERT_FALSE(taken.has_value());
  EXPECT_EQ(taken.error().code, ErrorCode::kConflict);
  EXPECT_NE(taken.error().message.find("'c' is already in batch"), std::string::npos)
      << taken.error().message;
  // More than the batch may hold in all: 3 stored + 2 > 4.
  auto big = Append(b, {Task("d"), Task("e")}, "", 4);
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(big.error().message.find("would hold 5 tasks, over the limit of 4"),
            std::string::npos)
      << big.error().message;
  EXPECT_EQ(Batch(b.batch_id).total, 3u);
  // Unknown.
  ResolvedBatch ghost;
  ghost.batch_id = "nope";
  auto none = Append(ghost, {Task("x")});
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
  // Ended.
  auto all = ClaimOk(10);
  ASSERT_EQ(all.size(), 3u);
  for (const auto& t : all) FinishOk({Ok(t)});
  ASSERT_EQ(Batch(b.batch_id).state, "succeeded");
  auto late = Append(b, {Task("z")});
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.error().code, ErrorCode::kConflict);
  EXPECT_NE(late.error().message.find("has ended (succeeded)"), std::string::npos)
      << late.error().message;
  EXPECT_EQ(Batch(b.batch_id).total, 3u);
}

TEST_F(StoreBatchAppendTest, AFailedFastOrCancelledBatchTakesNothingMore) {
  auto ff = Stored({"a", "b"}, "fail_fast");
  auto first = ClaimOk(1);
  ASSERT_EQ(first.size(), 1u);
  FinishOk({Fail(first[0], false)});
  auto r = Append(ff, {Task("c")});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kConflict);
  // Every member ended with the death: the batch is over, which is the first reason given.
  EXPECT_NE(r.error().message.find("has ended"), std::string::npos) << r.error().message;

  auto running = Stored({"a", "b"}, "fail_fast");
  auto two = ClaimOk(2);
  ASSERT_EQ(two.size(), 2u);
  FinishOk({Fail(two[0], false)});  // the other still runs (asked to stop)
  ASSERT_EQ(Batch(running.batch_id).state, "running");
  auto r2 = Append(running, {Task("c")});
  ASSERT_FALSE(r2.has_value());
  EXPECT_NE(r2.error().message.find("failed fast"), std::string::npos) << r2.error().message;

  // A CANCEL of the batch marks it, and cancels a member appended after its ids were read.
  auto c = Stored({"a", "b"});
  auto one = ClaimOk(1);
  ASSERT_EQ(one.size(), 1u);
  std::vector<std::string> read_ids;
  for (const auto& [name, id] : c.ids_by_name) read_ids.push_back(id);
  ASSERT_TRUE(Append(c, {Task("late")}).has_value());
  auto cancelled = Await<CancelResult>(
      [&](auto cb) { store_->Cancel(read_ids, "stop", cb, "", c.batch_id); });
  ASSERT_TRUE(cancelled.has_value());
  EXPECT_EQ(cancelled->items.size(), 3u);
  EXPECT_EQ(GetOne(appended_.at("late")).state, TaskState::kCancelled);
  auto r3 = Append(c, {Task("later")});
  ASSERT_FALSE(r3.has_value());
  EXPECT_NE(r3.error().message.find("was cancelled"), std::string::npos) << r3.error().message;
}

TEST_F(StoreBatchAppendTest, AnotherOwnersBatchIsNotFoundAndNewTasksAreTheOwners) {
  auto b = Stored({"a"}, "", "alice");
  auto r = Append(b, {Task("x")}, "mallory");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(Batch(b.batch_id).total, 1u);
  ASSERT_TRUE(Append(b, {Task("y", {"a"})}, "alice").has_value());
  auto owned = Await<std::vector<std::optional<protocol::TaskInfo>>>(
      [&](auto cb) { store_->Get({appended_.at("y")}, cb, "alice"); });
  ASSERT_TRUE(owned.has_value());
  ASSERT_TRUE(owned->at(0).has_value());
  EXPECT_EQ(owned->at(0)->state, TaskState::kBlocked);
}

}  // namespace
}  // namespace taskmill::broker
