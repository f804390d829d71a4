// taskmill-bench: end-to-end figures of taskmill (issue 6). With --spawn it starts its own
// redis-server (AOF everysec), taskmill-broker and taskmill-worker processes; without it, it
// drives an existing broker and measures the client side only. Prints a table and, with
// --json, writes every figure to a file. scripts/bench.sh runs it beside BullMQ and Celery.

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "scenarios.h"
#include "taskmill/shared/flags.h"
#include "taskmill/shared/version.h"
#include "taskmill/shared/log.h"
#include "test_paths.h"  // TASKMILL_SOURCE_DIR, TASKMILL_BUILD_DIR

namespace {

using nlohmann::json;
using taskmill::bench::BenchConfig;

constexpr const char* kProgram = "taskmill-bench";
const std::vector<std::string> kDefaultScenarios = {"throughput", "drain", "latency", "priority"};
const std::vector<std::string> kScenarios = {"throughput", "scraped", "drain",
                                             "latency",    "priority", "memory"};

int Usage(const std::string& message) {
  std::fprintf(stderr, "%s: %s (see %s --help)\n", kProgram, message.c_str(), kProgram);
  return 2;
}

std::string Fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, v);
  return buf;
}

double Num(const json& j, const char* a, const char* b = nullptr, const char* c = nullptr) {
  const json* p = &j;
  for (const char* k : {a, b, c}) {
    if (k == nullptr) break;
    if (!p->is_object() || !p->contains(k)) return 0;
    p = &(*p)[k];
  }
  return p->is_number() ? p->get<double>() : 0;
}

void PrintResources(const json& r) {
  if (!r.contains("broker")) {
    std::printf("    bench client cpu %.0f ms\n", Num(r, "bench", "cpu_ms"));
    return;
  }
  std::printf(
      "    cpu us/task: broker %.1f, redis %.1f, workers %.1f; cpu ms: broker %.0f, "
      "redis %.0f, workers %.0f, bench %.0f\n",
      Num(r, "broker", "cpu_us_per_task"), Num(r, "redis", "cpu_us_per_task"),
      Num(r, "workers", "cpu_us_per_task"), Num(r, "broker", "cpu_ms"), Num(r, "redis", "cpu_ms"),
      Num(r, "workers", "cpu_ms"), Num(r, "bench", "cpu_ms"));
  std::printf("    peak rss: broker %.1f MiB, redis %.1f MiB; redis used_memory %.1f MiB\n",
              Num(r, "broker", "peak_rss_kb") / 1024, Num(r, "redis", "peak_rss_kb") / 1024,
              Num(r, "redis", "used_memory") / 1048576);
  if (r["redis"].contains("commands") && !r["redis"]["commands"].empty()) {
    std::string line;
    size_t shown = 0;
    for (const auto& cmd : r["redis"]["commands"]) {
      if (shown++ == 6) break;
      line += (line.empty() ? "" : ", ") + cmd["command"].get<std::string>() + " " +
              Fmt("%.2f", cmd["calls_per_task"].get<double>()) + "x " +
              Fmt("%.1f", cmd["usec_per_task"].get<double>()) + " us";
    }
    std::printf("    redis per task (calls, time inside redis): %s\n", line.c_str());
  }
}

void PrintTable(const json& report) {
  const json& s = report["scenarios"];
  std::printf("\n%-11s %10s %9s %12s  %s\n", "scenario", "tasks", "seconds", "tasks/s", "notes");
  for (const char* name : {"throughput", "scraped", "drain", "priority", "memory"}) {
    if (!s.contains(name)) continue;
    const json& r = s[name];
    if (r.contains("error")) {
      std::printf("%-11s FAILED: %s\n", name, r["error"].get<std::string>().c_str());
      continue;
    }
    std::string notes;
    if (std::string(name) == "priority") {
      notes = "out of order: " + Fmt("%.4f", Num(r, "out_of_order_fraction") * 100) + "%";
    } else if (std::string(name) == "scraped") {
      notes = Fmt("%.0f", Num(r, "metrics_scrapes", "scrapes")) + " scrapes of /metrics (" +
              Fmt("%.0f", Num(r, "metrics_scrapes", "failed")) + " failed, mean " +
              Fmt("%.1f", Num(r, "metrics_scrapes", "mean_ms")) + " ms)";
      if (s.contains("throughput") && Num(s["throughput"], "tasks_per_s") > 0) {
        notes += ", " +
                 Fmt("%.3f", Num(r, "tasks_per_s") / Num(s["throughput"], "tasks_per_s")) +
                 "x unscraped";
      }
    } else if (std::string(name) == "memory") {
      notes = "broker rss MiB start/mid/end " +
              Fmt("%.1f", Num(r, "broker_rss_kb", "start") / 1024) + "/" +
              Fmt("%.1f", Num(r, "broker_rss_kb", "middle") / 1024) + "/" +
              Fmt("%.1f", Num(r, "broker_rss_kb", "end") / 1024) + ", redis " +
              Fmt("%.0f", Num(r, "redis_bytes_per_finished_task")) + " B/finished task";
    }
    if (Num(r, "failed") > 0) notes += " FAILED TASKS: " + Fmt("%.0f", Num(r, "failed"));
    std::printf("%-11s %10.0f %9.2f %12.0f  %s\n", name, Num(r, "tasks"), Num(r, "seconds"),
                Num(r, "tasks_per_s"), notes.c_str());
    PrintResources(r["resources"]);
  }
  if (s.contains("latency") && s["latency"].contains("error")) {
    std::printf("%-11s FAILED: %s\n", "latency", s["latency"]["error"].get<std::string>().c_str());
  } else if (s.contains("latency")) {
    const json& r = s["latency"];
    std::printf(
        "latency     %10.0f samples: p50 %.0f us, p99 %.0f us, p99.9 %.0f us, max %.0f us"
        " (mean %.0f us)\n",
        Num(r, "samples"), Num(r, "p50_us"), Num(r, "p99_us"), Num(r, "p999_us"), Num(r, "max_us"),
        Num(r, "mean_us"));
    PrintResources(r["resources"]);
  }
}

