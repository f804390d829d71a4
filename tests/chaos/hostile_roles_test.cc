// Issue 13, roles and ownership: keys outside their role, one client reading, cancelling or
// subscribing to another's tasks, the one-list default, and reach through ids another key
// made (depends_on, idempotency keys, batch ids), against a live broker with CURVE while a
// healthy client keeps submitting. Same rules and HOSTILE_ATTACK lines as
// hostile_auth_test.cc.

#include "chaos/hostile_auth_support.h"

namespace taskmill::chaos {
namespace {

using namespace hostile_auth;  // NOLINT: the attacks' shared vocabulary
using protocol::TaskState;

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
