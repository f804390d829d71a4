// Brokers as one (issue 17): three brokers on one Redis. A client on broker A gets the
// RESULTs, WAIT answers and every batch event of tasks run by a worker on broker C, carried
// by the Redis bus (docs/architecture.md, "Brokers as one"); STATS through broker B lists the
// workers of A and C, and a killed broker's workers leave the registry within its TTL.

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "flow_helpers.h"
#include "support/brokers_fixture.h"
#include "support/http_get.h"

namespace taskmill::testing {
namespace {

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Three brokers (ids A, B, C) on one redis-server and one key prefix.
class ThreeBrokers : public BrokersOnOneRedis {
 protected:
  static constexpr uint32_t kHeartbeatMs = 500;
  static constexpr uint32_t kLiveness = 10;  // the raw worker below sends no heartbeats

  ThreeBrokers()
      : BrokersOnOneRedis({.name = "brokers",
                           .prefix = "tmb",
                           .brokers = {"A", "B", "C"},
                           .launch = {.heartbeat_ms = kHeartbeatMs,
                                      .liveness = kLiveness,
                                      .lease_ms = 10000}}) {}

  std::string MetricsOf(const std::string& broker) {
    auto page = HttpGet(endpoints_.at(broker).http, "/metrics");
    return page.status == 200 ? "\n" + page.body : "";
  }
  Result<protocol::Reply> Stats(WireClient& c) {
    protocol::Stats s;
    s.sections = {"workers", "broker"};
    return c.Call(s);
  }
};

TEST_F(ThreeBrokers, ResultsOfTasksRunThroughAnotherBrokerArriveOverTheBus) {
  StartWorker("C", "wc", 8);
  WireClient client(endpoints_.at("A").frontend);
  constexpr size_t kTasks = 1000;
  constexpr size_t kPerSubmit = 50;
  std::set<std::string> submitted;
  std::map<std::string, int64_t> delay_ms;  // task id -> RESULT received - task finished
  auto take_pushes = [&](int64_t timeout_ms) {
    while (auto push = client.NextPush(timeout_ms)) {
      timeout_ms = 0;
      auto* r = std::get_if<protocol::ResultMsg>(&*push);
      if (r == nullptr) continue;
      EXPECT_EQ(r->task.state, protocol::TaskState::kSucceeded) << r->task.id;
      delay_ms[r->task.id] = WallMs() - r->task.finished_ms;
    }
  };
  for (size_t i = 0; i < kTasks; i += kPerSubmit) {
    protocol::Submit s;
    s.notify = true;
    for (size_t j = 0; j < kPerSubmit; ++j) s.tasks.push_back(Spec("echo", R"("x")"));
    auto reply = client.Call(s);
    ASSERT_TRUE(reply && !reply->error);
    submitted.insert(reply->ids.begin(), reply->ids.end());
    take_pushes(0);
  }
  int64_t deadline = WallMs() + 60000;
  while (delay_ms.size() < kTasks && WallMs() < deadline) take_pushes(200);
  ASSERT_EQ(delay_ms.size(), kTasks) << "RESULTs missing";
  for (const auto& [id, d] : delay_ms) EXPECT_TRUE(submitted.contains(id)) << id;

  // A WAIT through A for a task running on C.
  std::string slow = SubmitOne(client, Spec("sleep", R"({"ms": 300})"));
  auto waited = WaitAll(client, {slow}, 10000);
  ASSERT_EQ(waited.size(), 1u);
  EXPECT_EQ(waited[0].state, protocol::TaskState::kSucceeded);
  int64_t wait_delay = WallMs() - waited[0].finished_ms;

  // Carried by the bus, not by the periodic re-read (the page's figures are at most 250 ms
  // old: waited for, bounded).
  double received = 0, sent = 0;
  EXPECT_TRUE(WaitFor(
      [&] {
        received = MetricSample(MetricsOf("A"), "taskmill_broker_bus_events_received_total")
                       .value_or(0);
        sent = MetricSample(MetricsOf("C"), "taskmill_broker_bus_events_sent_total").value_or(0);
        return received >= kTasks + 1 && sent >= kTasks + 1;
      },
      3000))
      << "A received " << received << " and C sent " << sent << " over the bus";

  std::vector<int64_t> d;
  for (const auto& [id, v] : delay_ms) d.push_back(v);
  std::sort(d.begin(), d.end());
  auto pct = [&](double p) { return d[std::min(d.size() - 1, static_cast<size_t>(p * d.size()))]; };
  std::cout << "CROSS_BROKER_RESULT tasks=" << d.size() << " p50_ms=" << pct(0.50)
            << " p99_ms=" << pct(0.99) << " max_ms=" << d.back()
            << " wait_answer_ms=" << wait_delay << " bus_events_received=" << received
            << std::endl;
}

// A raw worker on C (so PROGRESS and costs are under the test's control) runs a subscribed
// batch submitted through A: A's client sees every kind of event.
TEST_F(ThreeBrokers, EveryBatchEventOfABatchRunThroughAnotherBrokerArrives) {
  WireClient worker(endpoints_.at("C").backend);
  protocol::Ready ready;
  ready.worker_id = "raw-c";
  ready.queues = {"default"};
  ready.concurrency = 4;
  auto rf = protocol::Encode(protocol::Message{ready});
  worker.SendRaw({rf.version, rf.command, rf.body});

  WireClient client(endpoints_.at("A").frontend);
  protocol::Batch b;
  b.subscribe = true;
  b.batch.budget = {{"usd", 1.0}};
  protocol::TaskSpec good = Spec("echo", R"("g")");
  good.name = "good";
  good.max_attempts = 1;
  protocol::TaskSpec bad = Spec("echo", R"("b")");
  bad.name = "bad";
  bad.max_attempts = 1;
  b.batch.tasks = {good, bad};
  auto reply = client.Call(b);
  ASSERT_TRUE(reply && reply->batch && !reply->error);
  const auto& names = reply->batch->tasks;

  // The worker: PROGRESS, then DONE (good: succeeded, paying 0.9 of the 1.0 budget; bad:
  // failed for good).
  size_t done = 0;
  int64_t deadline = WallMs() + 20000;
  while (done < 2 && WallMs() < deadline) {
    auto msg = worker.Receive(200);
    if (!msg) continue;
    auto* task = std::get_if<protocol::TaskMsg>(&*msg);
    if (task == nullptr) continue;
    protocol::Progress p{task->task_id, task->token, 0.5, "half way"};
    auto pf = protocol::Encode(protocol::Message{p});
    worker.SendRaw({pf.version, pf.command, pf.body});
    protocol::Done d;
    d.task_id = task->task_id;
    d.token = task->token;
    d.ok = task->task_id == names.at("good");
    if (d.ok) {
      d.cost = {{"usd", 0.9}};
    } else {
      d.error = protocol::TaskError{"boom", "failed on purpose", false};
    }
    auto df = protocol::Encode(protocol::Message{d});
    worker.SendRaw({df.version, df.command, df.body});
    ++done;
  }
  ASSERT_EQ(done, 2u) << "the raw worker on C got no tasks";

  std::map<std::string, std::vector<std::string>> per_task;
  std::set<std::string> types;
  std::string last;
  while (last != "batch_completed") {
    auto push = client.NextPush(15000);
    ASSERT_TRUE(push) << "events stopped; last " << last;
    auto* e = std::get_if<protocol::Event>(&*push);
    if (e == nullptr) continue;
    EXPECT_EQ(e->batch_id, reply->batch->id);
    last = e->type;
    types.insert(e->type);
    if (!e->task_name.empty()) per_task[e->task_name].push_back(e->type);
    if (last == "batch_completed") {
      EXPECT_EQ(e->state, "partial");
    }
  }
  for (const char* t : {"batch_started", "task_started", "task_progress", "task_completed",
                        "task_failed", "batch_progress", "budget_warning", "batch_completed"}) {
    EXPECT_TRUE(types.contains(t)) << t << " never arrived";
  }
  EXPECT_EQ(per_task["good"],
            (std::vector<std::string>{"task_started", "task_progress", "task_completed"}));
  EXPECT_EQ(per_task["bad"],
            (std::vector<std::string>{"task_started", "task_progress", "task_failed"}));
}

// BATCH append_to through another broker than the subscriber's: the subscriber on A sees the
// appended task's events by name and the new total, and the batch ends only with it.
TEST_F(ThreeBrokers, TasksAppendedThroughAnotherBrokerReachTheBatchsSubscriber) {
  WireClient client(endpoints_.at("A").frontend);
  protocol::Batch b;
  b.subscribe = true;
  protocol::TaskSpec first = Spec("echo", R"("1")");
  first.name = "first";
  b.batch.tasks = {first};
  auto reply = client.Call(b);
  ASSERT_TRUE(reply && reply->batch && !reply->error);
  const std::string id = reply->batch->id;

  WireClient other(endpoints_.at("B").frontend);
  protocol::Batch more;
  protocol::TaskSpec second = Spec("echo", R"("2")");
  second.name = "second";
  second.depends_on = {"first"};
  more.batch.append_to = id;
  more.batch.tasks = {second};
  auto appended = other.Call(more);
  ASSERT_TRUE(appended && appended->batch && !appended->error)
      << (appended && appended->error ? appended->error->message : "no reply");
  EXPECT_EQ(appended->batch->total, 2u);
  EXPECT_TRUE(appended->batch->tasks.contains("second"));

  // A raw worker on C: PROGRESS, then DONE, for each task it is given.
  WireClient worker(endpoints_.at("C").backend);
  protocol::Ready ready;
  ready.worker_id = "raw-append";
  ready.queues = {"default"};
  ready.concurrency = 2;
  auto rf = protocol::Encode(protocol::Message{ready});
  worker.SendRaw({rf.version, rf.command, rf.body});
  size_t done = 0;
  int64_t deadline = WallMs() + 20000;
  while (done < 2 && WallMs() < deadline) {
    auto msg = worker.Receive(200);
    if (!msg) continue;
    auto* task = std::get_if<protocol::TaskMsg>(&*msg);
    if (task == nullptr) continue;
    protocol::Progress p{task->task_id, task->token, 0.5, "half way"};
    auto pf = protocol::Encode(protocol::Message{p});
    worker.SendRaw({pf.version, pf.command, pf.body});
    protocol::Done d;
    d.task_id = task->task_id;
    d.token = task->token;
    d.ok = true;
    auto df = protocol::Encode(protocol::Message{d});
    worker.SendRaw({df.version, df.command, df.body});
    ++done;
  }
  ASSERT_EQ(done, 2u) << "the raw worker on C got " << done << " tasks";

  std::map<std::string, std::vector<std::string>> per_task;
  uint32_t total = 0;
  std::string last;
  while (last != "batch_completed") {
    auto push = client.NextPush(15000);
    ASSERT_TRUE(push) << "events stopped; last " << last;
    auto* e = std::get_if<protocol::Event>(&*push);
    if (e == nullptr) continue;
    last = e->type;
    total = std::max(total, e->total);
    if (!e->task_id.empty()) per_task[e->task_name].push_back(e->type);
    if (last == "batch_completed") {
      EXPECT_EQ(e->state, "succeeded");
      EXPECT_EQ(e->done, 2u);
    }
  }
  EXPECT_EQ(total, 2u);
  EXPECT_EQ(per_task["second"],
            (std::vector<std::string>{"task_started", "task_progress", "task_completed"}));
  EXPECT_FALSE(per_task.contains("")) << "an event without its task's name";
  }

TEST_F(ThreeBrokers, StatsThroughAnyBrokerListsEveryBrokersWorkersUntilOneDies) {
  StartWorker("A", "wa", 2);
  StartWorker("C", "wc", 3);
  WireClient client(endpoints_.at("B").frontend);
  auto seen = [&](const protocol::Reply& r) {
    std::map<std::string, std::string> on;  // worker -> broker
    for (const auto& w : r.workers) on[w.id] = w.broker;
    return on;
  };
  protocol::Reply last;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = Stats(client);
        if (!r || r->error || !r->broker) return false;
        last = *r;
        auto on = seen(*r);
        return on["wa"] == "A" && on["wc"] == "C" &&
               r->broker->brokers == std::vector<std::string>{"A", "B", "C"};
      },
      10000))
      << "workers seen through B: " << last.workers.size();
  EXPECT_EQ(last.broker->broker_id, "B");
  EXPECT_EQ(last.broker->workers, 0u) << "the broker section counts B's own workers";
  // B has no worker of its own; a SUBMIT through it of a type A's and C's workers serve gets
  // no "no connected worker serves" warning, one of a type nobody serves still does.
  {
    protocol::Submit s;
    s.tasks.push_back(Spec("echo", R"("x")"));
    auto reply = client.Call(s);
    ASSERT_TRUE(reply && !reply->error);
    EXPECT_TRUE(reply->warnings.empty()) << reply->warnings.front();
    protocol::Submit u;
    u.tasks.push_back(Spec("nobody-serves-this", R"("x")"));
    reply = client.Call(u);
    ASSERT_TRUE(reply && !reply->error);
    ASSERT_EQ(reply->warnings.size(), 1u);
    EXPECT_NE(reply->warnings[0].find("nobody-serves-this"), std::string::npos);
  }
  for (const auto& w : last.workers) {
    if (w.id == "wc") {
      EXPECT_EQ(w.concurrency, 3u);
    }
  }
  // /metrics through B shows every broker and every worker with its broker.
  std::string page = MetricsOf("B");
  EXPECT_NE(page.find("taskmill_cluster_broker_up{broker_id=\"C\"} 1"), std::string::npos);
  EXPECT_NE(page.find("broker_id=\"A\",worker=\"wa\",state=\"free\"} 2"), std::string::npos)
      << page;

  auto killed_at = std::chrono::steady_clock::now();
  brokers_["A"].Kill9();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = Stats(client);
        if (!r || r->error || !r->broker) return false;
        auto on = seen(*r);
        return !on.contains("wa") && on["wc"] == "C" &&
               r->broker->brokers == std::vector<std::string>{"B", "C"};
      },
      10000))
      << "broker A's worker still listed";
  auto gone_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - killed_at)
                     .count();
  std::cout << "REGISTRY_VANISH broker=A gone_after_ms=" << gone_ms << std::endl;
}

