// Redis near its maxmemory through real processes: the broker refuses new tasks with
// store_full before Redis refuses a single write, every task it accepted still runs to the
// end, and once the finished-task cap (--max-finished-per-queue) has trimmed the results,
// tasks are accepted again. /metrics shows Redis's memory and the refusals.

#include <chrono>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>

#include "flow_helpers.h"
#include "redis/sync_redis.h"
#include "support/http_get.h"
#include "support/launch.h"

namespace taskmill::testing {
namespace {

using protocol::TaskState;

constexpr uint64_t kMiB = 1 << 20;
constexpr size_t kPayloadBytes = 16 * 1024;

// The value of `field` in an INFO section, or -1.
int64_t InfoValue(broker::SyncRedis& redis, const std::string& section, const std::string& field) {
  auto r = redis.Command({"INFO", section});
  if (!r) return -1;
  std::istringstream in(std::string((*r)->str, (*r)->len));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1));
  }
  return -1;
}

std::string InfoText(broker::SyncRedis& redis, const std::string& section) {
  auto r = redis.Command({"INFO", section});
  return r ? std::string((*r)->str, (*r)->len) : "";
}

// The value of an unlabelled-but-for-broker sample on the /metrics page, or -1.
double MetricValue(const std::string& http, const std::string& name) {
  auto r = HttpGet(http, "/metrics");
  if (r.status != 200) return -1;
  std::istringstream in(r.body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + "{", 0) == 0) return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

protocol::TaskSpec Big(int n) {
  auto spec = Spec("echo", "{}");
  spec.payload = std::string(kPayloadBytes, static_cast<char>('a' + n % 26));
  return spec;
}

TEST(MemoryGuardIntegrationTest, RefusesBeforeRedisIsFullAndLosesNothing) {
  Cluster::Options o;
  o.broker_args = {"--max-finished-per-queue", "20"};
  auto started = Cluster::Start(o);
  ASSERT_TRUE(started.has_value()) << started.error().message;
  auto& cluster = **started;
  broker::SyncRedis redis(cluster.redis()->config(), 5000);
  // Room for a few hundred queued tasks above what Redis holds now.
  int64_t base = InfoValue(redis, "memory", "used_memory");
  ASSERT_GT(base, 0);
  uint64_t maxmemory = static_cast<uint64_t>(base) + 8 * kMiB;
  ASSERT_TRUE(redis.Command({"CONFIG", "SET", "maxmemory-policy", "noeviction"}));
  ASSERT_TRUE(redis.Command({"CONFIG", "SET", "maxmemory", std::to_string(maxmemory)}));
  ASSERT_TRUE(redis.Command({"CONFIG", "RESETSTAT"}));
  // The broker reads maxmemory every 500 ms.
  ASSERT_TRUE(WaitFor(
      [&] {
        return MetricValue(cluster.http(), "taskmill_broker_redis_maxmemory_bytes") ==
               static_cast<double>(maxmemory);
      },
      10000))
      << cluster.Logs();

  // No worker yet: every accepted task stays queued and Redis fills up.
  WireClient& c = cluster.client();
  std::vector<std::string> accepted;
  std::optional<protocol::WireError> refusal;
  for (int i = 0; i < 2000 && !refusal; ++i) {
    protocol::Submit s;
    s.tasks = {Big(i)};
    s.notify = true;
    auto r = c.Call(s, 10000);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    if (r->error) {
      refusal = r->error;
    } else {
      accepted.push_back(r->ids.at(0));
    }
  }
  ASSERT_TRUE(refusal.has_value()) << "2000 tasks of 16 KiB fit in 8 MiB?";
  EXPECT_EQ(refusal->code, "store_full");
  EXPECT_EQ(refusal->message.rfind("Redis memory is near its maxmemory (", 0), 0u)
      << "not the broker's early refusal: " << refusal->message;
  // Redis itself never refused a write: it is under its maxmemory and counted no OOM error.
  EXPECT_EQ(InfoText(redis, "errorstats").find("errorstat_OOM"), std::string::npos)
      << InfoText(redis, "errorstats");
  EXPECT_LT(static_cast<uint64_t>(InfoValue(redis, "memory", "used_memory")), maxmemory);
  EXPECT_GT(accepted.size(), 100u);
  std::cout << "MEMORY_GUARD accepted=" << accepted.size() << " used_memory="
            << InfoValue(redis, "memory", "used_memory") << " maxmemory=" << maxmemory
            << " refusal=\"" << refusal->message << "\"\n";
  // A BATCH is refused the same way; STATS says why; /metrics counts the refusals.
  protocol::Batch b;
  b.batch.tasks = {Big(0)};
  b.batch.tasks[0].name = "a";
  auto batch = c.Call(b, 10000);
  ASSERT_TRUE(batch.has_value());
  ASSERT_TRUE(batch->error.has_value());
  EXPECT_EQ(batch->error->code, "store_full");
  auto stats = c.Call(protocol::Stats{}, 10000);
  ASSERT_TRUE(stats && !stats->error && stats->broker);
  bool said = false;
  for (const auto& w : stats->broker->warnings) said |= w.find("store_full") != std::string::npos;
  EXPECT_TRUE(said) << "STATS does not say new tasks are refused";
  EXPECT_TRUE(WaitFor(
      [&] {
        return MetricValue(cluster.http(), "taskmill_broker_submits_refused_store_full_total") >=
               2;
      },
      5000));
  EXPECT_GT(MetricValue(cluster.http(), "taskmill_broker_redis_used_memory_bytes"), 0);

  // Everything accepted runs to the end: one succeeded RESULT each, none dead or lost.
  ASSERT_TRUE(cluster.StartWorker("w1", 4));
  std::set<std::string> pending(accepted.begin(), accepted.end());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!pending.empty() && std::chrono::steady_clock::now() < deadline) {
    auto push = c.NextPush(1000);
    if (!push) continue;
    auto* result = std::get_if<protocol::ResultMsg>(&*push);
    if (result == nullptr) continue;
    EXPECT_EQ(result->task.state, TaskState::kSucceeded) << result->task.id;
    pending.erase(result->task.id);
  }
  EXPECT_TRUE(pending.empty()) << pending.size() << " of " << accepted.size()
                               << " accepted tasks never finished\n"
                               << cluster.Logs();
  EXPECT_EQ(InfoText(redis, "errorstats").find("errorstat_OOM"), std::string::npos)
      << "a DONE met a full Redis: " << InfoText(redis, "errorstats");

  // The cap trimmed the finished tasks: memory is back under the limit, tasks are accepted.
  EXPECT_TRUE(WaitFor(
      [&] {
        protocol::Submit s;
        s.tasks = {Big(1)};
        auto r = c.Call(s, 10000);
        return r && !r->error;
      },
      10000))
      << "still refused after the finished tasks were trimmed; used_memory "
      << InfoValue(redis, "memory", "used_memory") << " of " << maxmemory;
}

}  // namespace
}  // namespace taskmill::testing
