#include "scenarios.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <functional>
#include <memory>
#include <thread>
#include <zmq.hpp>

#include "producer.h"
#include "support/http_get.h"

namespace taskmill::bench {
namespace {

using nlohmann::json;

double SelfCpuMs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto ms = [](const timeval& tv) { return tv.tv_sec * 1000.0 + tv.tv_usec / 1000.0; };
  return ms(ru.ru_utime) + ms(ru.ru_stime);
}

// CPU time and memory of every process of the run, from Start() to Stop().
class ResourceMeter {
 public:
  explicit ResourceMeter(Deployment* d) : d_(d) {}

  void Start() {
    self_cpu_ = SelfCpuMs();
    if (d_ == nullptr) return;
    ResetPeakRss(d_->broker_pid());
    ResetPeakRss(d_->redis_pid());
    broker_ = ReadProcess(d_->broker_pid()).value_or(ProcessSample{});
    redis_ = ReadProcess(d_->redis_pid()).value_or(ProcessSample{});
    workers_ = d_->WorkerCpu();
    used_memory_ = d_->RedisInfoField("memory", "used_memory").value_or(0);
    commands_ = d_->RedisCommandStats();
  }

  // Figures for `tasks` tasks processed between Start and now.
  json Stop(uint64_t tasks) const {
    json out;
    double per_task = tasks > 0 ? 1000.0 / static_cast<double>(tasks) : 0;  // ms -> us/task
    out["bench"] = {{"cpu_ms", SelfCpuMs() - self_cpu_}};
    if (d_ == nullptr) return out;
    auto proc = [&](pid_t pid, const ProcessSample& before) {
      auto now = ReadProcess(pid).value_or(ProcessSample{});
      double cpu = now.cpu_ms - before.cpu_ms;
      return json{{"cpu_ms", cpu},
                  {"cpu_us_per_task", cpu * per_task},
                  {"rss_kb", now.rss_kb},
                  {"peak_rss_kb", now.hwm_kb}};
    };
    out["broker"] = proc(d_->broker_pid(), broker_);
    out["redis"] = proc(d_->redis_pid(), redis_);
    uint64_t used = d_->RedisInfoField("memory", "used_memory").value_or(0);
    out["redis"]["used_memory"] = used;
    out["redis"]["used_memory_delta"] =
        static_cast<int64_t>(used) - static_cast<int64_t>(used_memory_);
    // Redis commands per task (those run by scripts included), busiest first by time.
    json commands = json::array();
    for (const auto& [name, now] : d_->RedisCommandStats()) {
      auto it = commands_.find(name);
      auto before = it == commands_.end() ? std::pair<uint64_t, uint64_t>{} : it->second;
      double calls = static_cast<double>(now.first - before.first);
      double usec = static_cast<double>(now.second - before.second);
      if (calls <= 0 || name == "info") continue;
      commands.push_back({{"command", name},
                          {"calls_per_task", calls * per_task / 1000.0},
                          {"usec_per_task", usec * per_task / 1000.0}});
    }
    std::sort(commands.begin(), commands.end(), [](const json& a, const json& b) {
      return a["usec_per_task"].get<double>() > b["usec_per_task"].get<double>();
    });
    out["redis"]["commands"] = commands;
    double workers_cpu = 0;
    for (const auto& [pid, cpu] : d_->WorkerCpu()) {
      auto it = workers_.find(pid);
      workers_cpu += cpu - (it == workers_.end() ? 0 : it->second);
    }
    out["workers"] = {{"cpu_ms", workers_cpu}, {"cpu_us_per_task", workers_cpu * per_task}};
    return out;
  }