// Issue 22: a batch's finally task is stored by the Lua call that records the batch's last
// end, atomically: with its tasks ending through two brokers at once, it runs exactly once.
TEST_F(ThreeBrokers, ABatchsFinallyTaskRunsOnceWhenItsTasksEndThroughTwoBrokers) {
  StartWorker("A", "wa", 8);
  StartWorker("C", "wc", 8);
  WireClient client(endpoints_.at("B").frontend);
  protocol::Batch b;
  for (int i = 0; i < 64; ++i) {
    auto s = Spec("echo", "\"r" + std::to_string(i) + "\"");
    s.name = "t" + std::to_string(i);
    b.batch.tasks.push_back(s);
  }
  protocol::TaskSpec fin = Spec("echo", "");
  fin.payload.clear();
  fin.name = "wrap";
  b.batch.finally = fin;
  auto reply = client.Call(b);
  ASSERT_TRUE(reply && reply->batch) << (reply && reply->error ? reply->error->message : "");
  const std::string fid = reply->batch->finally_id;
  ASSERT_FALSE(fid.empty());
  // Stored only when the batch ends: wait for the batch to say so, then for the task.
  protocol::Get g;
  g.batch_id = reply->batch->id;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto st = client.Call(g);
        return st && st->batch && !st->batch->finally_state.empty();
      },
      30000));
  auto done = WaitAll(client, {fid}, 30000);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].state, protocol::TaskState::kSucceeded);
  EXPECT_EQ(done[0].attempts, 1u);
  // echo: its output is its payload, the summary.
  const std::string& out = done[0].output;
  EXPECT_NE(out.find("\"counts\":{\"succeeded\":64}"), std::string::npos) << out;
  EXPECT_NE(out.find("\"state\":\"succeeded\""), std::string::npos) << out;
  auto st = client.Call(g);
  ASSERT_TRUE(st && st->batch);
  EXPECT_EQ(st->batch->finally_state, "succeeded");
  EXPECT_EQ(st->batch->counts["succeeded"], 64u);  // the finally task is no member
  protocol::Stats stats;
  stats.queues = {"default"};
  auto s = client.Call(stats);
  ASSERT_TRUE(s && s->queues.size() == 1);
  EXPECT_EQ(s->queues[0].submitted, 65u);  // 64 members and the finally task, once
  EXPECT_EQ(s->queues[0].succeeded, 65u);
}

