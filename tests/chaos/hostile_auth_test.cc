// Issue 13, identity and roles: attacks on who may report results, be a worker, and read or
// change whose tasks, against a live broker (CURVE on where the attack needs keys), while a
// healthy client keeps submitting. Each attack must be held and the healthy client's p50
// must stay within 10x its idle value; each prints one HOSTILE_ATTACK line (scripts/chaos.sh
// tabulates them; the figures are in docs/security.md and docs/reliability.md).

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <thread>

#include "chaos/harness.h"
#include "chaos/healthy_client.h"
#include "taskmill/shared/curve_keys.h"
#include "taskmill/shared/protocol/codec.h"

namespace taskmill::chaos {
namespace {

namespace fs = std::filesystem;
using protocol::TaskState;

constexpr int64_t kAttackMs = 1500;     // each attack's duration (its loop is bounded too)
constexpr size_t kMaxAttackSends = 3000;

// CURVE keys in a private directory, one allow-list directory per role.
class Keys {
 public:
  Keys() {
    std::string tmpl = (fs::temp_directory_path() / "taskmill-auth-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data()) ? tmpl : "";
    for (const char* role : {"clients", "workers", "admins"}) fs::create_directory(Dir(role));
    broker_ = Make("broker", "");
  }
  ~Keys() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string Dir(const std::string& role) const { return dir_ + "/" + role; }
  // A new key pair NAME, its .pub allowed in `role` ("clients", "workers", "admins"; "" none).
  CurveKeyPair Make(const std::string& name, const std::string& role) {
    auto pair = GenerateCurveKeyPair();
    EXPECT_TRUE(pair.has_value());
    auto files = WriteCurveKeyFiles(dir_, name, *pair, false);
    EXPECT_TRUE(files.has_value());
    if (!role.empty()) fs::copy_file(files->pub_file, Dir(role) + "/" + name + ".pub");
    return *pair;
  }
  WireClient::Options As(const CurveKeyPair& own, const std::string& routing_id = "") const {
    return {CurveClientKeys{broker_.public_key, own}, routing_id};
  }
  std::vector<std::string> BrokerArgs() const {
    return {"--curve-secret-key-file", dir_ + "/broker.key", "--curve-allow-dir", Dir("clients"),
            "--curve-worker-allow-dir", Dir("workers"), "--curve-admin-allow-dir",
            Dir("admins")};
  }
  // The one-list setup of before roles: --curve-allow-dir alone.
  std::vector<std::string> OneListArgs() const {
    return {"--curve-secret-key-file", dir_ + "/broker.key", "--curve-allow-dir",
            Dir("clients")};
  }
  std::vector<std::string> WorkerArgs(const std::string& name) const {
    return {"--curve-server-key", dir_ + "/broker.pub", "--curve-key-file",
            dir_ + "/" + name + ".key"};
  }

 private:
  std::string dir_;
  CurveKeyPair broker_;
};

// The healthy client's p50 idle and while `attack` runs (on its own thread).
struct Measured {
  int64_t p50_idle_us = 0;
  int64_t p50_attack_us = 0;
  size_t calls = 0;
};
template <typename Attack>
Measured MeasureDuring(HealthyClient& healthy, const std::string& name, Attack attack) {
  auto idle = healthy.Run(name + "-idle", 1000, 100);
  std::atomic<bool> over{false};
  std::thread t([&] {
    attack();
    over = true;
  });
  auto during = healthy.Run(name + "-attack", 20000, 2000, &over);
  t.join();
  return {Percentile(idle, 0.5), Percentile(during, 0.5), during.size()};
}

// Checks the healthy client's figures and prints the HOSTILE_ATTACK line.
void Report(const std::string& attack, const Measured& m, bool held, const std::string& extra) {
  EXPECT_GT(m.calls, 5u) << attack << ": the healthy client made too few calls";
  EXPECT_LE(m.p50_attack_us, std::max<int64_t>(10 * m.p50_idle_us, 5000))
      << attack << ": healthy p50 " << m.p50_attack_us << " us vs " << m.p50_idle_us << " idle";
  std::cout << "HOSTILE_ATTACK attack=" << attack << " p50_idle_us=" << m.p50_idle_us
            << " p50_attack_us=" << m.p50_attack_us << " held=" << (held ? "yes" : "no") << " "
            << extra << std::endl;
}

// Repeats `step` until kAttackMs passes or kMaxAttackSends steps ran; returns the count.
template <typename Step>
size_t RepeatForAWhile(Step step) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(kAttackMs);
  size_t n = 0;
  for (; n < kMaxAttackSends && std::chrono::steady_clock::now() < end; ++n) {
    step(n);
    if (n % 20 == 19) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // pacing
  }
  return n;
}

protocol::TaskSpec Slow(const ChaosCluster& cluster, const std::string& id, int64_t ms) {
  protocol::TaskSpec t;
  t.id = id;
  t.name = id;
  t.type = "exec";
  t.queue = cluster.queue();
  t.payload = cluster.TaskPayload(ms);
  t.max_attempts = 1;  // a forged or lost attempt would show as a failure, not a retry
  return t;
}

std::optional<protocol::TaskInfo> GetTask(WireClient& c, const std::string& id) {
  protocol::Get g;
  g.ids = {id};
  auto r = c.Call(g, 5000);
  if (!r || r->error || r->tasks.empty()) return std::nullopt;
  return r->tasks[0];
}

bool WaitState(WireClient& c, const std::string& id, TaskState state, int64_t ms = 15000) {
  return WaitFor(
      [&] {
        auto t = GetTask(c, id);
        return t && t->state == state;
      },
      ms);
}

std::unique_ptr<ChaosCluster> StartCluster(const std::string& name,
                                           std::vector<std::string> broker_args = {}) {
  ChaosCluster::Options o;
  o.broker_args = std::move(broker_args);
  auto started = ChaosCluster::Start(name, o);
  EXPECT_TRUE(started.has_value()) << started.error().message;
  return started ? std::move(*started) : nullptr;
}

bool Ready(HealthyClient& healthy) {
  return WaitFor([&] { return healthy.client.Call(protocol::Stats{}, 2000).has_value(); }, 10000);
}

// A DEALER that never says READY sends DONEs for a running batch task, with every small token
// (the old tokens were attempt counters: 1 on a first attempt), ok with output FORGED and as
// failures costing 999,999 USD. Before: recorded, the real result refused as stale, the batch
// failed and the rest of it cancelled. Now: held unregistered, never recorded.
TEST(HostileAuthTest, ForgedDoneFromAnUnregisteredDealer) {
  auto cluster = StartCluster("auth-forged-done");
  ASSERT_TRUE(cluster);
  ASSERT_TRUE(cluster->StartWorker("w0", 4));
  HealthyClient healthy(cluster->frontend(), cluster->queue());
  ASSERT_TRUE(Ready(healthy));
  WireClient owner(cluster->frontend());
  protocol::Batch b;
  b.batch.id = "forged-batch";
  b.batch.budget = {{"usd", 100.0}};
  b.batch.tasks = {Slow(*cluster, "victim-a", 2500), Slow(*cluster, "victim-b", 2500)};
  b.batch.tasks[1].name = "victim-b";
  auto started = owner.Call(b, 5000);
  ASSERT_TRUE(started && !started->error) << (started ? started->error->message : "");
  std::string a = started->batch->tasks.at("victim-a");
  ASSERT_TRUE(WaitState(owner, a, TaskState::kRunning));

  std::atomic<size_t> sent{0};
  auto m = MeasureDuring(healthy, "forged-done", [&] {
    WireClient forger(cluster->backend());
    sent = RepeatForAWhile([&](size_t n) {
      protocol::Done d;
      d.task_id = a;
      d.token = n % 200 + 1;
      d.ok = n % 2 == 0;
      if (d.ok) {
        d.output = "FORGED";
      } else {
        d.error = protocol::TaskError{"forged", "forged failure", false};
      }
      d.cost = {{"usd", 999999.0}};
      auto f = protocol::Encode(protocol::Message{d});
      forger.SendRaw({f.version, f.command, f.body});
    });
  });
  ASSERT_TRUE(WaitState(owner, a, TaskState::kSucceeded));
  ASSERT_TRUE(WaitState(owner, started->batch->tasks.at("victim-b"), TaskState::kSucceeded));
  auto task = GetTask(owner, a);
  ASSERT_TRUE(task);
  EXPECT_NE(task->output, "FORGED");
  EXPECT_EQ(task->attempts, 1u);
  EXPECT_LT(task->cost["usd"], 1.0);
  protocol::Get gb;
  gb.batch_id = "forged-batch";
  auto batch = owner.Call(gb, 5000);
  ASSERT_TRUE(batch && batch->batch);
  EXPECT_EQ(batch->batch->state, "succeeded");
  EXPECT_LT(batch->batch->cost["usd"], 1.0);
  int64_t unregistered = 0;
  EXPECT_TRUE(WaitFor(
      [&] {
        unregistered = LastCounter(cluster->BrokerLog(), "unregistered");
        return unregistered >= static_cast<int64_t>(sent);
      },
      5000))
      << unregistered << " of " << sent << " forged DONEs counted";
  EXPECT_EQ(healthy.failures, 0u);
  bool recorded = task->output == "FORGED" || task->cost["usd"] >= 1.0;
  Report("forged_done", m, !HasFailure(),
         "forged_dones=" + std::to_string(sent) + " recorded=" + (recorded ? "yes" : "no") +
             " batch=" + batch->batch->state);
  if (HasFailure()) std::cerr << cluster->Logs();
}

// PROGRESS for a subscribed batch's running task, from an unregistered DEALER and from a
// registered worker that does not hold the task, with guessed tokens. Before: relayed to the
// subscribers. Now: dropped and counted.
TEST(HostileAuthTest, ForgedProgressIsNotRelayed) {
  auto cluster = StartCluster("auth-forged-progress");
  ASSERT_TRUE(cluster);
  ASSERT_TRUE(cluster->StartWorker("w0", 4));
  HealthyClient healthy(cluster->frontend(), cluster->queue());
  ASSERT_TRUE(Ready(healthy));
  WireClient subscriber(cluster->frontend());
  protocol::Batch b;
  b.batch.id = "progress-batch";
  b.batch.tasks = {Slow(*cluster, "watched", 2500)};
  b.subscribe = true;
  auto started = subscriber.Call(b, 5000);
  ASSERT_TRUE(started && !started->error);
  std::string id = started->batch->tasks.at("watched");
  ASSERT_TRUE(WaitState(subscriber, id, TaskState::kRunning));

  std::atomic<size_t> sent{0};
  auto m = MeasureDuring(healthy, "forged-progress", [&] {
    WireClient stranger(cluster->backend());
    WireClient registered(cluster->backend());
    protocol::Ready ready;
    ready.worker_id = "intruder";
    ready.queues = {"elsewhere"};  // registered, but holds nothing of this queue
    auto rf = protocol::Encode(protocol::Message{ready});
    registered.SendRaw({rf.version, rf.command, rf.body});
    sent = RepeatForAWhile([&](size_t n) {
      protocol::Progress p{id, n % 200 + 1, 0.5, "FORGED"};
      auto f = protocol::Encode(protocol::Message{p});
      (n % 2 == 0 ? stranger : registered).SendRaw({f.version, f.command, f.body});
    });
  });
  size_t forged_events = 0;
  bool completed = false;
  WaitFor(
      [&] {
        while (auto push = subscriber.NextPush(100)) {
          auto* e = std::get_if<protocol::Event>(&*push);
          if (e == nullptr) continue;
          if (e->type == "task_progress" && e->message == "FORGED") ++forged_events;
          if (e->type == "batch_completed") completed = true;
        }
        return completed;
      },
      15000);
  EXPECT_TRUE(completed);
  EXPECT_EQ(forged_events, 0u);
  int64_t dropped = 0;
  EXPECT_TRUE(WaitFor(
      [&] {
        dropped = LastCounter(cluster->BrokerLog(), "unregistered") +
                  LastCounter(cluster->BrokerLog(), "stale_progress");
        return dropped >= static_cast<int64_t>(sent);
      },
      5000))
      << dropped << " of " << sent << " forged PROGRESS counted";
  EXPECT_EQ(healthy.failures, 0u);
  Report("forged_progress", m, !HasFailure(),
         "forged_progress=" + std::to_string(sent) +
             " relayed=" + std::to_string(forged_events));
  if (HasFailure()) std::cerr << cluster->Logs();
}

// A second connection says READY with the victim's worker id again and again while the
// victim runs a task. Before: each READY took the id over and failed the victim's tasks as
// worker_lost. Now: refused (CURVE: the id belongs to the victim's key; without CURVE: it is
// held by a live connection), and the victim's task succeeds on its first attempt.
void ReadyHijack(bool curve) {
  Keys keys;
  CurveKeyPair victim_key = keys.Make("victim", "workers");
  CurveKeyPair mallory_key = keys.Make("mallory", "workers");
  CurveKeyPair client_key = keys.Make("client", "clients");
  auto cluster = StartCluster(curve ? "auth-ready-hijack" : "auth-ready-hijack-plain",
                              curve ? keys.BrokerArgs() : std::vector<std::string>{});
  ASSERT_TRUE(cluster);
  ASSERT_TRUE(cluster->StartWorker("w-victim", 4, "",
                                   curve ? keys.WorkerArgs("victim") : std::vector<std::string>{}));
  WireClient::Options as_client = curve ? keys.As(client_key) : WireClient::Options{};
  HealthyClient healthy(cluster->frontend(), cluster->queue(), as_client);
  ASSERT_TRUE(Ready(healthy));
  WireClient owner(cluster->frontend(), as_client);
  protocol::Submit s;
  s.tasks = {Slow(*cluster, "hijack-target", 2500)};
  auto sub = owner.Call(s, 5000);
  ASSERT_TRUE(sub && !sub->error);
  ASSERT_TRUE(WaitState(owner, "hijack-target", TaskState::kRunning));

  std::atomic<size_t> readies{0}, tasks_stolen{0};
  auto m = MeasureDuring(healthy, curve ? "ready-hijack" : "ready-hijack-plain", [&] {
    WireClient::Options as_mallory = curve ? keys.As(mallory_key) : WireClient::Options{};
    std::vector<std::unique_ptr<WireClient>> conns;
    readies = RepeatForAWhile([&](size_t n) {
      if (n % 50 == 0) {  // a fresh connection now and then, and READY on it
        conns.push_back(std::make_unique<WireClient>(cluster->backend(), as_mallory));
      }
      if (n % 10 != 0) return;
      protocol::Ready ready;
      ready.worker_id = "w-victim";
      ready.queues = {cluster->queue()};
      ready.types = {"echo", "exec"};
      ready.concurrency = 4;
      auto f = protocol::Encode(protocol::Message{ready});
      conns.back()->SendRaw({f.version, f.command, f.body});
      for (auto& c : conns) {
        while (auto r = c->Receive(0)) {
          if (std::holds_alternative<protocol::TaskMsg>(*r)) ++tasks_stolen;
        }
      }
    }) / 10;
  });
  ASSERT_TRUE(WaitState(owner, "hijack-target", TaskState::kSucceeded, 20000));
  auto target = GetTask(owner, "hijack-target");
  EXPECT_EQ(target->attempts, 1u);
  EXPECT_EQ(target->worker, "w-victim");
  EXPECT_EQ(tasks_stolen, 0u);
  EXPECT_EQ(healthy.failures, 0u);
  EXPECT_TRUE(WaitFor([&] { return LastCounter(cluster->BrokerLog(), "forbidden") > 0; }, 5000));
  Report(curve ? "ready_hijack" : "ready_hijack_plain", m, !::testing::Test::HasFailure(),
         "readies=" + std::to_string(readies) + " tasks_stolen=" + std::to_string(tasks_stolen) +
             " victim_attempts=" + std::to_string(target->attempts));
  if (::testing::Test::HasFailure()) std::cerr << cluster->Logs();
}

TEST(HostileAuthTest, ReadyWithAVictimsWorkerIdUnderAnotherKeyIsRefused) { ReadyHijack(true); }

// The same through a second broker on the same Redis, which has never seen the victim: the
// attacker says READY with the victim's id (listing its running task) and then BYE. Before:
// the second broker took the id and, on BYE, released every lease of it: the victim's task
// failed as worker_lost. Now: the binding in Redis names the victim's key; the second broker
// drops the attacker without releasing anything, and the victim's task succeeds.
TEST(HostileAuthTest, ReadyWithAVictimsWorkerIdThroughAnotherBrokerIsRefused) {
  Keys keys;
  keys.Make("victim", "workers");
  CurveKeyPair mallory_key = keys.Make("mallory", "workers");
  CurveKeyPair client_key = keys.Make("client", "clients");
  auto cluster = StartCluster("auth-ready-hijack-2brokers", keys.BrokerArgs());
  ASSERT_TRUE(cluster);
  taskmill::testing::ChildProcess second;
  auto second_ends = cluster->StartExtraBroker("second", second);
  ASSERT_TRUE(second_ends.has_value()) << second_ends.error().message;
  ASSERT_TRUE(cluster->StartWorker("w-victim", 4, "", keys.WorkerArgs("victim")));
  HealthyClient healthy(cluster->frontend(), cluster->queue(), keys.As(client_key));
  ASSERT_TRUE(Ready(healthy));
  WireClient owner(cluster->frontend(), keys.As(client_key));
  protocol::Submit s;
  s.tasks = {Slow(*cluster, "hijack-target-2", 2500)};
  auto sub = owner.Call(s, 5000);
  ASSERT_TRUE(sub && !sub->error);
  ASSERT_TRUE(WaitState(owner, "hijack-target-2", TaskState::kRunning));

  std::atomic<size_t> readies{0}, tasks_stolen{0};
  auto m = MeasureDuring(healthy, "ready-hijack-2brokers", [&] {
    readies = RepeatForAWhile([&](size_t n) {
      if (n % 100 != 0) return;
      WireClient thief(second_ends->backend, keys.As(mallory_key));
      protocol::Ready ready;
      ready.worker_id = "w-victim";
      ready.queues = {cluster->queue()};
      ready.types = {"echo", "exec"};
      ready.concurrency = 4;
      ready.running = {"hijack-target-2"};
      auto f = protocol::Encode(protocol::Message{ready});
      thief.SendRaw({f.version, f.command, f.body});
      while (auto r = thief.Receive(50)) {
        if (std::holds_alternative<protocol::TaskMsg>(*r)) ++tasks_stolen;
      }
      auto bye = protocol::Encode(protocol::Message{protocol::Bye{"gone"}});
      thief.SendRaw({bye.version, bye.command, bye.body});
    }) / 100;
  });
  ASSERT_TRUE(WaitState(owner, "hijack-target-2", TaskState::kSucceeded, 20000));
  auto target = GetTask(owner, "hijack-target-2");
  EXPECT_EQ(target->attempts, 1u);
  EXPECT_EQ(target->worker, "w-victim");
  EXPECT_EQ(tasks_stolen, 0u);
  EXPECT_EQ(healthy.failures, 0u);
  Report("ready_hijack_two_brokers", m, !HasFailure(),
         "readies=" + std::to_string(readies) + " tasks_stolen=" + std::to_string(tasks_stolen) +
             " victim_attempts=" + std::to_string(target->attempts));
  if (HasFailure()) {
    std::cerr << cluster->Logs() << "--- second broker\n"
              << taskmill::testing::ReadFile(cluster->dir() + "/second/broker.log");
  }
}
TEST(HostileAuthTest, ReadyWithALiveWorkersIdIsRefusedWithoutCurve) { ReadyHijack(false); }

// A DEALER connects with the victim's worker id as its ZeroMQ routing id (what workers used
// to use). Before: the broker's ROUTER handed the id over and sent it the victim's TASKs,
// payloads included. Now: workers use a random routing id per link and the broker takes no
// handover: the attacker gets nothing.
TEST(HostileAuthTest, RoutingIdHijackReceivesNoTasks) {
  auto cluster = StartCluster("auth-routing-id");
  ASSERT_TRUE(cluster);
  ASSERT_TRUE(cluster->StartWorker("w-victim", 4));
  HealthyClient healthy(cluster->frontend(), cluster->queue());
  ASSERT_TRUE(Ready(healthy));
  std::atomic<size_t> received{0}, connections{0};
  auto m = MeasureDuring(healthy, "routing-id", [&] {
    std::vector<std::unique_ptr<WireClient>> thieves;
    RepeatForAWhile([&](size_t n) {
      if (n % 100 == 0 && thieves.size() < 10) {
        thieves.push_back(std::make_unique<WireClient>(
            cluster->backend(), WireClient::Options{std::nullopt, "w-victim"}));
        ++connections;
        // A heartbeat, so the connection is up and speaking the protocol.
        auto f = protocol::Encode(protocol::Message{protocol::Heartbeat{0}});
        thieves.back()->SendRaw({f.version, f.command, f.body});
      }
      for (auto& t : thieves) {
        while (auto r = t->Receive(0)) {
          if (std::holds_alternative<protocol::TaskMsg>(*r)) ++received;
        }
      }
    });
  });
  EXPECT_EQ(received, 0u);
  EXPECT_EQ(healthy.failures, 0u);
  // The healthy client's tasks all ran on the real worker.
  size_t succeeded = 0;
  EXPECT_TRUE(WaitFor(
      [&] {
        succeeded = 0;
        for (const auto& id : healthy.ids) {
          auto t = GetTask(healthy.client, id);
          succeeded += t && t->state == TaskState::kSucceeded ? 1 : 0;
        }
        return succeeded == healthy.ids.size();
      },
      20000))
      << succeeded << " of " << healthy.ids.size();
  Report("routing_id_hijack", m, !HasFailure(),
         "thief_connections=" + std::to_string(connections) +
             " tasks_received=" + std::to_string(received));
  if (HasFailure()) std::cerr << cluster->Logs();
}

// Keys used outside their role: a worker key submits, reads and purges the DLQ; a client key
// registers as a worker and purges the DLQ. Before: all allowed (one allow-list). Now:
// forbidden, naming the role; an admin key may use the DLQ.
TEST(HostileAuthTest, KeysOutsideTheirRoleAreForbidden) {
  Keys keys;
  keys.Make("worker", "workers");
  CurveKeyPair worker_key = keys.Make("worker2", "workers");
  CurveKeyPair client_key = keys.Make("client", "clients");
  CurveKeyPair other_key = keys.Make("other", "clients");
  CurveKeyPair admin_key = keys.Make("admin", "admins");
  auto cluster = StartCluster("auth-roles", keys.BrokerArgs());
  ASSERT_TRUE(cluster);
  ASSERT_TRUE(cluster->StartWorker("w0", 4, "", keys.WorkerArgs("worker")));
  HealthyClient healthy(cluster->frontend(), cluster->queue(), keys.As(client_key));
  ASSERT_TRUE(Ready(healthy));

  std::atomic<size_t> attempts{0}, forbidden{0}, wrong{0}, tasks_to_client_key{0};
  auto m = MeasureDuring(healthy, "roles", [&] {
    WireClient worker_on_front(cluster->frontend(), keys.As(worker_key));
    WireClient client_on_front(cluster->frontend(), keys.As(other_key));
    WireClient client_on_back(cluster->backend(), keys.As(other_key));
    auto expect_forbidden = [&](WireClient& c, protocol::Message msg) {
      ++attempts;
      auto r = c.Call(std::move(msg), 5000);
      if (r && r->error && r->error->code == "forbidden") {
        ++forbidden;
      } else {
        ++wrong;
      }
    };
    RepeatForAWhile([&](size_t n) {
      protocol::Submit s;
      s.tasks = {protocol::TaskSpec{}};
      s.tasks[0].type = "echo";
      s.tasks[0].queue = cluster->queue();
      switch (n % 5) {
        case 0:
          expect_forbidden(worker_on_front, s);
          break;
        case 1:
          expect_forbidden(worker_on_front, protocol::Stats{});
          break;
        case 2:
          expect_forbidden(client_on_front, protocol::Dlq{0, protocol::DlqOp::kPurge, "", {}, 10});
          break;
        case 3:
          expect_forbidden(client_on_front, protocol::Dlq{0, protocol::DlqOp::kList, "", {}, 10});
          break;
        case 4: {
          protocol::Ready ready;
          ready.worker_id = "client-as-worker";
          ready.queues = {cluster->queue()};
          ready.types = {"echo"};
          ready.concurrency = 4;
          auto f = protocol::Encode(protocol::Message{ready});
          client_on_back.SendRaw({f.version, f.command, f.body});
          while (auto r = client_on_back.Receive(0)) {
            if (std::holds_alternative<protocol::TaskMsg>(*r)) ++tasks_to_client_key;
          }
          break;
        }
      }
    });
  });
  EXPECT_GT(forbidden, 0u);
  EXPECT_EQ(wrong, 0u);
  EXPECT_EQ(tasks_to_client_key, 0u);
  // An admin may use the DLQ and sees the workers; the client key never registered.
  WireClient admin(cluster->frontend(), keys.As(admin_key));
  auto dlq = admin.Call(protocol::Dlq{0, protocol::DlqOp::kList, "", {}, 10}, 5000);
  ASSERT_TRUE(dlq.has_value());
  EXPECT_FALSE(dlq->error) << dlq->error->message;
  auto stats = admin.Call(protocol::Stats{}, 5000);
  ASSERT_TRUE(stats && !stats->error);
  for (const auto& w : stats->workers) EXPECT_NE(w.id, "client-as-worker");
  EXPECT_EQ(healthy.failures, 0u);
  Report("cross_role_keys", m, !HasFailure(),
         "refused=" + std::to_string(forbidden) + "/" + std::to_string(attempts) +
             " tasks_to_client_key=" + std::to_string(tasks_to_client_key));
  if (HasFailure()) std::cerr << cluster->Logs();
}

// Client B reads, waits on, cancels and subscribes to client A's tasks and batch. Before:
// all allowed. Now: B sees them as unknown (not_found for the batch), cancels nothing; A's
// tasks run on; an admin sees everything.
TEST(HostileAuthTest, AClientCannotReadCancelOrSubscribeToAnothersTasks) {
  Keys keys;
  keys.Make("worker", "workers");
  CurveKeyPair a_key = keys.Make("client-a", "clients");
  CurveKeyPair b_key = keys.Make("client-b", "clients");
  CurveKeyPair admin_key = keys.Make("admin", "admins");
  auto cluster = StartCluster("auth-owners", keys.BrokerArgs());
  ASSERT_TRUE(cluster);
  ASSERT_TRUE(cluster->StartWorker("w0", 4, "", keys.WorkerArgs("worker")));
  HealthyClient healthy(cluster->frontend(), cluster->queue(), keys.As(a_key));
  ASSERT_TRUE(Ready(healthy));
  WireClient a(cluster->frontend(), keys.As(a_key));
  protocol::Batch b;
  b.batch.id = "batch-of-a";
  b.batch.tasks = {Slow(*cluster, "task-of-a", 3000)};
  auto started = a.Call(b, 5000);
  ASSERT_TRUE(started && !started->error);
  std::string id = started->batch->tasks.at("task-of-a");

  std::atomic<size_t> probes{0}, leaked{0};
  auto m = MeasureDuring(healthy, "owners", [&] {
    WireClient intruder(cluster->frontend(), keys.As(b_key));
    probes = RepeatForAWhile([&](size_t n) {
      std::optional<Result<protocol::Reply>> r;
      switch (n % 6) {
        case 0: {
          protocol::Get g;
          g.ids = {id};
          r = intruder.Call(g, 5000);
          if (*r && (*r)->tasks.size() == 1 && (*r)->tasks[0].state != TaskState::kUnknown)
            ++leaked;
          return;
        }
        case 1: {
          protocol::Wait w;
          w.ids = {id};
          r = intruder.Call(w, 5000);
          if (*r && (*r)->tasks.size() == 1 && (*r)->tasks[0].state != TaskState::kUnknown)
            ++leaked;
          return;
        }
        case 2: {
          protocol::Cancel c;
          c.ids = {id};
          r = intruder.Call(c, 5000);
          if (*r && (*r)->count != 0) ++leaked;
          return;
        }
        case 3: {
          protocol::Cancel c;
          c.batch_id = "batch-of-a";
          r = intruder.Call(c, 5000);
          if (*r && !(*r)->error && (*r)->count != 0) ++leaked;
          return;
        }
        case 4: {
          protocol::Subscribe s;
          s.batch_id = "batch-of-a";
          r = intruder.Call(s, 5000);
          if (*r && !(*r)->error) ++leaked;
          return;
        }
        case 5: {
          protocol::Get g;
          g.batch_id = "batch-of-a";
          r = intruder.Call(g, 5000);
          if (*r && !(*r)->error) ++leaked;
          return;
        }
      }
    });
  });
  EXPECT_EQ(leaked, 0u);
  // A's task was neither cancelled nor hidden from A, and ran to the end.
  ASSERT_TRUE(WaitState(a, id, TaskState::kSucceeded, 20000));
  WireClient admin(cluster->frontend(), keys.As(admin_key));
  auto seen = GetTask(admin, id);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->state, TaskState::kSucceeded);
  EXPECT_EQ(healthy.failures, 0u);
  Report("cross_client_access", m, !HasFailure(),
         "probes=" + std::to_string(probes) + " leaked=" + std::to_string(leaked));
  if (HasFailure()) std::cerr << cluster->Logs();
}

// Counts the TASKs a connection on the worker socket gets after saying READY (for `ms`).
size_t TasksAfterReady(WireClient& on_back, const std::string& worker_id,
                       const std::string& queue, int64_t ms) {
  protocol::Ready ready;
  ready.worker_id = worker_id;
  ready.queues = {queue};
  ready.concurrency = 4;
  auto f = protocol::Encode(protocol::Message{ready});
  on_back.SendRaw({f.version, f.command, f.body});
  size_t tasks = 0;
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < end) {
    auto r = on_back.Receive(50);
    if (r && std::holds_alternative<protocol::TaskMsg>(*r)) ++tasks;
  }
  return tasks;
}

