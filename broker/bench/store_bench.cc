// taskmill-store-bench: store-only throughput (enqueue + claim + complete of N tasks,
// batched and pipelined) against a fresh redis-server child (AOF everysec, unix socket),
// followed by redis-benchmark figures for ZADD and EVALSHA on the same server, so the
// store's numbers can be read against what that Redis does on this machine.
//
// Usage: taskmill-store-bench [tasks=100000] [batch=1000] [in_flight=8] [workers=1] [filler=0]
//                             [per_request=0]
// `workers`: the claims (and DONEs) of that many workers share each call (ClaimMany,
// FinishMany), batch/workers tasks each, as the broker's turns send them.
// `filler`: that many unrelated small hashes written first (not timed), to tell the cost of
// a large keyspace (a big backlog's task hashes) from that of large sorted sets.
// `per_request`: the enqueue calls carry request ids (issue 17), one per that many tasks (1:
// every task its own SUBMIT, the dearest case); 0: none.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "redis/embedded_redis.h"
#include "redis/redis_connection.h"
#include "store/store.h"
#include "taskmill/shared/clock.h"
#include "taskmill/shared/ids.h"
#include "taskmill/shared/log.h"

using namespace taskmill;
using namespace taskmill::broker;

namespace {

const Clock& kClock = SystemClock::Instance();

// Runs `issue(i)` for i in [0, calls), keeping at most `in_flight` calls outstanding, each of
// which must call done() once. Returns elapsed ms.
template <typename Issue>
int64_t Pipelined(RedisConnection& conn, int calls, int in_flight, Issue issue) {
  int issued = 0, answered = 0;
  int64_t start = kClock.MonotonicMs();
  auto done = [&] { ++answered; };
  while (answered < calls) {
    while (issued < calls && issued - answered < in_flight) issue(issued++, done);
    int target = answered + 1;
    if (!RunUntil(
            conn, [&] { return answered >= target; }, 60000)) {
      std::fprintf(stderr, "timed out waiting for redis\n");
      std::exit(1);
    }
  }
  return kClock.MonotonicMs() - start;
}

void Check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "bench failed: %s\n", what.c_str());
    std::exit(1);
  }
}

// Sum of used_cpu_sys and used_cpu_user (seconds) and used_memory (bytes) from INFO.
struct RedisUsage {
  double cpu_s = 0;
  double memory = 0;
};
double InfoField(const std::string& info, const std::string& name) {
  size_t pos = info.find(name + ":");
  return pos == std::string::npos ? 0.0 : std::strtod(info.c_str() + pos + name.size() + 1, nullptr);
}
std::string Info(RedisConnection& conn, const std::string& section) {
  std::optional<std::string> info;
  conn.Command({"INFO", section}, [&](Result<const redisReply*> r) {
    info = r ? std::string((*r)->str, (*r)->len) : "";
  });
  Check(RunUntil(
            conn, [&] { return info.has_value(); }, 10000),
        "info");
  return *info;
}
RedisUsage Usage(RedisConnection& conn) {
  std::string cpu = Info(conn, "cpu");
  std::string mem = Info(conn, "memory");
  return {InfoField(cpu, "used_cpu_sys") + InfoField(cpu, "used_cpu_user"),
          InfoField(mem, "used_memory")};
}