// Issue 22: broker A never sweeps for expired tasks within the test (--promote-ms 60000: once
// at start), so a member of a batch watched through A expires on B or C.
class ThreeBrokersExpiryElsewhere : public ThreeBrokers {
 protected:
  std::vector<std::string> ExtraArgs(const std::string& id) const override {
    if (id == "A") return {"--promote-ms", "60000"};
    return {};
  }
};

// The expiry's outcome crosses the bus: A's subscriber hears task_failed with state expired,
// and the fail_fast cancels it caused with the reason GET gives (batch_failed).
TEST_F(ThreeBrokersExpiryElsewhere, AnExpiryOnAnotherBrokerReachesTheBatchsSubscriber) {
  WireClient client(endpoints_.at("A").frontend);
  protocol::Batch b;
  b.subscribe = true;
  b.batch.on_failure = "fail_fast";
  // No worker anywhere serves "nowhere": late expires after 500 ms, idle would wait forever.
  protocol::TaskSpec late = Spec("echo", R"("l")", "nowhere");
  late.name = "late";
  late.expires_in_ms = 500;
  protocol::TaskSpec idle = Spec("echo", R"("i")", "nowhere");
  idle.name = "idle";
  b.batch.tasks = {late, idle};
  auto reply = client.Call(b);
  ASSERT_TRUE(reply && reply->batch) << (reply && reply->error ? reply->error->message : "");
  std::map<std::string, std::string> seen;  // task name -> "type:state:error code"
  std::string last;
  while (last != "batch_completed") {
    auto push = client.NextPush(15000);
    ASSERT_TRUE(push) << "events stopped; last " << last;
    auto* e = std::get_if<protocol::Event>(&*push);
    if (e == nullptr) continue;
    last = e->type;
    if (!e->task_name.empty()) {
      seen[e->task_name] = e->type + ":" + e->state + ":" + (e->error ? e->error->code : "");
    }
    if (last == "batch_completed") {
      EXPECT_EQ(e->state, "failed");
    }
  }
  EXPECT_EQ(seen["late"], "task_failed:expired:expired");
  EXPECT_EQ(seen["idle"], "task_failed:cancelled:batch_failed");
}

}  // namespace
}  // namespace taskmill::testing
