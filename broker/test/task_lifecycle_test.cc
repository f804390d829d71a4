// The lifecycle layer against the in-memory fake store: what it sends per turn and which
// outcomes it publishes (docs/architecture.md, "Lifecycle outcomes").

#include "lifecycle/task_lifecycle.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "fake_task_store.h"
#include "service/task_waiters.h"

namespace taskmill::broker {
namespace {

using testing::FakeTaskStore;

// Records every outcome; optionally queues claims when they are due.
struct Recorder : LifecycleObserver {
  std::vector<std::string> started, ended, cancelled;
  std::vector<std::pair<std::string, FinishStatus>> finished;
  std::vector<std::vector<std::string>> queues_ready;
  std::vector<std::vector<ReadyTasks>> enqueued;
  std::vector<BatchChanges> batches;
  std::vector<std::string> cancel_requests;  // "worker/task/token"
  int claims_due = 0;
  std::function<void()> on_claims_due;

  void TaskStarted(const protocol::TaskMsg& t) override { started.push_back(t.task_id); }
  void TaskFinished(const FinishOutcome& o, const protocol::Done*) override {
    finished.emplace_back(o.task_id, o.status);
  }
  void TaskEnded(const std::string& id, protocol::TaskInfo*) override { ended.push_back(id); }
  void TaskCancelled(const std::string& id, const std::string&) override {
    cancelled.push_back(id);
  }
  void QueuesReady(const std::vector<std::string>& q) override { queues_ready.push_back(q); }
  void TasksEnqueued(const std::vector<ReadyTasks>& r) override { enqueued.push_back(r); }
  void BatchesChanged(const BatchChanges& b) override { batches.push_back(b); }
  void ClaimsDue() override {
    ++claims_due;
    if (on_claims_due) on_claims_due();
  }
  void CancelRequested(const std::string& worker, const std::string& task, uint64_t token,
                       const std::string&) override {
    cancel_requests.push_back(worker + "/" + task + "/" + std::to_string(token));
  }
};

protocol::TaskSpec Spec(std::string id, uint32_t max_attempts = 3) {
  protocol::TaskSpec s;
  s.id = std::move(id);
  s.type = "echo";
  s.queue = "q";
  s.max_attempts = max_attempts;
  return s;
}

class TaskLifecycleTest : public ::testing::Test {
 protected:
  TaskLifecycleTest()
      : lifecycle_(store_, clock_, {}, counters_, nullptr),
        waiters_([this](WaitTable::Waiter w) { settled_.push_back(std::move(w)); },
                 [this](const std::string& identity, protocol::TaskInfo task) {
                   pushed_.emplace_back(identity, std::move(task));
                 }) {
    lifecycle_.Subscribe(recorder_);
    lifecycle_.Subscribe(waiters_);
  }

  // One reactor turn: what was queued goes out, then the replies come back.
  void Turn() {
    lifecycle_.EndTurn();
    store_.Answer();
  }
  // Submits and stores `specs` as one SUBMIT; returns its outcomes' ids.
  std::vector<std::string> SubmitNow(std::vector<protocol::TaskSpec> specs) {
    std::vector<std::string> ids;
    lifecycle_.Submit(std::move(specs), "", [&](Result<std::span<const EnqueueOutcome>> r) {
      ASSERT_TRUE(r.has_value());
      for (const auto& o : *r) ids.push_back(o.id);
    });
    Turn();
    return ids;
  }
  // Claims for worker "w" in the next turn and, as the dispatcher does once it sent them,
  // reports them started (unless `sent` is false: the worker left first); returns them.
  std::vector<protocol::TaskMsg> ClaimNow(uint32_t n, bool sent = true) {
    std::vector<protocol::TaskMsg> got;
    lifecycle_.Claim({"w", {"q"}, {}, n, 30000}, [&](Result<ClaimResult> r) {
      ASSERT_TRUE(r.has_value());
      got = r->tasks;
      if (!sent) return;
      for (const auto& t : got) lifecycle_.Started(t);
    });
    Turn();
    return got;
  }
  protocol::Done Success(const protocol::TaskMsg& t, std::string output) {
    protocol::Done d;
    d.task_id = t.task_id;
    d.token = t.token;
    d.ok = true;
    d.output = std::move(output);
    return d;
  }
  protocol::Done Failure(const protocol::TaskMsg& t, bool retryable) {
    protocol::Done d;
    d.task_id = t.task_id;
    d.token = t.token;
    d.error = protocol::TaskError{"boom", "it broke", retryable};
    return d;
  }

