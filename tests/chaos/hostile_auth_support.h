#pragma once

// Shared by the identity-and-roles attacks of issue 13 (hostile_auth_test.cc: who may report
// results and be a worker; hostile_roles_test.cc: roles and whose tasks a key may reach): CURVE
// keys per role, the healthy client's p50 around an attack, and the HOSTILE_ATTACK line that
// scripts/chaos.sh tabulates.

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

namespace taskmill::chaos::hostile_auth {

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
inline Measured MeasureDuring(HealthyClient& healthy, const std::string& name, Attack attack) {
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
inline void Report(const std::string& attack, const Measured& m, bool held, const std::string& extra) {
  EXPECT_GT(m.calls, 5u) << attack << ": the healthy client made too few calls";
  EXPECT_LE(m.p50_attack_us, std::max<int64_t>(10 * m.p50_idle_us, 5000))
      << attack << ": healthy p50 " << m.p50_attack_us << " us vs " << m.p50_idle_us << " idle";
  std::cout << "HOSTILE_ATTACK attack=" << attack << " p50_idle_us=" << m.p50_idle_us
            << " p50_attack_us=" << m.p50_attack_us << " held=" << (held ? "yes" : "no") << " "
            << extra << std::endl;
}

// Repeats `step` until kAttackMs passes or kMaxAttackSends steps ran; returns the count.
template <typename Step>
inline size_t RepeatForAWhile(Step step) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(kAttackMs);
  size_t n = 0;
  for (; n < kMaxAttackSends && std::chrono::steady_clock::now() < end; ++n) {
    step(n);
    if (n % 20 == 19) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // pacing
  }
  return n;
}

inline protocol::TaskSpec Slow(const ChaosCluster& cluster, const std::string& id, int64_t ms) {
  protocol::TaskSpec t;
  t.id = id;
  t.name = id;
  t.type = "exec";
  t.queue = cluster.queue();
  t.payload = cluster.TaskPayload(ms);
  t.max_attempts = 1;  // a forged or lost attempt would show as a failure, not a retry
  return t;
}

inline std::optional<protocol::TaskInfo> GetTask(WireClient& c, const std::string& id) {
  protocol::Get g;
  g.ids = {id};
  auto r = c.Call(g, 5000);
  if (!r || r->error || r->tasks.empty()) return std::nullopt;
  return r->tasks[0];
}

inline bool WaitState(WireClient& c, const std::string& id, TaskState state, int64_t ms = 15000) {
  return WaitFor(
      [&] {
        auto t = GetTask(c, id);
        return t && t->state == state;
      },
      ms);
}

inline std::unique_ptr<ChaosCluster> StartCluster(const std::string& name,
                                           std::vector<std::string> broker_args = {}) {
  ChaosCluster::Options o;
  o.broker_args = std::move(broker_args);
  auto started = ChaosCluster::Start(name, o);
  EXPECT_TRUE(started.has_value()) << started.error().message;
  return started ? std::move(*started) : nullptr;
}

inline bool Ready(HealthyClient& healthy) {
  return WaitFor([&] { return healthy.client.Call(protocol::Stats{}, 2000).has_value(); }, 10000);
}

// A DEALER that never says READY sends DONEs for a running batch task, with every small token
// (the old tokens were attempt counters: 1 on a first attempt), ok with output FORGED and as
// failures costing 999,999 USD. Before: recorded, the real result refused as stale, the batch

}  // namespace taskmill::chaos::hostile_auth