 private:
  Deployment* d_;                    // null without --spawn
  double self_cpu_ = 0;              // this process's CPU ms at Start
  ProcessSample broker_;             // broker at Start
  ProcessSample redis_;              // redis-server at Start
  std::map<pid_t, double> workers_;  // worker CPU ms at Start, per PID
  uint64_t used_memory_ = 0;         // Redis used_memory at Start
  std::map<std::string, std::pair<uint64_t, uint64_t>> commands_;  // commandstats at Start
};

protocol::TaskSpec EchoSpec(uint32_t payload_bytes) {
  protocol::TaskSpec spec;
  spec.type = "echo";
  // A JSON object of the requested size, like a small real payload.
  std::string payload = "{\"data\":\"\"}";
  if (payload_bytes > payload.size()) {
    payload.insert(9, std::string(payload_bytes - payload.size(), 'x'));
  }
  spec.payload = payload;
  return spec;
}

SubmitPlan PlanFor(const BenchConfig& c) {
  SubmitPlan plan;
  plan.spec = EchoSpec(c.payload_bytes);
  plan.chunk = c.chunk;
  plan.window = c.window;
  return plan;
}

uint64_t Share(uint64_t total, size_t parts, size_t i) {
  return total / parts + (i < total % parts ? 1 : 0);
}

int64_t DeadlineNs(const BenchConfig& c) {
  return NowNs() + static_cast<int64_t>(c.timeout_s) * 1'000'000'000;
}

Completion CompletionOf(const BenchConfig& c) {
  return c.completion == "wait" ? Completion::kWait : Completion::kNotify;
}

using Producers = std::vector<std::unique_ptr<Producer>>;

Result<Producers> MakeProducers(zmq::context_t& zctx, const BenchContext& ctx, size_t n) {
  Producers out;
  // A comma-separated frontend (--brokers > 1): producer i submits to broker i % brokers.
  std::vector<std::string> frontends;
  for (size_t at = 0; at <= ctx.frontend.size();) {
    size_t comma = std::min(ctx.frontend.find(',', at), ctx.frontend.size());
    frontends.push_back(ctx.frontend.substr(at, comma - at));
    at = comma + 1;
  }
  for (size_t i = 0; i < n; ++i) {
    auto p = MakeProducer(ctx.config.producer, zctx, frontends[i % frontends.size()],
                          CompletionOf(ctx.config));
    if (!p) return std::unexpected(p.error());
    out.push_back(std::move(*p));
  }
  return out;
}

// Runs body(producer, index) on one thread per producer; `during` runs on this thread
// meanwhile (e.g. starting workers). Returns the first error.
Result<void> Parallel(Producers& producers,
                      const std::function<Result<void>(Producer&, size_t)>& body,
                      const std::function<Result<void>()>& during = {}) {
  std::vector<Result<void>> results(producers.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < producers.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = body(*producers[i], i); });
  }
  Result<void> main_result;
  if (during) main_result = during();
  for (auto& t : threads) t.join();
  if (!main_result) return main_result;
  for (auto& r : results) {
    if (!r) return r;
  }
  return {};
}

struct Span {
  int64_t first_ns = -1;
  int64_t last_ns = -1;
  uint64_t failed = 0;
};

Span SpanOf(const Producers& producers) {
  Span s;
  for (const auto& p : producers) {
    if (p->first_submit_ns() >= 0 && (s.first_ns < 0 || p->first_submit_ns() < s.first_ns)) {
      s.first_ns = p->first_submit_ns();
    }
    s.last_ns = std::max(s.last_ns, p->last_result_ns());
    s.failed += p->failed();
  }
  return s;
}

json Rate(uint64_t tasks, int64_t ns, uint64_t failed) {
  double seconds = static_cast<double>(ns) / 1e9;
  return {{"tasks", tasks},
          {"seconds", seconds},
          {"tasks_per_s", seconds > 0 ? static_cast<double>(tasks) / seconds : 0.0},
          {"failed", failed}};
}

// Submits `tasks` tasks from the producers and waits for all their results.
Result<Span> SubmitAndAwait(BenchContext& ctx, Producers& producers, uint64_t tasks) {
  auto plan = PlanFor(ctx.config);
  int64_t deadline = DeadlineNs(ctx.config);
  std::vector<uint64_t> base(producers.size());
  for (size_t i = 0; i < producers.size(); ++i) base[i] = producers[i]->results();
  auto ran = Parallel(producers, [&](Producer& p, size_t i) -> Result<void> {
    uint64_t share = Share(tasks, producers.size(), i);
    if (auto r = p.Submit(share, plan, deadline); !r) return r;
    return p.AwaitResults(base[i] + share, deadline);
  });
  if (!ran) return std::unexpected(ran.error());
  return SpanOf(producers);
}