  FakeTaskStore store_;
  FakeClock clock_;
  BrokerCounters counters_;
  TaskLifecycle lifecycle_;
  Recorder recorder_;
  std::vector<WaitTable::Waiter> settled_;
  std::vector<std::pair<std::string, protocol::TaskInfo>> pushed_;
  TaskWaiters waiters_;
};

TEST_F(TaskLifecycleTest, SubmitClaimDonePublishesTheEndWithItsResult) {
  auto ids = SubmitNow({Spec("t1")});
  ASSERT_EQ(ids, std::vector<std::string>{"t1"});
  ASSERT_TRUE(waiters_.Notify("t1", "client-a"));
  auto tasks = ClaimNow(1);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(recorder_.started, std::vector<std::string>{"t1"});
  lifecycle_.Finish("w", Success(tasks[0], "out"));
  EXPECT_TRUE(recorder_.ended.empty()) << "nothing is published before the store answered";
  Turn();
  ASSERT_EQ(recorder_.finished.size(), 1u);
  EXPECT_EQ(recorder_.finished[0].second, FinishStatus::kSucceeded);
  EXPECT_EQ(recorder_.ended, std::vector<std::string>{"t1"});
  // The notify subscriber got the final state built from the DONE, with no read back.
  ASSERT_EQ(pushed_.size(), 1u);
  EXPECT_EQ(pushed_[0].first, "client-a");
  EXPECT_EQ(pushed_[0].second.output, "out");
  EXPECT_EQ(pushed_[0].second.state, protocol::TaskState::kSucceeded);
  EXPECT_EQ(store_.calls().get, 0);
  EXPECT_TRUE(waiters_.TakeResultsToRead().empty());
}

TEST_F(TaskLifecycleTest, SubmitsOfOneTurnShareOneStoreCall) {
  std::vector<size_t> sizes;
  for (int i = 0; i < 3; ++i) {
    std::vector<protocol::TaskSpec> specs;
    for (int j = 0; j <= i; ++j) specs.push_back(Spec("s" + std::to_string(i) + std::to_string(j)));
    lifecycle_.Submit(std::move(specs), "", [&](Result<std::span<const EnqueueOutcome>> r) {
      ASSERT_TRUE(r.has_value());
      sizes.push_back(r->size());
    });
  }
  EXPECT_EQ(store_.calls().enqueue, 0) << "submits wait for the end of the turn";
  lifecycle_.EndTurn();
  EXPECT_EQ(store_.calls().enqueue, 1);
  // The tasks' workers are woken before the reply, so their claims follow the enqueue; the
  // dispatcher is told how many tasks of which queue and type, so it wakes no more workers
  // than they need.
  ASSERT_EQ(recorder_.enqueued.size(), 1u);
  ASSERT_EQ(recorder_.enqueued[0].size(), 1u);
  EXPECT_EQ(recorder_.enqueued[0][0].queue, "q");
  EXPECT_EQ(recorder_.enqueued[0][0].type, "echo");
  EXPECT_EQ(recorder_.enqueued[0][0].count, 6u);
  store_.Answer();
  EXPECT_EQ(sizes, (std::vector<size_t>{1, 2, 3})) << "each SUBMIT gets its own outcomes";
  EXPECT_EQ(recorder_.enqueued.size(), 1u) << "once: claims sent after the reply see them too";
  EXPECT_TRUE(recorder_.queues_ready.empty());
}

TEST_F(TaskLifecycleTest, WithADepthCapEachSubmitIsItsOwnCall) {
  TaskLifecycle alone(store_, clock_, {.submit_alone = true}, counters_, nullptr);
  int answered = 0;
  for (int i = 0; i < 3; ++i) {
    alone.Submit({Spec("a" + std::to_string(i))}, "",
                 [&](Result<std::span<const EnqueueOutcome>> r) { answered += r ? 1 : 0; });
  }
  alone.EndTurn();
  EXPECT_EQ(store_.calls().enqueue, 3);
  store_.Answer();
  EXPECT_EQ(answered, 3);
}

TEST_F(TaskLifecycleTest, ClaimsAreSentAtTheTurnsEndAfterItsSubmitsDonesAndReleases) {
  SubmitNow({Spec("c1"), Spec("c2"), Spec("c3")});
  auto first = ClaimNow(1);
  ASSERT_EQ(first.size(), 1u);
  size_t before = store_.order().size();
  int claimed = 0;
  recorder_.on_claims_due = [&] {
    for (const char* w : {"w", "w2"}) {
      lifecycle_.Claim({w, {"q"}, {}, 1, 30000}, [&](Result<ClaimResult> r) {
        claimed += r ? static_cast<int>(r->tasks.size()) : 0;
      });
    }
  };
  lifecycle_.Submit({Spec("c4")}, "", [](Result<std::span<const EnqueueOutcome>>) {});
  lifecycle_.Finish("w", Success(first[0], ""));
  lifecycle_.ReleaseWorker("gone");
  EXPECT_EQ(store_.order().size(), before) << "nothing goes out during the turn";
  lifecycle_.EndTurn();
  std::vector<std::string> sent(store_.order().begin() + static_cast<ptrdiff_t>(before),
                                store_.order().end());
  EXPECT_EQ(sent, (std::vector<std::string>{"enqueue", "finish", "release", "claim"}));
  store_.Answer();
  EXPECT_EQ(claimed, 2);
}

TEST_F(TaskLifecycleTest, AClaimedTaskNeverSentToItsWorkerDidNotStart) {
  // The worker left between its claim and the reply: the dispatcher fails the attempt
  // (dispatch_failed) instead of sending it; no task_started event, no "running".
  SubmitNow({Spec("gone1"), Spec("sent1")});
  auto unsent = ClaimNow(1, /*sent=*/false);
  ASSERT_EQ(unsent.size(), 1u);
  EXPECT_TRUE(recorder_.started.empty()) << "published for a task no worker got";
  auto sent = ClaimNow(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(recorder_.started, std::vector<std::string>{sent[0].task_id});
}

TEST_F(TaskLifecycleTest, ClaimsOfSeveralWorkersShareOneStoreCallAndEachGetsItsOwn) {
  SubmitNow({Spec("m1"), Spec("m2"), Spec("m3"), Spec("m4"), Spec("m5")});
  std::map<std::string, std::vector<std::string>> got;  // worker -> its task ids
  const std::vector<std::pair<std::string, uint32_t>> workers = {{"a", 1}, {"b", 3}, {"c", 2}};
  for (const auto& [worker, n] : workers) {
    lifecycle_.Claim({worker, {"q"}, {}, n, 30000}, [&, worker](Result<ClaimResult> r) {
      ASSERT_TRUE(r.has_value());
      for (const auto& t : r->tasks) {
        got[worker].push_back(t.task_id);
        lifecycle_.Started(t);  // as the dispatcher does once the TASK went out
      }
    });
  }
  Turn();
  EXPECT_EQ(store_.calls().claim, 1) << "one store call for the turn's claims";
  EXPECT_EQ(store_.calls().claim_requests, 3);
  // In request order, each as if alone: a gets the head, b the next three, c what is left.
  EXPECT_EQ(got["a"], std::vector<std::string>{"m1"});
  EXPECT_EQ(got["b"], (std::vector<std::string>{"m2", "m3", "m4"}));
  EXPECT_EQ(got["c"], std::vector<std::string>{"m5"});
  EXPECT_EQ(store_.Find("m3")->worker, "b");
  EXPECT_EQ(recorder_.started, (std::vector<std::string>{"m1", "m2", "m3", "m4", "m5"}));
}

TEST_F(TaskLifecycleTest, DonesOfSeveralWorkersShareOneStoreCallEachUnderItsWorker) {
  SubmitNow({Spec("d1"), Spec("d2"), Spec("d3")});
  std::map<std::string, std::vector<protocol::TaskMsg>> got;
  for (const char* worker : {"a", "b"}) {
    lifecycle_.Claim({worker, {"q"}, {}, worker == std::string("a") ? 2u : 1u, 30000},
                     [&, worker](Result<ClaimResult> r) {
                       ASSERT_TRUE(r.has_value());
                       got[worker] = r->tasks;
                     });
  }
  Turn();
  ASSERT_EQ(got["a"].size(), 2u);
  ASSERT_EQ(got["b"].size(), 1u);
  lifecycle_.Finish("a", Success(got["a"][0], "a0"));
  lifecycle_.Finish("b", Success(got["b"][0], "b0"));
  lifecycle_.Finish("a", Failure(got["a"][1], false));
  Turn();
  EXPECT_EQ(store_.calls().finish, 1) << "one store call for the turn's DONEs";
  // Fenced against the worker that sent each (the fake, like finish.lua, says stale else).
  std::map<std::string, FinishStatus> status(recorder_.finished.begin(),
                                             recorder_.finished.end());
  EXPECT_EQ(status.at("d1"), FinishStatus::kSucceeded);
  EXPECT_EQ(status.at("d2"), FinishStatus::kDead);
  EXPECT_EQ(status.at("d3"), FinishStatus::kSucceeded);
  EXPECT_EQ(counters_.stale_results, 0u);
  EXPECT_EQ(store_.Find("d3")->output, "b0");
  std::multiset<std::pair<std::string, std::string>> by(store_.finished_by().begin(),
                                                         store_.finished_by().end());
  EXPECT_EQ(by, (std::multiset<std::pair<std::string, std::string>>{
                    {"a", "d1"}, {"a", "d2"}, {"b", "d3"}}));
}

TEST_F(TaskLifecycleTest, ALargeTurnIsSplitIntoCallsOfAtMost512TasksOrDones) {
  int answered = 0;
  for (const char* worker : {"a", "b", "c"}) {
    lifecycle_.Claim({worker, {"q"}, {}, 300, 30000},
                     [&](Result<ClaimResult> r) { answered += r.has_value(); });
  }
  Turn();
  EXPECT_EQ(store_.calls().claim, 3) << "300 + 300 tasks would pass 512 in one call";
  EXPECT_EQ(answered, 3);
  protocol::TaskMsg unknown;
  unknown.token = 1;
  for (int i = 0; i < 600; ++i) {
    unknown.task_id = "gone" + std::to_string(i);
    lifecycle_.Finish(i < 300 ? "a" : "b", Success(unknown, ""));
  }
  Turn();
  EXPECT_EQ(store_.calls().finish, 2) << "two workers' 600 DONEs: one call each";
  EXPECT_EQ(recorder_.finished.size(), 600u);
  for (int i = 0; i < 600; ++i) {
    unknown.task_id = "late" + std::to_string(i);
    lifecycle_.Finish("a", Success(unknown, ""));
  }
  Turn();
  EXPECT_EQ(store_.calls().finish, 3) << "one worker's DONEs always go together";
  EXPECT_EQ(recorder_.finished.size(), 1200u);
}

TEST_F(TaskLifecycleTest, DonesOfSeveralWorkersRefusedByAFullStoreAreKeptUnderTheirWorkers) {
  SubmitNow({Spec("k1"), Spec("k2")});
  std::map<std::string, protocol::TaskMsg> got;
  for (const char* worker : {"a", "b"}) {
    lifecycle_.Claim({worker, {"q"}, {}, 1, 30000}, [&, worker](Result<ClaimResult> r) {
      ASSERT_TRUE(r.has_value() && r->tasks.size() == 1);
      got[worker] = r->tasks[0];
    });
  }
  Turn();
  store_.FailFinish(ErrorCode::kStoreFull, 1);
  lifecycle_.Finish("a", Success(got.at("a"), "from-a"));
  lifecycle_.Finish("b", Success(got.at("b"), "from-b"));
  Turn();
  EXPECT_EQ(lifecycle_.pending_results(), 2u);
  clock_.Advance(250);
  Turn();
  EXPECT_EQ(store_.calls().finish, 2);
  EXPECT_EQ(lifecycle_.pending_results(), 0u);
  EXPECT_EQ(counters_.stale_results, 0u) << "each DONE was sent again under its own worker";
  EXPECT_EQ(store_.Find(got.at("a").task_id)->output, "from-a");
  EXPECT_EQ(store_.Find(got.at("b").task_id)->output, "from-b");
}

TEST_F(TaskLifecycleTest, ARetryableFailureIsARetryNotAnEnd) {
  SubmitNow({Spec("r1", 2)});
  auto t = ClaimNow(1);
  ASSERT_EQ(t.size(), 1u);
  lifecycle_.Finish("w", Failure(t[0], true));
  Turn();
  ASSERT_EQ(recorder_.finished.size(), 1u);
  EXPECT_EQ(recorder_.finished[0].second, FinishStatus::kRetry);
  EXPECT_TRUE(recorder_.ended.empty());
  // The last attempt fails for good: now it ends (dead letter).
  auto again = ClaimNow(1);
  ASSERT_EQ(again.size(), 1u);
  lifecycle_.Finish("w", Failure(again[0], true));
  Turn();
  EXPECT_EQ(recorder_.finished.back().second, FinishStatus::kDead);
  EXPECT_EQ(recorder_.ended, std::vector<std::string>{"r1"});
}

TEST_F(TaskLifecycleTest, AStaleResultIsCountedAndEndsNothing) {
  SubmitNow({Spec("st")});
  auto t = ClaimNow(1);
  ASSERT_EQ(t.size(), 1u);
  auto stale = Success(t[0], "");
  stale.token += 100;
  lifecycle_.Finish("w", stale);
  Turn();
  EXPECT_EQ(counters_.stale_results, 1u);
  EXPECT_TRUE(recorder_.ended.empty());
}

TEST_F(TaskLifecycleTest, BatchChangesArePublished) {
  std::vector<protocol::TaskSpec> specs = {Spec("b1"), Spec("b2")};
  bool stored = false;
  lifecycle_.SubmitBatch("batch", {}, specs, "", [&](Result<EnqueueResult> r) {
    stored = r.has_value();
    EXPECT_TRUE(recorder_.batches.empty()) << "the submitter hears first";
  });
  store_.Answer();
  ASSERT_TRUE(stored);
  ASSERT_EQ(recorder_.batches.size(), 1u);
  EXPECT_EQ(recorder_.batches[0][0].id, "batch");
  auto t = ClaimNow(1);
  ASSERT_EQ(t.size(), 1u);
  lifecycle_.Finish("w", Success(t[0], ""));
  Turn();
  const auto& last = recorder_.batches.back();
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].id, "batch");
  EXPECT_EQ(last[0].counts.at("succeeded"), 1u);
}

TEST_F(TaskLifecycleTest, WaitsAreAnsweredWhenTheirLastTaskEnds) {
  SubmitNow({Spec("w1"), Spec("w2")});
  WaitTable::Waiter w;
  w.identity = "client";
  w.req_id = 7;
  w.ids = {"w1", "w2"};
  w.pending = {"w1", "w2"};
  w.deadline_ms = clock_.MonotonicMs() + 60'000;
  waiters_.AddWait(std::move(w));
  auto tasks = ClaimNow(2);
  ASSERT_EQ(tasks.size(), 2u);
  lifecycle_.Finish("w", Success(tasks[0], ""));
  Turn();
  EXPECT_TRUE(settled_.empty());
  lifecycle_.Finish("w", Failure(tasks[1], false));
  Turn();
  ASSERT_EQ(settled_.size(), 1u);
  EXPECT_EQ(settled_[0].req_id, 7u);
  EXPECT_EQ(waiters_.waits(), 0u);
}

TEST_F(TaskLifecycleTest, ANotifiedTaskThatEndsUnknownIsReadBack) {
  SubmitNow({Spec("n1")});
  ASSERT_TRUE(waiters_.Notify("n1", "client-b"));
  auto t = ClaimNow(1);
  lifecycle_.Finish("w", Failure(t.at(0), false));
  Turn();
  EXPECT_TRUE(pushed_.empty());
  auto to_read = waiters_.TakeResultsToRead();
  ASSERT_EQ(to_read.size(), 1u);
  EXPECT_EQ(to_read[0], (std::pair<std::string, std::string>{"n1", "client-b"}));
}

TEST_F(TaskLifecycleTest, ResultsRefusedByAFullStoreAreKeptAndSentAgain) {
  SubmitNow({Spec("f1")});
  auto t = ClaimNow(1);
  store_.FailFinish(ErrorCode::kStoreFull, 1);
  lifecycle_.Finish("w", Success(t.at(0), "kept"));
  Turn();
  EXPECT_EQ(lifecycle_.pending_results(), 1u);
  Turn();
  EXPECT_EQ(store_.calls().finish, 1) << "no retry before the store-full delay";
  clock_.Advance(250);
  Turn();
  EXPECT_EQ(store_.calls().finish, 2);
  EXPECT_EQ(lifecycle_.pending_results(), 0u);
  EXPECT_EQ(recorder_.ended, std::vector<std::string>{"f1"});
  EXPECT_EQ(store_.Find("f1")->output, "kept");
}

TEST_F(TaskLifecycleTest, ResultsWaitWhileTheStoreIsDown) {
  SubmitNow({Spec("d1")});
  auto t = ClaimNow(1);
  store_.set_ready(false);
  lifecycle_.Finish("w", Success(t.at(0), ""));
  Turn();
  EXPECT_EQ(store_.calls().finish, 0);
  store_.set_ready(true);
  Turn();
  EXPECT_EQ(recorder_.ended, std::vector<std::string>{"d1"});
}

TEST_F(TaskLifecycleTest, CancelsPublishEndsAndRequestsToWorkers) {
  SubmitNow({Spec("x1"), Spec("x2")});
  auto t = ClaimNow(1);
  ASSERT_EQ(t.size(), 1u);
  bool answered = false;
  lifecycle_.Cancel({"x1", "x2"}, "stop", "", [&](Result<CancelResult> r) {
    answered = r.has_value();
    EXPECT_EQ(recorder_.ended, std::vector<std::string>{"x2"}) << "published before the reply";
  });
  store_.Answer();
  EXPECT_TRUE(answered);
  EXPECT_EQ(recorder_.cancelled, std::vector<std::string>{"x2"});
  EXPECT_EQ(recorder_.cancel_requests,
            std::vector<std::string>{"w/x1/" + std::to_string(t[0].token)});
}

TEST_F(TaskLifecycleTest, AReleasedWorkersTasksAreRetriedAndQueuesWoken) {
  SubmitNow({Spec("l1")});
  auto t = ClaimNow(1);
  ASSERT_EQ(t.size(), 1u);
  recorder_.queues_ready.clear();
  lifecycle_.ReleaseWorker("w");
  Turn();
  ASSERT_EQ(recorder_.finished.size(), 1u);
  EXPECT_EQ(recorder_.finished[0].second, FinishStatus::kRetry);
  ASSERT_FALSE(recorder_.queues_ready.empty());
  EXPECT_EQ(recorder_.queues_ready.back(), std::vector<std::string>{""});
}

// A fail_fast batch's death asks the broker to stop the batch's running tasks (issue 22): the
// worker is told at once, not at its next lease extension.
TEST_F(TaskLifecycleTest, AFailFastDeathStopsTheRunningTasksAtOnce) {
  FinishOutcome dead;
  dead.task_id = "d1";
  dead.status = FinishStatus::kDead;
  dead.batch_id = "b1";
  dead.cancelled = {"c1"};
  dead.fail_fast_cancelled = {"c1"};
  dead.cancel_requests = {{"r1", "w2", 7}, {"r2", "w3", 8}};
  store_.ReapOutcomes({dead});
  lifecycle_.Reap(100);
  store_.Answer();
  EXPECT_EQ(recorder_.cancel_requests, (std::vector<std::string>{"w2/r1/7", "w3/r2/8"}));
  EXPECT_EQ(recorder_.ended, (std::vector<std::string>{"d1", "c1"}));
}

TEST_F(TaskLifecycleTest, AnExpiryActsOnItsBatchAsADeathDoes) {
  // The sweep expired e1 of a fail_fast batch: its running sibling's worker is told at once,
  // and the expiry is published as a finish of status expired (batch events, bus, WAITs).
  ExpiredTask e;
  e.task_id = "e1";
  e.status = FinishStatus::kExpired;
  e.batch_id = "b1";
  e.cancelled = {"c1"};
  e.fail_fast_cancelled = {"c1"};
  e.cancel_requests = {{"r1", "w2", 7}};
  ExpiredTask released;  // one of a continue batch: its child became ready
  released.task_id = "e2";
  released.status = FinishStatus::kExpired;
  released.batch_id = "b2";
  released.released = {"k1"};
  store_.PromoteExpired({e, released});
  lifecycle_.Promote(100);
  store_.Answer();
  EXPECT_EQ(recorder_.cancel_requests, std::vector<std::string>{"w2/r1/7"});
  EXPECT_EQ(recorder_.ended, (std::vector<std::string>{"e1", "c1", "e2"}));
  ASSERT_EQ(recorder_.finished.size(), 2u);
  EXPECT_EQ(recorder_.finished[0], std::make_pair(std::string("e1"), FinishStatus::kExpired));
  // The released child wakes every idle worker.
  EXPECT_EQ(recorder_.queues_ready, std::vector<std::vector<std::string>>{{""}});
}

TEST_F(TaskLifecycleTest, LeaseExtensionsRelayCancelRequests) {
  store_.RequestCancel("e1", 9, "elsewhere");
  lifecycle_.ExtendLeases("w", 30000);
  store_.Answer();
  EXPECT_EQ(recorder_.cancel_requests, std::vector<std::string>{"w/e1/9"});
}

}  // namespace
}  // namespace taskmill::broker