// A broker given --curve-allow-dir alone (the one-list setup of before roles). Before: every
// client key was also a worker (receiving every client's payloads) and an admin (DLQ purge,
// every client's tasks). Now, by default, a client key is a client only: its READY is refused
// (it gets none of the queued tasks), the DLQ is forbidden, another client's tasks and batch
// do not exist for it; the broker warns at startup that no key has the worker role.
TEST(HostileAuthTest, OneAllowListGivesClientKeysNoOtherRoleByDefault) {
  Keys keys;
  CurveKeyPair a_key = keys.Make("client-a", "clients");
  CurveKeyPair b_key = keys.Make("client-b", "clients");
  auto cluster = StartCluster("auth-one-list", keys.OneListArgs());
  ASSERT_TRUE(cluster);
  HealthyClient healthy(cluster->frontend(), cluster->queue(), keys.As(a_key));
  ASSERT_TRUE(Ready(healthy));
  // A's batch waits queued (no worker may register): a connection admitted as a worker would
  // be sent it.
  WireClient a(cluster->frontend(), keys.As(a_key));
  protocol::Batch b;
  b.batch.id = "batch-of-a";
  b.batch.tasks = {Slow(*cluster, "task-of-a", 100)};
  auto started = a.Call(b, 5000);
  ASSERT_TRUE(started && !started->error);
  std::string id = started->batch->tasks.at("task-of-a");

  std::atomic<size_t> attempts{0}, leaked{0}, tasks_to_client_key{0};
  auto m = MeasureDuring(healthy, "one-list", [&] {
    WireClient intruder(cluster->frontend(), keys.As(b_key));
    WireClient intruder_on_back(cluster->backend(), keys.As(b_key));
    RepeatForAWhile([&](size_t n) {
      ++attempts;
      auto forbidden = [](const Result<protocol::Reply>& r) {
        return r && r->error && r->error->code == "forbidden";
      };
      auto unknown = [](const Result<protocol::Reply>& r) {
        return r && !r->error && r->tasks.size() == 1 &&
               r->tasks[0].state == TaskState::kUnknown;
      };
      switch (n % 7) {
        case 0:
          tasks_to_client_key += TasksAfterReady(intruder_on_back, "client-as-worker",
                                                 cluster->queue(), 0);
          return;
        case 1:
          if (!forbidden(intruder.Call(
                  protocol::Dlq{0, protocol::DlqOp::kPurge, "", {}, 10}, 5000))) {
            ++leaked;
          }
          return;
        case 2:
          if (!forbidden(intruder.Call(
                  protocol::Dlq{0, protocol::DlqOp::kList, "", {}, 10}, 5000))) {
            ++leaked;
          }
          return;
        case 3: {
          protocol::Get g;
          g.ids = {id};
          if (!unknown(intruder.Call(g, 5000))) ++leaked;
          return;
        }
        case 4: {
          protocol::Wait w;
          w.ids = {id};
          w.timeout_ms = 100;
          if (!unknown(intruder.Call(w, 5000))) ++leaked;
          return;
        }
        case 5: {
          protocol::Cancel c;
          c.ids = {id};
          auto r = intruder.Call(c, 5000);
          if (!r || r->error || r->count != 0) ++leaked;
          return;
        }
        case 6: {
          protocol::Subscribe sub;
          sub.batch_id = "batch-of-a";
          auto r = intruder.Call(sub, 5000);
          if (!r || !r->error || r->error->code != "not_found") ++leaked;
          return;
        }
      }
    });
    // Last, a READY given time to be sent A's queued task.
    tasks_to_client_key += TasksAfterReady(intruder_on_back, "client-as-worker",
                                           cluster->queue(), 500);
  });
  EXPECT_EQ(leaked, 0u);
  EXPECT_EQ(tasks_to_client_key, 0u);
  auto mine = GetTask(a, id);
  ASSERT_TRUE(mine);
  EXPECT_EQ(mine->state, TaskState::kQueued);  // neither run by the intruder nor cancelled
  std::string log = cluster->BrokerLog();
  EXPECT_NE(log.find("no key has the worker role"), std::string::npos);
  EXPECT_NE(log.find("READY needs the worker role; this key ('client-b') has client: its .pub "
                     "belongs in the broker's --curve-worker-allow-dir"),
            std::string::npos);
  EXPECT_EQ(healthy.failures, 0u);
  Report("one_allow_list_default", m, !HasFailure(),
         "probes=" + std::to_string(attempts) + " leaked=" + std::to_string(leaked) +
             " tasks_to_client_key=" + std::to_string(tasks_to_client_key));
  if (HasFailure()) std::cerr << cluster->Logs();
}