double Percentile(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t idx = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size()))) - 1;
  return static_cast<double>(sorted[std::min(idx, sorted.size() - 1)]) / 1000.0;
}

Result<void> NeedSpawn(const BenchContext& ctx, const char* scenario) {
  if (ctx.deployment == nullptr) {
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string(scenario) + " needs --spawn (it starts and stops workers)");
  }
  return {};
}

}  // namespace

Result<nlohmann::json> RunThroughput(BenchContext& ctx) {
  zmq::context_t zctx(1);
  auto made = MakeProducers(zctx, ctx, ctx.config.producers);
  if (!made) return std::unexpected(made.error());
  auto& producers = *made;
  ResourceMeter meter(ctx.deployment);
  meter.Start();
  auto span = SubmitAndAwait(ctx, producers, ctx.config.tasks);
  if (!span) return std::unexpected(span.error());
  json out = Rate(ctx.config.tasks, span->last_ns - span->first_ns, span->failed);
  out["resources"] = meter.Stop(ctx.config.tasks);
  return out;
}

namespace {

// One GET /metrics on a fresh loopback connection (as a Prometheus scrape): the page's
// size in bytes, or nullopt when it did not come back with 200 within timeout_ms.
std::optional<size_t> ScrapeOnce(const std::string& address, int timeout_ms) {
  auto r = testing::HttpGet(address, "/metrics", {}, timeout_ms);
  if (r.status != 200) return std::nullopt;
  return r.body.size();
}

// Scrapes /metrics every interval_ms on its own thread from construction to Stop().
class Scraper {
 public:
  Scraper(std::string address, int64_t interval_ms)
      : address_(std::move(address)), interval_ms_(interval_ms), thread_([this] { Run(); }) {}
  ~Scraper() { Stop(); }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  json Figures() const {
    return {{"scrapes", scrapes_.load()},
            {"failed", failed_.load()},
            {"mean_ms", scrapes_ > 0 ? static_cast<double>(total_ns_) / 1e6 / scrapes_ : 0.0},
            {"bytes", bytes_.load()},
            {"interval_ms", interval_ms_}};
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      lock.unlock();
      int64_t t0 = NowNs();
      auto page = ScrapeOnce(address_, 5000);
      total_ns_ += NowNs() - t0;
      ++scrapes_;
      if (page) {
        bytes_ = *page;
      } else {
        ++failed_;
      }
      lock.lock();
      cv_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stop_; });
    }
  }

  std::string address_;
  int64_t interval_ms_;
  std::atomic<uint64_t> scrapes_{0}, failed_{0}, bytes_{0};
  std::atomic<int64_t> total_ns_{0};
  std::mutex mu_;  // guards stop_
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the rest is built
};

}  // namespace

Result<nlohmann::json> RunThroughputScraped(BenchContext& ctx) {
  if (auto r = NeedSpawn(ctx, "scraped"); !r) return std::unexpected(r.error());
  if (ctx.deployment->http().empty() || ctx.deployment->http() == "off") {
    return MakeError(ErrorCode::kInvalidArgument, "scraped: the broker has no HTTP listener");
  }
  if (!ScrapeOnce(ctx.deployment->http(), 5000)) {
    return MakeError(ErrorCode::kBrokerUnavailable,
                     "scraped: GET /metrics on " + ctx.deployment->http() + " failed");
  }
  zmq::context_t zctx(1);
  auto made = MakeProducers(zctx, ctx, ctx.config.producers);
  if (!made) return std::unexpected(made.error());
  auto& producers = *made;
  ResourceMeter meter(ctx.deployment);
  meter.Start();
  Scraper scraper(ctx.deployment->http(), 1000);
  auto span = SubmitAndAwait(ctx, producers, ctx.config.tasks);
  scraper.Stop();
  if (!span) return std::unexpected(span.error());
  json out = Rate(ctx.config.tasks, span->last_ns - span->first_ns, span->failed);
  out["resources"] = meter.Stop(ctx.config.tasks);
  out["metrics_scrapes"] = scraper.Figures();
  return out;
}