std::string Run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return "(could not run redis-benchmark)";
  char buf[512];
  while (fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  pclose(p);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const int tasks = argc > 1 ? std::atoi(argv[1]) : 100000;
  const int batch = argc > 2 ? std::atoi(argv[2]) : 1000;
  const int in_flight = argc > 3 ? std::atoi(argv[3]) : 8;
  const int workers = std::max(1, argc > 4 ? std::atoi(argv[4]) : 1);
  const int filler = std::max(0, argc > 5 ? std::atoi(argv[5]) : 0);
  const int per_request = std::max(0, argc > 6 ? std::atoi(argv[6]) : 0);
  const int calls = (tasks + batch - 1) / batch;
  (void)SetLogLevel("warn");

  std::string dir = (std::filesystem::temp_directory_path() / "tm-bench-XXXXXX").string();
  Check(mkdtemp(dir.data()) != nullptr, "mkdtemp");
  EmbeddedRedisOptions ro;
  ro.data_dir = dir;
  auto redis = EmbeddedRedis::Start(std::move(ro));
  Check(redis.has_value(), redis ? "" : redis.error().ToString());
  RedisConnection conn(redis->config());
  StoreOptions opts;
  opts.prefix = "bench:";
  Store store(conn, kClock, opts);
  conn.Start();
  Check(RunUntil(
            conn, [&] { return conn.ready(); }, 10000),
        "connect: " + conn.last_error());

  // Unrelated keys the size of a finished task's hash, 10k per EVAL.
  for (int from = 0; from < filler; from += 10000) {
    bool filled = false;
    conn.Command({"EVAL",
                  "for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do "
                  "redis.call('HSET', 'bench:fill:' .. i, 'spec', ARGV[3], 'state', 'succeeded') "
                  "end return 0",
                  "0", std::to_string(from), std::to_string(std::min(filler, from + 10000) - 1),
                  std::string(200, 'f')},
                 [&](Result<const redisReply*> r) {
                   Check(r.has_value(), "filler");
                   filled = true;
                 });
    Check(RunUntil(
              conn, [&] { return filled; }, 60000),
          "filler");
  }
  RedisUsage u0 = Usage(conn);
  std::vector<protocol::TaskSpec> specs(static_cast<size_t>(batch));
  for (auto& s : specs) {
    s.type = "bench";
    s.payload = std::string(64, 'x');
  }
  int64_t enqueue_ms = Pipelined(conn, calls, in_flight, [&](int i, auto done) {
    auto chunk = specs;
    chunk.resize(static_cast<size_t>(std::min(batch, tasks - i * batch)));
    for (size_t j = 0; j < chunk.size(); ++j) chunk[j].priority = static_cast<uint8_t>(j % 4);
    std::vector<RequestKey> requests;
    for (size_t j = 0; per_request > 0 && j < chunk.size(); j += static_cast<size_t>(per_request)) {
      requests.push_back({NewRequestId(), "0123456789abcdef", j,
                          std::min(static_cast<size_t>(per_request), chunk.size() - j)});
    }
    store.Enqueue(std::move(chunk), [done](Result<EnqueueResult> r) {
      Check(r.has_value(), r ? "" : r.error().ToString());
      done();
    }, {}, requests);
  });

  RedisUsage u1 = Usage(conn);
  std::vector<std::vector<protocol::Done>> outcomes(static_cast<size_t>(calls));
  std::vector<std::vector<DoneGroup>> groups(static_cast<size_t>(calls));
  int claimed = 0;
  int64_t claim_ms = Pipelined(conn, calls, in_flight, [&](int i, auto done) {
    std::vector<ClaimRequest> reqs;
    for (int w = 0; w < workers; ++w) {
      int n = batch / workers + (w < batch % workers ? 1 : 0);
      reqs.push_back({"w" + std::to_string((i * workers + w) % 16), {"default"}, {},
                      static_cast<uint32_t>(n), 60000});
    }
    std::vector<std::string> ids;
    for (const auto& r : reqs) ids.push_back(r.worker_id);
    store.ClaimMany(std::move(reqs), [&, i, done, ids](Result<ClaimsResult> r) {
      Check(r.has_value(), r ? "" : r.error().ToString());
      for (size_t w = 0; w < r->claims.size(); ++w) {
        Check(r->claims[w].has_value(), "claim");
        const auto& tasks_of = r->claims[w]->tasks;
        groups[static_cast<size_t>(i)].push_back({ids[w], tasks_of.size()});
        for (const auto& m : tasks_of) {
          protocol::Done d;
          d.task_id = m.task_id;
          d.token = m.token;
          d.ok = true;
          d.output = "ok";
          d.duration_ms = 1;
          d.cost = {{"usd", 0.001}};
          outcomes[static_cast<size_t>(i)].push_back(std::move(d));
        }
        claimed += static_cast<int>(tasks_of.size());
      }
      done();
    });
  });
  Check(claimed == tasks, "claimed " + std::to_string(claimed) + " of " + std::to_string(tasks));

  RedisUsage u2 = Usage(conn);
  int64_t finish_ms = Pipelined(conn, calls, in_flight, [&](int i, auto done) {
    // Results come from the worker that claimed them (the store checks the lease's owner).
    store.FinishMany(groups[static_cast<size_t>(i)], outcomes[static_cast<size_t>(i)],
                     [done](Result<FinishResult> r) {
                       Check(r.has_value(), r ? "" : r.error().ToString());
                       done();
                     });
  });
  RedisUsage u3 = Usage(conn);
  std::optional<QueueCounters> stats;
  store.Stats({"default"}, [&](auto r) { stats = r->at(0); });
  Check(RunUntil(
            conn, [&] { return stats.has_value(); }, 10000),
        "stats");
  Check(stats->stats.succeeded == static_cast<uint64_t>(tasks), "not every task succeeded");

  auto rate = [&](int64_t ms) { return ms > 0 ? tasks * 1000.0 / static_cast<double>(ms) : 0.0; };
  int64_t total = enqueue_ms + claim_ms + finish_ms;
  std::printf(
      "taskmill store: %d tasks, %d per call (%d workers), %d calls in flight, %d filler keys, "
      "%d tasks per request id (0: none), "
      "AOF everysec\n",
      tasks, batch, workers, in_flight, filler, per_request);
  auto phase = [&](const char* name, int64_t ms) {
    std::printf("  %-9s %6lld ms  %9.0f tasks/s\n", name, static_cast<long long>(ms), rate(ms));
  };
  phase("enqueue", enqueue_ms);
  phase("claim", claim_ms);
  phase("complete", finish_ms);
  std::printf("  full lifecycle (enqueue+claim+complete): %.0f tasks/s\n", rate(total));
  // Redis CPU from INFO cpu: usable while other processes load the machine (wall time is not).
  auto us = [&](double a, double b) { return (b - a) * 1e6 / tasks; };
  std::printf("  redis cpu per task: enqueue %.1f us, claim %.1f us, complete %.1f us, total %.1f us\n",
              us(u0.cpu_s, u1.cpu_s), us(u1.cpu_s, u2.cpu_s), us(u2.cpu_s, u3.cpu_s),
              us(u0.cpu_s, u3.cpu_s));
  std::printf("  redis memory per finished task: %.0f B\n", (u3.memory - u0.memory) / tasks);
  std::printf("  redis memory per enqueued task (after enqueue): %.0f B\n",
              (u1.memory - u0.memory) / tasks);

  // Server-side time of the scripts, to tell Redis's share of the wall time from the client's,
  // and the commands the scripts ran per task (the cost is set by their number).
  std::optional<std::string> info = Info(conn, "commandstats");
  for (size_t pos = 0; (pos = info->find("cmdstat_", pos)) != std::string::npos; ++pos) {
    std::string line = info->substr(pos, info->find('\r', pos) - pos);
    size_t calls_at = line.find("calls=");
    double ncalls = calls_at == std::string::npos ? 0 : std::strtod(line.c_str() + calls_at + 6, nullptr);
    std::printf("  redis %s (%.2f per task)\n", line.c_str(), ncalls / tasks);
  }

  // The same server, raw: ZADD and a one-ZADD EVALSHA, pipelined 16 deep.
  std::optional<std::string> sha;
  conn.Command(
      {"SCRIPT", "LOAD", "return redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])"},
      [&](Result<const redisReply*> r) { sha = r ? std::string((*r)->str, (*r)->len) : ""; });
  Check(RunUntil(
            conn, [&] { return sha.has_value(); }, 10000),
        "script load");
  std::string base =
      "redis-benchmark -s " + redis->socket_path() + " -n 200000 -P 16 -r 100000 -q ";
  std::printf("redis-benchmark (same server, -P 16, -n 200000):\n%s",
              Run(base + "-t zadd 2>&1").c_str());
  std::string evalsha = base + "evalsha " + *sha + " 1 bench:z __rand_int__ m:__rand_int__";
  std::printf("%s", Run(evalsha + " 2>&1 | sed 's/^/EVALSHA (1 ZADD): /'").c_str());
  (void)redis->Stop();
  std::filesystem::remove_all(dir);
  return 0;
}