// The escape hatch for upgrades: --curve-roles=shared gives the keys of --curve-allow-dir the
// worker and admin roles again (one allow-list, as before roles), and says so loudly: in the
// startup log and in every STATS.
TEST(HostileAuthTest, SharedRolesRestoreTheOneListBehaviourAndSaySo) {
  Keys keys;
  CurveKeyPair a_key = keys.Make("client-a", "clients");
  CurveKeyPair b_key = keys.Make("client-b", "clients");
  auto args = keys.OneListArgs();
  args.insert(args.end(), {"--curve-roles", "shared"});
  auto cluster = StartCluster("auth-shared", args);
  ASSERT_TRUE(cluster);
  WireClient a(cluster->frontend(), keys.As(a_key));
  WireClient b(cluster->frontend(), keys.As(b_key));
  ASSERT_TRUE(WaitFor([&] { return a.Call(protocol::Stats{}, 2000).has_value(); }, 10000));
  protocol::Submit s;
  s.tasks = {Slow(*cluster, "task-of-a", 100)};
  auto submitted = a.Call(s, 5000);
  ASSERT_TRUE(submitted && !submitted->error);
  // B is an admin: it sees A's task and may use the DLQ.
  auto seen = GetTask(b, "task-of-a");
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->state, TaskState::kQueued);
  auto dlq = b.Call(protocol::Dlq{0, protocol::DlqOp::kList, "", {}, 10}, 5000);
  ASSERT_TRUE(dlq.has_value());
  EXPECT_FALSE(dlq->error) << dlq->error->message;
  // B is a worker too: its READY is accepted and it is sent A's task.
  WireClient b_on_back(cluster->backend(), keys.As(b_key));
  EXPECT_EQ(TasksAfterReady(b_on_back, "client-as-worker", cluster->queue(), 3000), 1u);
  // And the broker says so.
  auto stats = b.Call(protocol::Stats{}, 5000);
  ASSERT_TRUE(stats && !stats->error && stats->broker);
  ASSERT_EQ(stats->broker->warnings.size(), 1u);
  EXPECT_NE(stats->broker->warnings[0].find("--curve-roles=shared"), std::string::npos);
  std::string log = cluster->BrokerLog();
  EXPECT_NE(log.find("CURVE roles SHARED (--curve-roles=shared)"), std::string::npos);
  EXPECT_EQ(log.find("no key has the worker role"), std::string::npos);
  if (HasFailure()) std::cerr << cluster->Logs();
}