Result<nlohmann::json> RunDrain(BenchContext& ctx) {
  if (auto r = NeedSpawn(ctx, "drain"); !r) return std::unexpected(r.error());
  if (auto r = ctx.deployment->StopWorkers(); !r) return std::unexpected(r.error());
  zmq::context_t zctx(1);
  auto made = MakeProducers(zctx, ctx, ctx.config.producers);
  if (!made) return std::unexpected(made.error());
  auto& producers = *made;
  auto plan = PlanFor(ctx.config);
  int64_t deadline = DeadlineNs(ctx.config);
  const uint64_t n = ctx.config.tasks;
  auto submitted = Parallel(producers, [&](Producer& p, size_t i) {
    return p.Submit(Share(n, producers.size(), i), plan, deadline);
  });
  if (!submitted) return std::unexpected(submitted.error());

  ResourceMeter meter(ctx.deployment);
  meter.Start();
  int64_t start = NowNs();
  auto drained = Parallel(
      producers,
      [&](Producer& p, size_t i) {
        return p.AwaitResults(Share(n, producers.size(), i), deadline);
      },
      [&] { return ctx.deployment->StartWorkers(); });
  if (!drained) return std::unexpected(drained.error());
  auto span = SpanOf(producers);
  json out = Rate(n, span.last_ns - start, span.failed);
  out["resources"] = meter.Stop(n);
  return out;
}

Result<nlohmann::json> RunLatency(BenchContext& ctx) {
  zmq::context_t zctx(1);
  auto made = MakeProducer(ctx.config.producer, zctx, ctx.frontend.substr(0, ctx.frontend.find(',')),
                           CompletionOf(ctx.config));
  if (!made) return std::unexpected(made.error());
  Producer& p = **made;
  auto spec = EchoSpec(ctx.config.payload_bytes);
  int64_t deadline = DeadlineNs(ctx.config);
  const uint32_t warmup = std::max<uint32_t>(20, ctx.config.latency_samples / 20);
  for (uint32_t i = 0; i < warmup; ++i) {
    if (auto r = p.RoundTrip(spec, deadline); !r) return std::unexpected(r.error());
  }
  ResourceMeter meter(ctx.deployment);
  meter.Start();
  std::vector<int64_t> samples;
  samples.reserve(ctx.config.latency_samples);
  for (uint32_t i = 0; i < ctx.config.latency_samples; ++i) {
    auto rt = p.RoundTrip(spec, deadline);
    if (!rt) return std::unexpected(rt.error());
    samples.push_back(*rt);
  }
  std::sort(samples.begin(), samples.end());
  double sum = 0;
  for (auto s : samples) sum += static_cast<double>(s);
  json out = {
      {"samples", samples.size()},
      {"warmup", warmup},
      {"p50_us", Percentile(samples, 0.50)},
      {"p90_us", Percentile(samples, 0.90)},
      {"p99_us", Percentile(samples, 0.99)},
      {"p999_us", Percentile(samples, 0.999)},
      {"max_us", samples.empty() ? 0.0 : static_cast<double>(samples.back()) / 1000.0},
      {"mean_us", samples.empty() ? 0.0 : sum / static_cast<double>(samples.size()) / 1000.0},
      {"failed", p.failed()}};
  out["resources"] = meter.Stop(samples.size());
  return out;
}