json ConfigJson(const BenchConfig& c) {
  utsname u{};
  uname(&u);
  return {{"spawn", c.spawn},
          {"tasks", c.tasks},
          {"producers", c.producers},
          {"workers", c.workers},
          {"brokers", c.deployment.brokers},
          {"concurrency", c.concurrency},
          {"payload_bytes", c.payload_bytes},
          {"chunk", c.chunk},
          {"completion", c.completion},
          {"producer", c.producer},
          {"window", c.window},
          {"latency_samples", c.latency_samples},
          {"memory_tasks", c.memory_tasks},
          {"scenarios", c.scenarios},
          {"machine",
           {{"cores", std::thread::hardware_concurrency()},
            {"kernel", std::string(u.sysname) + " " + u.release}}}};
}

}  // namespace

int main(int argc, char** argv) {
  using namespace taskmill;
  BenchConfig c;
  c.scenarios = kDefaultScenarios;
  c.deployment.broker_bin = std::string(TASKMILL_BUILD_DIR) + "/broker/taskmill-broker";
  c.deployment.worker_bin = std::string(TASKMILL_BUILD_DIR) + "/worker/taskmill-worker";
  uint64_t tasks = c.tasks, memory_tasks = c.memory_tasks;

  FlagSet f(kProgram,
            "Measures taskmill end to end: throughput, drain, latency, priority order, memory.");
  f.Bool("spawn", &c.spawn, "start redis-server (AOF everysec), taskmill-broker and workers here");
  f.String("broker", &c.broker, "without --spawn: the broker's client endpoint");
  f.Uint("tasks", &tasks, 1, 100'000'000, "tasks per throughput, drain and priority run");
  f.Uint32("producers", &c.producers, 1, 64, "submitting sockets, one thread each");
  f.Uint32("workers", &c.workers, 1, 64, "--spawn: taskmill-worker processes");
  f.Uint32("concurrency", &c.concurrency, 1, 4096, "--spawn: slots per worker");
  f.Uint32("brokers", &c.deployment.brokers, 1, 8,
           "--spawn: brokers on the one Redis; workers and producers spread over them");
  f.Uint32("payload-bytes", &c.payload_bytes, 0, 1 << 20, "size of each echo task's payload");
  f.Uint32("chunk", &c.chunk, 1, 10000, "tasks per SUBMIT");
  f.Uint32("window", &c.window, 1, 1000, "SUBMITs in flight per producer");
  f.Uint32("latency-samples", &c.latency_samples, 1, 10'000'000, "timed one-at-a-time tasks");
  f.Uint32("priority-levels", &c.priority_levels, 2, 256, "priorities used in the priority run");
  f.Uint("memory-tasks", &memory_tasks, 10, 1'000'000'000, "tasks of the memory run");
  f.Choice("completion", &c.completion, {"notify", "wait"},
           "how finished tasks are learnt: notify (a RESULT push per task) or wait (a WAIT per "
           "SUBMIT)");
  f.Choice("producer", &c.producer, {"client", "wire"},
           "how tasks are submitted: client (the C++ client library, as a user would) or wire "
           "(the wire protocol by hand: the library's floor, for an A/B)");
  f.Uint32("timeout-s", &c.timeout_s, 1, 86400, "deadline of each scenario");
  f.List("scenarios", &c.scenarios,
         "throughput, scraped (throughput with /metrics scraped at 1 Hz), drain, latency, "
         "priority, memory (comma-separated)");
  f.String("json", &c.json_path, "write every figure to this JSON file");
  f.String("broker-bin", &c.deployment.broker_bin, "--spawn: taskmill-broker binary");
  f.String("worker-bin", &c.deployment.worker_bin, "--spawn: taskmill-worker binary");
  f.String("redis-server", &c.deployment.redis_server, "--spawn: redis-server binary");
  f.List("broker-arg", &c.deployment.broker_args, "--spawn: extra broker argument (repeatable)");
  f.List("worker-arg", &c.deployment.worker_args, "--spawn: extra worker argument (repeatable)");
  f.Bool("keep-dir", &c.deployment.keep_dir, "--spawn: keep the temp dir (logs, AOF)");
  bool version = false;
  f.Bool("version", &version, "print the version and exit");
  auto parsed = f.Parse(argc, argv);
  if (!parsed) return Usage(parsed.error().message);
  if (parsed->help) {
    std::fputs(f.Usage().c_str(), stdout);
    return 0;
  }
  if (version) {
    std::printf("%s %s\n", kProgram, kVersionString);
    return 0;
  }
  if (!parsed->positional.empty()) {
    return Usage("unexpected argument '" + parsed->positional[0] + "'");
  }
  c.tasks = tasks;
  c.memory_tasks = memory_tasks;
  // Without --spawn nothing can stop or start workers: the default is what still works.
  if (!c.spawn && c.scenarios == kDefaultScenarios) c.scenarios = {"throughput", "latency"};
  c.deployment.workers = c.workers;
  c.deployment.concurrency = c.concurrency;
  std::set<std::string> seen;
  for (const auto& s : c.scenarios) {
    if (std::find(kScenarios.begin(), kScenarios.end(), s) == kScenarios.end()) {
      return Usage("--scenarios: unknown scenario '" + s +
                   "' (throughput, scraped, drain, latency, priority, memory)");
    }
    if (!c.spawn && s != "throughput" && s != "latency") {
      return Usage("--scenarios: " + s + " needs --spawn (it starts and stops workers)");
    }
    if (!seen.insert(s).second) return Usage("--scenarios: '" + s + "' given twice");
  }
  if (c.scenarios.empty()) return Usage("--scenarios: name at least one scenario");
  if (c.spawn) {
    for (const auto* bin : {&c.deployment.broker_bin, &c.deployment.worker_bin}) {
      if (access(bin->c_str(), X_OK) != 0) {
        return Usage("cannot execute " + *bin + " (build it first)");
      }
    }
  }
  (void)SetLogLevel("warn");

  std::unique_ptr<bench::Deployment> deployment;
  bench::BenchContext ctx{c, nullptr, c.broker};
  if (c.spawn) {
    auto d = bench::Deployment::Start(c.deployment);
    if (!d) {
      std::fprintf(stderr, "%s: %s\n", kProgram, d.error().ToString().c_str());
      return 1;
    }
    deployment = std::move(*d);
    if (auto r = deployment->StartWorkers(); !r) {
      std::fprintf(stderr, "%s: %s\n", kProgram, r.error().ToString().c_str());
      return 1;
    }
    ctx.deployment = deployment.get();
    ctx.frontend = deployment->frontends();
  }
  std::printf(
      "taskmill-bench: %s, %llu tasks, %u producers, %u workers x %u, %u-byte payloads, "
      "completion by %s, %s producer\n",
      c.spawn ? "spawned redis-server (AOF everysec) + broker + workers" : c.broker.c_str(),
      static_cast<unsigned long long>(c.tasks), c.producers, c.workers, c.concurrency,
      c.payload_bytes, c.completion.c_str(), c.producer.c_str());

  json report = {{"config", ConfigJson(c)}, {"scenarios", json::object()}};
  int status = 0;
  for (const auto& name : c.scenarios) {
    std::fprintf(stderr, "%s: running %s...\n", kProgram, name.c_str());
    Result<json> r = name == "throughput" ? bench::RunThroughput(ctx)
                     : name == "scraped"  ? bench::RunThroughputScraped(ctx)
                     : name == "drain"    ? bench::RunDrain(ctx)
                     : name == "latency"  ? bench::RunLatency(ctx)
                     : name == "priority" ? bench::RunPriority(ctx)
                                          : bench::RunMemory(ctx);
    if (!r) {
      std::fprintf(stderr, "%s: %s failed: %s\n", kProgram, name.c_str(),
                   r.error().ToString().c_str());
      if (deployment) {
        std::fprintf(stderr, "broker log:\n%s\n", deployment->BrokerLogTail().c_str());
      }
      report["scenarios"][name] = {{"error", r.error().ToString()}};
      status = 1;
      break;
    }
    if (Num(*r, "failed") > 0) status = 1;
    report["scenarios"][name] = std::move(*r);
  }
  if (deployment) {
    auto broker = bench::ReadProcess(deployment->broker_pid());
    auto redis = bench::ReadProcess(deployment->redis_pid());
    report["totals"] = {
        {"broker_cpu_ms", broker ? broker->cpu_ms : 0.0},
        {"broker_peak_rss_kb", broker ? broker->hwm_kb : 0},
        {"redis_cpu_ms", redis ? redis->cpu_ms : 0.0},
        {"redis_peak_rss_kb", redis ? redis->hwm_kb : 0},
        {"redis_used_memory", deployment->RedisInfoField("memory", "used_memory").value_or(0)}};
  }
  PrintTable(report);
  if (!c.json_path.empty()) {
    std::ofstream out(c.json_path);
    out << report.dump(2) << "\n";
    if (!out) {
      std::fprintf(stderr, "%s: cannot write %s\n", kProgram, c.json_path.c_str());
      return 1;
    }
  }
  return status;
}
