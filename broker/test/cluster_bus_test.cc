// The cluster bus without Redis: buses publish into a shared list that the test delivers,
// so routing, gating (nothing sent when nobody elsewhere watches) and the codec's limits
// are checked in memory. The real pub/sub path: tests/integration/brokers_test.cc.

#include "cluster/cluster_bus.h"

#include <gtest/gtest.h>

#include <deque>

#include "cluster/broker_directory.h"

namespace taskmill::broker {
namespace {

protocol::BatchStatus Batch(const std::string& id, const std::string& state, uint32_t total = 0) {
  protocol::BatchStatus b;
  b.id = id;
  b.state = state;
  b.total = total;
  return b;
}

struct Recorder : LifecycleObserver {
  std::vector<std::string> ended;
  std::vector<std::string> started;
  std::vector<std::string> finished;
  std::vector<std::string> cancelled;
  std::vector<std::string> batches;
  std::vector<std::string> progress;
  void TaskProgressed(const std::string& id, double f, const std::string& m) override {
    progress.push_back(id + ":" + std::to_string(f).substr(0, 3) + ":" + m);
  }
  void TaskEnded(const std::string& id, protocol::TaskInfo*) override { ended.push_back(id); }
  void TaskStarted(const protocol::TaskMsg& t) override { started.push_back(t.task_id); }
  void TaskFinished(const FinishOutcome& o, const protocol::Done* d) override {
    finished.push_back(o.task_id + (d != nullptr && d->cost.contains("usd") ? "+cost" : ""));
  }
  void TaskCancelled(const std::string& id, const std::string& r) override {
    cancelled.push_back(id + ":" + r);
  }
  void BatchesChanged(const BatchChanges& b) override {
    for (const auto& x : b) batches.push_back(x.id + ":" + x.state);
  }
};

class ClusterBusTest : public ::testing::Test {
 protected:
  struct Node {
    std::unique_ptr<RedisConnection> sub;  // never started: the test delivers messages
    std::unique_ptr<ClusterBus> bus;
    Recorder rec;
  };
  Node& Add(const std::string& id) {
    auto& n = nodes_[id];
    n.sub = std::make_unique<RedisConnection>(RedisConfig{});
    n.bus = std::make_unique<ClusterBus>(
        id, "p:",
        [this](const std::string& channel, std::string payload) {
          sent_.emplace_back(channel, std::move(payload));
        },
        *n.sub, clock_);
    n.bus->AddListener(n.rec);
    return n;
  }
  // Flushes every bus and delivers what they published, as Redis would, until quiet.
  void Deliver() {
    for (int round = 0; round < 5; ++round) {
      for (auto& [id, n] : nodes_) n.bus->Flush();
      if (sent_.empty()) return;
      while (!sent_.empty()) {
        auto [channel, payload] = std::move(sent_.front());
        sent_.pop_front();
        ++published_;
        for (auto& [id, n] : nodes_) n.bus->OnMessage(channel, payload);
      }
    }
  }
  std::map<std::string, Node> nodes_;
  FakeClock clock_;
  std::deque<std::pair<std::string, std::string>> sent_;
  size_t published_ = 0;
};

TEST_F(ClusterBusTest, ATaskEndReachesOnlyTheBrokerThatWatchesIt) {
  auto& a = Add("A");
  auto& b = Add("B");
  auto& c = Add("C");
  a.bus->WatchTasks({"t1"});
  Deliver();
  c.bus->TaskEnded("t1", nullptr);
  c.bus->TaskEnded("t2", nullptr);  // nobody watches it
  Deliver();
  EXPECT_EQ(a.rec.ended, std::vector<std::string>{"t1"});
  EXPECT_TRUE(b.rec.ended.empty());
  EXPECT_TRUE(c.rec.ended.empty()) << "a broker never hears its own outcomes back";
  // Ended once: the watch is gone, a second end (a re-read) sends nothing.
  size_t before = published_;
  c.bus->TaskEnded("t1", nullptr);
  Deliver();
  EXPECT_EQ(published_, before);
}

TEST_F(ClusterBusTest, NothingIsPublishedWhenNobodyElsewhereWatches) {
  auto& a = Add("A");
  Add("C");
  a.bus->WatchTasks({"mine"});  // one announcement
  Deliver();
  size_t before = published_;
  auto& c = nodes_["C"];
  for (int i = 0; i < 100; ++i) {
    c.bus->TaskEnded("x" + std::to_string(i), nullptr);
    FinishOutcome o;
    o.task_id = "x" + std::to_string(i);
    o.batch_id = "unwatched";
    o.status = FinishStatus::kSucceeded;
    c.bus->TaskFinished(o, nullptr);
    c.bus->BatchesChanged({Batch("unwatched", "running")});
  }
  Deliver();
  EXPECT_EQ(published_, before);
}

TEST_F(ClusterBusTest, BatchOutcomesFollowTheWatchUntilTheBatchEnds) {
  auto& a = Add("A");
  auto& c = Add("C");
  a.bus->WatchBatch("b1");
  Deliver();
  protocol::TaskMsg t;
  t.task_id = "t1";
  t.batch_id = "b1";
  t.name = "one";
  c.bus->TaskStarted(t);
  c.bus->TaskProgressed("t1", 0.5, "half");
  FinishOutcome o;
  o.task_id = "t1";
  o.batch_id = "b1";
  o.status = FinishStatus::kDead;
  o.cancelled = {"t2"};
  o.budget_cancelled = {"t2"};
  protocol::Done d;
  d.cost = {{"usd", 0.5}};
  d.error = protocol::TaskError{"boom", "x", false};
  c.bus->TaskFinished(o, &d);
  c.bus->TaskCancelled("t3", "requested");
  protocol::BatchStatus done = Batch("b1", "partial", 3);
  c.bus->BatchesChanged({done});
  Deliver();
  EXPECT_EQ(a.rec.started, std::vector<std::string>{"t1"});
  EXPECT_EQ(a.rec.progress, std::vector<std::string>{"t1:0.5:half"});
  EXPECT_EQ(a.rec.finished, std::vector<std::string>{"t1+cost"});
  EXPECT_EQ(a.rec.cancelled, std::vector<std::string>{"t3:requested"});
  EXPECT_EQ(a.rec.batches, std::vector<std::string>{"b1:partial"});
  // The batch is over: later outcomes of it go nowhere.
  size_t before = published_;
  c.bus->BatchesChanged({done});
  Deliver();
  EXPECT_EQ(published_, before);
}

// A WAIT elsewhere (a task watch, no batch) hears the task's progress, once per broker even
// when that broker also watches the task's batch; nobody else hears it.
TEST_F(ClusterBusTest, ProgressReachesTheBrokersWaitingOnTheTask) {
  auto& a = Add("A");
  auto& b = Add("B");
  auto& c = Add("C");
  a.bus->WatchTasks({"t1"});
  a.bus->WatchBatch("b1");
  Deliver();
  protocol::TaskMsg t;
  t.task_id = "t1";
  t.batch_id = "b1";
  c.bus->TaskStarted(t);
  c.bus->TaskProgressed("t1", 0.4, "reading");
  c.bus->TaskProgressed("t9", 0.4, "unwatched");
  Deliver();
  EXPECT_EQ(a.rec.progress, std::vector<std::string>{"t1:0.4:reading"});
  EXPECT_TRUE(b.rec.progress.empty());
  // Ended: the watch is gone, later progress (none should come) goes nowhere.
  c.bus->TaskEnded("t1", nullptr);
  FinishOutcome o;
  o.task_id = "t1";
  o.batch_id = "b1";
  o.status = FinishStatus::kSucceeded;
  c.bus->TaskFinished(o, nullptr);
  Deliver();
  size_t before = published_;
  c.bus->TaskProgressed("t1", 0.9, "late");
  Deliver();
  EXPECT_EQ(published_, before);
}

TEST_F(ClusterBusTest, CancelsGoOnlyToBrokersThatStillWatchABatch) {
  auto& a = Add("A");
  auto& b = Add("B");
  auto& c = Add("C");
  a.bus->WatchBatch("b1");
  Deliver();
  c.bus->TaskCancelled("t1", "requested");  // A watches a batch: told
  Deliver();
  EXPECT_EQ(a.rec.cancelled, std::vector<std::string>{"t1:requested"});
  b.bus->WatchBatch("b2");  // a watcher that joins later is told too
  Deliver();
  c.bus->TaskCancelled("t2", "requested");
  Deliver();
  EXPECT_EQ(b.rec.cancelled, std::vector<std::string>{"t2:requested"});
  EXPECT_EQ(a.rec.cancelled, (std::vector<std::string>{"t1:requested", "t2:requested"}));
  // b1 ends: A no longer hears cancels; B (b2) still does until it is forgotten.
  c.bus->BatchesChanged({Batch("b1", "succeeded")});
  Deliver();
  c.bus->TaskCancelled("t3", "requested");
  Deliver();
  EXPECT_EQ(a.rec.cancelled, (std::vector<std::string>{"t1:requested", "t2:requested"}));
  EXPECT_EQ(b.rec.cancelled, (std::vector<std::string>{"t2:requested", "t3:requested"}));
  a.bus->WatchBatch("b3");
  Deliver();
  c.bus->TaskCancelled("t4", "requested");  // both watch a batch again
  Deliver();
  EXPECT_EQ(a.rec.cancelled.back(), "t4:requested");
  EXPECT_EQ(b.rec.cancelled.size(), 3u);
  c.bus->ForgetBrokersExcept({"A", "C"});  // B is gone: only A hears the next one
  c.bus->TaskCancelled("t5", "requested");
  Deliver();
  EXPECT_EQ(a.rec.cancelled.back(), "t5:requested");
  EXPECT_EQ(b.rec.cancelled.size(), 3u);
}

TEST_F(ClusterBusTest, AHelloMakesEveryBrokerAnnounceItsWatchesAgain) {
  auto& a = Add("A");
  auto& c = Add("C");
  a.bus->WatchTasks({"t1"});
  a.bus->Flush();
  sent_.clear();  // lost: C was not subscribed when it went out
  c.bus->TaskEnded("t1", nullptr);
  Deliver();
  EXPECT_TRUE(a.rec.ended.empty());
  // C (re)subscribes: its hello makes A announce again.
  sent_.emplace_back("p:bus", bus::EncodeCtl({bus::Hello{"C"}}));
  Deliver();
  c.bus->TaskEnded("t1", nullptr);
  Deliver();
  EXPECT_EQ(a.rec.ended, std::vector<std::string>{"t1"});
}

// Queue resumed, worker quiet: published at once to every other broker, not to itself.
TEST_F(ClusterBusTest, AdminChangesReachEveryOtherBrokerAtOnce) {
  auto& a = Add("A");
  auto& b = Add("B");
  std::vector<std::string> at_a, at_b;
  auto into = [](std::vector<std::string>& out) {
    return [&out](const bus::Admin& m) { out.push_back(m.broker + " " + m.what + " " + m.name); };
  };
  a.bus->OnAdmin(into(at_a));
  b.bus->OnAdmin(into(at_b));
  a.bus->PublishAdmin("worker_quiet", "w-1");
  a.bus->PublishAdmin("queue_resumed", "images");
  ASSERT_EQ(sent_.size(), 2u) << "not held for the turn's flush";
  Deliver();
  EXPECT_TRUE(at_a.empty());
  EXPECT_EQ(at_b, (std::vector<std::string>{"A worker_quiet w-1", "A queue_resumed images"}));
  auto back = bus::DecodeCtl(bus::EncodeCtl({bus::Admin{"A", "worker_unquiet", "w-2"}}));
  ASSERT_TRUE(back.has_value());
  ASSERT_EQ(back->size(), 1u);
  const auto* m = std::get_if<bus::Admin>(&(*back)[0]);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->what, "worker_unquiet");
  EXPECT_EQ(m->name, "w-2");
}

TEST_F(ClusterBusTest, ATaskSeenEndedByARereadIsNotAnnouncedAgain) {
  auto& a = Add("A");
  auto& c = Add("C");
  a.bus->WatchTasks({"t1", "t2"});
  a.bus->Flush();
  sent_.clear();  // lost
  a.bus->Unwatch("t1");
  sent_.emplace_back("p:bus", bus::EncodeCtl({bus::Hello{"C"}}));
  Deliver();
  EXPECT_EQ(c.bus->remote_watches(), 1u) << "only t2 is announced again";
}

TEST_F(ClusterBusTest, WatchesOfDeadBrokersAreForgotten) {
  auto& a = Add("A");
  auto& c = Add("C");
  a.bus->WatchTasks({"t1"});
  a.bus->WatchBatch("b1");
  Deliver();
  EXPECT_EQ(c.bus->remote_watches(), 2u);
  c.bus->ForgetBrokersExcept({"C"});
  EXPECT_EQ(c.bus->remote_watches(), 0u);
}

// Redis orders no writes across connections: a watch can arrive after the batch's first
// outcomes. Those are kept briefly and replayed to the batch's first watcher, in order.
TEST_F(ClusterBusTest, AWatchArrivingAfterABatchsFirstOutcomesGetsThemReplayed) {
  auto& a = Add("A");
  auto& c = Add("C");
  auto start = [&](const std::string& task, const std::string& batch) {
    protocol::TaskMsg t;
    t.task_id = task;
    t.batch_id = batch;
    c.bus->TaskStarted(t);
  };
  start("t1", "b1");
  c.bus->TaskProgressed("t1", 0.5, "half");
  start("t2", "b2");  // another batch: not replayed to b1's watcher
  Deliver();
  EXPECT_TRUE(a.rec.started.empty());
  a.bus->WatchBatch("b1");
  Deliver();
  EXPECT_EQ(a.rec.started, std::vector<std::string>{"t1"});
  EXPECT_EQ(a.rec.progress, std::vector<std::string>{"t1:0.5:half"});
  // Watched now: later outcomes go as usual, and the kept ones are not sent twice.
  FinishOutcome o;
  o.task_id = "t1";
  o.batch_id = "b1";
  o.status = FinishStatus::kSucceeded;
  c.bus->TaskFinished(o, nullptr);
  a.bus->WatchBatch("b1");  // an announcement again (a hello): no replay
  Deliver();
  EXPECT_EQ(a.rec.started.size(), 1u);
  EXPECT_EQ(a.rec.finished, std::vector<std::string>{"t1"});

  // Kept for kReplayMs only.
  start("t3", "b3");
  clock_.Advance(ClusterBus::kReplayMs + 1);
  a.bus->WatchBatch("b3");
  Deliver();
  EXPECT_EQ(a.rec.started.size(), 1u) << "an outcome older than kReplayMs was replayed";
}

TEST_F(ClusterBusTest, ABrokerAloneKeepsNothing) {
  auto& a = Add("A");
  auto& c = Add("C");
  c.bus->ForgetBrokersExcept({"C"});  // the registry: C is alone
  protocol::TaskMsg t;
  t.task_id = "t1";
  t.batch_id = "b1";
  c.bus->TaskStarted(t);
  a.bus->WatchBatch("b1");
  Deliver();
  EXPECT_TRUE(a.rec.started.empty());
}

TEST_F(ClusterBusTest, BadPayloadsAreCountedNotTrusted) {
  auto& a = Add("A");
  for (std::string bad : {std::string("\xc1"), std::string("\x91\x92\xa3""end"),
                          std::string("\x91\x93\xa3""fin\x01\x02"), std::string("\x91\xc0"),
                          std::string("\x91\x92\xa5hello")}) {
    a.bus->OnMessage("p:bus:A", bad);
    a.bus->OnMessage("p:bus", bad);
  }
  EXPECT_EQ(a.bus->counters().bad_messages, 10u);
  EXPECT_TRUE(a.rec.ended.empty());
  a.bus->OnMessage("p:bus:someone-else", bus::EncodeEvents({bus::Ended{"t"}}));
  EXPECT_TRUE(a.rec.ended.empty()) << "another broker's inbox is not ours";
}

TEST(BusCodecTest, EventsRoundTrip) {
  bus::Finished f;
  f.outcome.task_id = "t";
  f.outcome.batch_id = "b";
  f.outcome.status = FinishStatus::kRetry;
  f.outcome.attempt = 2;
  f.outcome.cancelled = {"x", "y"};
  f.outcome.budget_cancelled = {"y"};
  protocol::Done d;
  d.ok = false;
  d.cost = {{"usd", 0.25}, {"tokens", 3}};
  d.error = protocol::TaskError{"timeout", "too slow", true};
  f.done = d;
  protocol::BatchStatus bs = Batch("b", "running", 4);
  bs.counts = {{"succeeded", 1}};
  bs.cost = {{"usd", 0.5}};
  bs.budget = {{"usd", 1}};
  auto decoded = bus::DecodeEvents(bus::EncodeEvents(
      {bus::Ended{"t"}, bus::Started{"b", "t", "n", 2}, bus::Progressed{"t", 0.25, "m"}, f,
       bus::Cancelled{"t", "budget_exceeded"}, bus::BatchChanged{bs}}));
  ASSERT_TRUE(decoded) << decoded.error().message;
  ASSERT_EQ(decoded->size(), 6u);
  EXPECT_EQ(std::get<bus::Started>((*decoded)[1]).attempt, 2u);
  EXPECT_EQ(std::get<bus::Progressed>((*decoded)[2]).fraction, 0.25);
  const auto& g = std::get<bus::Finished>((*decoded)[3]);
  EXPECT_EQ(g.outcome.status, FinishStatus::kRetry);
  EXPECT_EQ(g.outcome.budget_cancelled, std::vector<std::string>{"y"});
  ASSERT_TRUE(g.done && g.done->error);
  EXPECT_EQ(g.done->cost, d.cost);
  EXPECT_EQ(g.done->error->code, "timeout");
  EXPECT_EQ(std::get<bus::BatchChanged>((*decoded)[5]).batch, bs);
}

TEST(BusCodecTest, AnExpiryAndItsFailFastIdsRoundTrip) {
  // An expired fail_fast member (issue 22): the ids cancelled as batch_failed travel as a 9th
  // item, so another broker's events give the reason GET gives.
  bus::Finished f;
  f.outcome.task_id = "late";
  f.outcome.batch_id = "b";
  f.outcome.status = FinishStatus::kExpired;
  f.outcome.cancelled = {"x", "y", "z"};
  f.outcome.fail_fast_cancelled = {"x", "y"};
  bus::Finished plain;
  plain.outcome.task_id = "t";
  plain.outcome.batch_id = "b";
  plain.outcome.status = FinishStatus::kDead;
  auto decoded = bus::DecodeEvents(bus::EncodeEvents({f, plain}));
  ASSERT_TRUE(decoded) << decoded.error().message;
  ASSERT_EQ(decoded->size(), 2u);
  const auto& g = std::get<bus::Finished>((*decoded)[0]);
  EXPECT_EQ(g.outcome.status, FinishStatus::kExpired);
  EXPECT_EQ(g.outcome.cancelled, f.outcome.cancelled);
  EXPECT_EQ(g.outcome.fail_fast_cancelled, f.outcome.fail_fast_cancelled);
  EXPECT_TRUE(std::get<bus::Finished>((*decoded)[1]).outcome.fail_fast_cancelled.empty());
}

TEST(BrokerEntryTest, RoundTripsAndRefusesJunk) {
  BrokerEntry e{"A", "tcp://a:1", "tcp://a:2", "a:3", 1234, "serving", {}};
  protocol::WorkerInfo w;
  w.id = "w1";
  w.queues = {"q"};
  w.concurrency = 4;
  w.in_flight = 1;
  w.labels = {{"zone", "z1"}};
  w.quiet = true;  // carried, so STATS through any broker shows it
  e.workers = {w};
  auto back = DecodeBrokerEntry(EncodeBrokerEntry(e));
  ASSERT_TRUE(back);
  ASSERT_EQ(back->workers.size(), 1u);
  w.broker = "A";
  EXPECT_EQ(back->workers[0], w);
  EXPECT_EQ(back->started_ms, 1234);
  EXPECT_FALSE(DecodeBrokerEntry("not json"));
  EXPECT_FALSE(DecodeBrokerEntry("[]"));
  EXPECT_FALSE(DecodeBrokerEntry(R"({"workers": []})"));
}

}  // namespace
}  // namespace taskmill::broker