Result<nlohmann::json> RunPriority(BenchContext& ctx) {
  if (auto r = NeedSpawn(ctx, "priority"); !r) return std::unexpected(r.error());
  if (auto r = ctx.deployment->StopWorkers(); !r) return std::unexpected(r.error());
  const uint64_t n = ctx.config.tasks;
  const uint32_t levels = ctx.config.priority_levels;
  zmq::context_t zctx(1);
  auto made = MakeProducers(zctx, ctx, 1);
  if (!made) return std::unexpected(made.error());
  auto& producers = *made;
  auto plan = PlanFor(ctx.config);
  plan.keep_finished = true;
  // A fixed pseudo-random priority per task (splitmix64), so runs are comparable.
  plan.priority = [levels](uint64_t i) {
    uint64_t z = (i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return static_cast<uint8_t>((z ^ (z >> 31)) % levels);
  };
  int64_t deadline = DeadlineNs(ctx.config);
  if (auto r = producers[0]->Submit(n, plan, deadline); !r) return std::unexpected(r.error());
  ResourceMeter meter(ctx.deployment);
  meter.Start();
  int64_t start = NowNs();
  auto drained = Parallel(
      producers, [&](Producer& p, size_t) { return p.AwaitResults(n, deadline); },
      [&] { return ctx.deployment->StartWorkers(); });
  if (!drained) return std::unexpected(drained.error());

  // A task ran out of order when a task of higher priority, queued all along, was claimed in
  // a later millisecond than it (claims within one millisecond are not told apart).
  auto finished = producers[0]->finished();
  std::sort(finished.begin(), finished.end(), [](const FinishedTask& a, const FinishedTask& b) {
    return a.started_ms > b.started_ms;
  });
  uint64_t out_of_order = 0;
  int later_max = -1;  // highest priority claimed strictly after the current millisecond
  for (size_t i = 0; i < finished.size();) {
    size_t j = i;
    int group_max = -1;
    for (; j < finished.size() && finished[j].started_ms == finished[i].started_ms; ++j) {
      if (finished[j].priority < later_max) ++out_of_order;
      group_max = std::max<int>(group_max, finished[j].priority);
    }
    later_max = std::max(later_max, group_max);
    i = j;
  }
  auto span = SpanOf(producers);
  json out = Rate(n, span.last_ns - start, span.failed);
  out["levels"] = levels;
  out["out_of_order"] = out_of_order;
  out["out_of_order_fraction"] =
      finished.empty() ? 0.0
                       : static_cast<double>(out_of_order) / static_cast<double>(finished.size());
  out["resources"] = meter.Stop(n);
  return out;
}

Result<nlohmann::json> RunMemory(BenchContext& ctx) {
  if (auto r = NeedSpawn(ctx, "memory"); !r) return std::unexpected(r.error());
  constexpr int kSegments = 10;
  const uint64_t n = ctx.config.memory_tasks;
  zmq::context_t zctx(1);
  auto made = MakeProducers(zctx, ctx, ctx.config.producers);
  if (!made) return std::unexpected(made.error());
  auto& producers = *made;
  auto sample = [&](uint64_t done) {
    auto broker = ReadProcess(ctx.deployment->broker_pid()).value_or(ProcessSample{});
    auto redis = ReadProcess(ctx.deployment->redis_pid()).value_or(ProcessSample{});
    return json{
        {"tasks_done", done},
        {"broker_rss_kb", broker.rss_kb},
        {"redis_rss_kb", redis.rss_kb},
        {"redis_used_memory", ctx.deployment->RedisInfoField("memory", "used_memory").value_or(0)}};
  };
  ResourceMeter meter(ctx.deployment);
  meter.Start();
  json samples = json::array({sample(0)});
  uint64_t done = 0;
  int64_t start = NowNs();
  for (int s = 0; s < kSegments; ++s) {
    uint64_t segment = Share(n, kSegments, static_cast<size_t>(s));
    auto span = SubmitAndAwait(ctx, producers, segment);
    if (!span) return std::unexpected(span.error());
    done += segment;
    samples.push_back(sample(done));
  }
  int64_t elapsed = NowNs() - start;
  json out = Rate(n, elapsed, SpanOf(producers).failed);
  out["samples"] = samples;
  const json& first = samples.front();
  const json& mid = samples[kSegments / 2];
  const json& last = samples.back();
  out["broker_rss_kb"] = {{"start", first["broker_rss_kb"]},
                          {"middle", mid["broker_rss_kb"]},
                          {"end", last["broker_rss_kb"]}};
  double grown = last["redis_used_memory"].get<double>() - first["redis_used_memory"].get<double>();
  out["redis_bytes_per_finished_task"] = n > 0 ? grown / static_cast<double>(n) : 0.0;
  out["resources"] = meter.Stop(n);
  return out;
}

}  // namespace taskmill::bench