// Three clients' keys and a worker's on a broker with every role directory.
struct TwoClients {
  Keys keys;
  CurveKeyPair a_key, b_key, admin_key;
  std::unique_ptr<ChaosCluster> cluster;
  explicit TwoClients(const std::string& name) {
    keys.Make("worker", "workers");
    a_key = keys.Make("client-a", "clients");
    b_key = keys.Make("client-b", "clients");
    admin_key = keys.Make("admin", "admins");
    cluster = StartCluster(name, keys.BrokerArgs());
    if (cluster) {
      EXPECT_TRUE(cluster->StartWorker("w0", 4, "", keys.WorkerArgs("worker")));
    }
  }
};

// depends_on naming another client's task: its child would be sent the parent's output (a
// data leak), and would be cancelled by the other client's cancel (dependency_failed). Now
// another key's task is as unknown as one that does not exist: the same not_found.
TEST(HostileAuthTest, DependsOnAnothersTaskIsLikeAnUnknownTask) {
  TwoClients t("auth-depends-on");
  ASSERT_TRUE(t.cluster);
  auto& cluster = t.cluster;
  HealthyClient healthy(cluster->frontend(), cluster->queue(), t.keys.As(t.a_key));
  ASSERT_TRUE(Ready(healthy));
  WireClient a(cluster->frontend(), t.keys.As(t.a_key));
  // A finished task (its output would be handed to the child) and a running one (whose
  // cancel would cascade into the child).
  protocol::Submit s;
  s.tasks = {Slow(*cluster, "done-of-a", 0), Slow(*cluster, "running-of-a", 4000)};
  auto submitted = a.Call(s, 5000);
  ASSERT_TRUE(submitted && !submitted->error);
  ASSERT_TRUE(WaitState(a, "done-of-a", TaskState::kSucceeded));

  auto child = [&](const std::string& parent, const std::string& id) {
    protocol::Submit c;
    c.tasks = {protocol::TaskSpec{}};
    c.tasks[0].id = id;
    c.tasks[0].type = "echo";
    c.tasks[0].queue = cluster->queue();
    c.tasks[0].depends_on = {parent};
    return c;
  };
  std::atomic<size_t> probes{0}, leaked{0};
  std::string unknown_message, foreign_message;
  auto m = MeasureDuring(healthy, "depends-on", [&] {
    WireClient intruder(cluster->frontend(), t.keys.As(t.b_key));
    auto never = intruder.Call(child("no-such-task", "child-of-nothing"), 5000);
    if (never && never->error) unknown_message = never->error->code + ": " + never->error->message;
    probes = RepeatForAWhile([&](size_t n) {
      std::string parent = n % 2 == 0 ? "done-of-a" : "running-of-a";
      auto r = intruder.Call(child(parent, "child-" + std::to_string(n)), 5000);
      if (!r || !r->error || r->error->code != "not_found") {
        ++leaked;
        return;
      }
      std::string got = r->error->code + ": " + r->error->message;
      if (auto at = got.find(parent); at != std::string::npos) {
        got.replace(at, parent.size(), "no-such-task");
      }
      foreign_message = got;
    });
  });
  EXPECT_EQ(leaked, 0u);
  EXPECT_EQ(unknown_message, "not_found: tasks[0]: parent task no-such-task not found");
  EXPECT_EQ(foreign_message, unknown_message);  // indistinguishable from a missing task
  // A cancels its running task: nothing of B's depends on it.
  protocol::Cancel c;
  c.ids = {"running-of-a"};
  auto cancelled = a.Call(c, 5000);
  ASSERT_TRUE(cancelled && !cancelled->error);
  WireClient admin(cluster->frontend(), t.keys.As(t.admin_key));
  for (const char* id : {"child-0", "child-1"}) {
    auto kid = GetTask(admin, id);
    ASSERT_TRUE(kid);
    EXPECT_EQ(kid->state, TaskState::kUnknown) << id;  // never stored
  }
  // The same key may still depend on its own tasks.
  auto own = a.Call(child("done-of-a", "child-of-own"), 5000);
  ASSERT_TRUE(own.has_value());
  EXPECT_FALSE(own->error) << own->error->message;
  EXPECT_TRUE(WaitState(a, "child-of-own", TaskState::kSucceeded));
  EXPECT_EQ(healthy.failures, 0u);
  Report("depends_on_foreign_task", m, !HasFailure(),
         "probes=" + std::to_string(probes) + " leaked=" + std::to_string(leaked));
  if (HasFailure()) std::cerr << cluster->Logs();
}

// An idempotency key another client used: the resubmit returned the other client's task id and
// state (and, with notify, its RESULT), and the victim could not submit under its own key. Now
// idempotency keys are per client key: B gets a task of its own, A's key still finds A's task.
TEST(HostileAuthTest, IdempotencyKeysArePerClient) {
  TwoClients t("auth-idem");
  ASSERT_TRUE(t.cluster);
  auto& cluster = t.cluster;
  HealthyClient healthy(cluster->frontend(), cluster->queue(), t.keys.As(t.a_key));
  ASSERT_TRUE(Ready(healthy));
  WireClient a(cluster->frontend(), t.keys.As(t.a_key));
  auto idem = [&](const std::string& key, const std::string& payload, bool notify) {
    protocol::Submit s;
    s.notify = notify;
    s.tasks = {protocol::TaskSpec{}};
    s.tasks[0].type = "echo";
    s.tasks[0].queue = cluster->queue();
    s.tasks[0].payload = payload;
    s.tasks[0].idempotency_key = key;
    return s;
  };
  auto first = a.Call(idem("order-17", "SECRET of A", false), 5000);
  ASSERT_TRUE(first && !first->error && first->ids.size() == 1);
  std::string a_id = first->ids[0];
  ASSERT_TRUE(WaitState(a, a_id, TaskState::kSucceeded));

  std::atomic<size_t> probes{0}, leaked{0}, results_of_a{0};
  std::string b_id;
  auto m = MeasureDuring(healthy, "idem", [&] {
    WireClient intruder(cluster->frontend(), t.keys.As(t.b_key));
    probes = RepeatForAWhile([&](size_t) {
      auto r = intruder.Call(idem("order-17", "B's own", true), 5000);
      if (!r || r->error || r->ids.size() != 1 || r->ids[0] == a_id) {
        ++leaked;
        return;
      }
      if (b_id.empty()) b_id = r->ids[0];
      if (r->ids[0] != b_id) ++leaked;  // B's own resubmits still find B's first task
    });
    while (auto push = intruder.NextPush(500)) {
      if (auto* res = std::get_if<protocol::ResultMsg>(&*push); res && res->task.id == a_id) {
        ++results_of_a;
      }
    }
  });
  EXPECT_EQ(leaked, 0u);
  EXPECT_EQ(results_of_a, 0u);
  EXPECT_FALSE(b_id.empty());
  // A's key still finds A's task.
  auto again = a.Call(idem("order-17", "SECRET of A", false), 5000);
  ASSERT_TRUE(again && !again->error && again->ids.size() == 1);
  EXPECT_EQ(again->ids[0], a_id);
  EXPECT_EQ(healthy.failures, 0u);
  Report("idempotency_key_of_another", m, !HasFailure(),
         "probes=" + std::to_string(probes) + " leaked=" + std::to_string(leaked) +
             " results_of_a=" + std::to_string(results_of_a));
  if (HasFailure()) std::cerr << cluster->Logs();
}

// Another client's batch id: a BATCH reusing it, a SUBMIT naming it as its tasks' batch_id.
// Neither joins A's batch (a conflict; batch_id is the broker's to set), so A's batch keeps
// its one task and its state.
TEST(HostileAuthTest, AnothersBatchIdCannotBeJoined) {
  TwoClients t("auth-batch-id");
  ASSERT_TRUE(t.cluster);
  auto& cluster = t.cluster;
  HealthyClient healthy(cluster->frontend(), cluster->queue(), t.keys.As(t.a_key));
  ASSERT_TRUE(Ready(healthy));
  WireClient a(cluster->frontend(), t.keys.As(t.a_key));
  protocol::Batch b;
  b.batch.id = "batch-of-a";
  b.batch.tasks = {Slow(*cluster, "task-of-a", 3000)};
  auto started = a.Call(b, 5000);
  ASSERT_TRUE(started && !started->error);

  std::atomic<size_t> probes{0}, leaked{0};
  auto m = MeasureDuring(healthy, "batch-id", [&] {
    WireClient intruder(cluster->frontend(), t.keys.As(t.b_key));
    probes = RepeatForAWhile([&](size_t n) {
      if (n % 2 == 0) {
        protocol::Batch join;
        join.batch.id = "batch-of-a";
        join.batch.tasks = {protocol::TaskSpec{}};
        join.batch.tasks[0].name = "intruder";
        join.batch.tasks[0].type = "echo";
        join.batch.tasks[0].queue = cluster->queue();
        auto r = intruder.Call(join, 5000);
        if (!r || !r->error) ++leaked;
      } else {
        protocol::Submit s;
        s.tasks = {protocol::TaskSpec{}};
        s.tasks[0].type = "echo";
        s.tasks[0].queue = cluster->queue();
        s.tasks[0].batch_id = "batch-of-a";
        auto r = intruder.Call(s, 5000);
        if (!r || r->error) ++leaked;  // accepted, as a task of no batch
      }
    });
  });
  EXPECT_EQ(leaked, 0u);
  protocol::Get g;
  g.batch_id = "batch-of-a";
  auto status = a.Call(g, 5000);
  ASSERT_TRUE(status && !status->error && status->batch);
  EXPECT_EQ(status->batch->total, 1u);
  EXPECT_EQ(status->batch->tasks.size(), 1u);
  EXPECT_EQ(healthy.failures, 0u);
  Report("batch_id_of_another", m, !HasFailure(),
         "probes=" + std::to_string(probes) + " leaked=" + std::to_string(leaked));
  if (HasFailure()) std::cerr << cluster->Logs();
}

}  // namespace
}  // namespace taskmill::chaos
