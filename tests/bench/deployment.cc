#include "deployment.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "taskmill/client/client.h"

namespace taskmill::bench {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string Field(const std::string& text, const std::string& key) {
  auto pos = text.find(key + "=");
  if (pos == std::string::npos) return "";
  auto end = text.find('\n', pos);
  return text.substr(pos + key.size() + 1, end - pos - key.size() - 1);
}

uint64_t StatusKb(const std::string& status, const std::string& key) {
  auto pos = status.find(key + ":");
  if (pos == std::string::npos) return 0;
  return std::strtoull(status.c_str() + pos + key.size() + 1, nullptr, 10);
}

}  // namespace

std::optional<ProcessSample> ReadProcess(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  std::string base = "/proc/" + std::to_string(pid);
  std::string stat = testing::ReadFile(base + "/stat");
  std::string status = testing::ReadFile(base + "/status");
  if (stat.empty() || status.empty()) return std::nullopt;
  // Fields after the parenthesised command name (which may hold spaces): state is field 3,
  // utime and stime are fields 14 and 15.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream in(stat.substr(close + 2));
  std::string skip;
  for (int field = 3; field < 14; ++field) in >> skip;
  double utime = 0, stime = 0;
  in >> utime >> stime;
  static const double kTicks = static_cast<double>(sysconf(_SC_CLK_TCK));
  ProcessSample s;
  s.cpu_ms = (utime + stime) * 1000.0 / kTicks;
  s.rss_kb = StatusKb(status, "VmRSS");
  s.hwm_kb = StatusKb(status, "VmHWM");
  return s;
}

void ResetPeakRss(pid_t pid) {
  if (pid <= 0) return;
  std::ofstream out("/proc/" + std::to_string(pid) + "/clear_refs");
  out << "5";
}

Result<std::unique_ptr<Deployment>> Deployment::Start(DeploymentOptions options) {
  std::unique_ptr<Deployment> d(new Deployment(std::move(options)));
  std::string tmpl = (std::filesystem::temp_directory_path() / "taskmill-bench-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return MakeError(ErrorCode::kInternal, "mkdtemp failed");
  d->dir_ = tmpl;

  broker::EmbeddedRedisOptions ro;
  ro.data_dir = d->dir_ + "/redis";
  ro.server_path = d->options_.redis_server;
  ro.appendfsync = "everysec";
  auto redis = broker::EmbeddedRedis::Start(std::move(ro));
  if (!redis) return MakeError(redis.error().code, "redis-server: " + redis.error().message);
  d->redis_ = std::make_unique<broker::EmbeddedRedis>(std::move(*redis));

  for (uint32_t i = 0; i < std::max<uint32_t>(1, d->options_.brokers); ++i) {
    if (auto r = d->SpawnBroker(i); !r) return std::unexpected(r.error());
  }
  return d;
}

Result<void> Deployment::SpawnBroker(uint32_t index) {
  std::string suffix = index == 0 ? "" : "-" + std::to_string(index);
  std::string ready_file = dir_ + "/broker" + suffix + ".ready";
  std::vector<std::string> argv = {
      options_.broker_bin,
      "--frontend",
      "tcp://127.0.0.1:*",
      "--backend",
      "tcp://127.0.0.1:*",
      "--redis-url",
      "unix://" + redis_->socket_path(),
      "--prefix",
      "bench:",
      "--ready-file",
      ready_file,
      "--log-level",
      options_.log_level,
      "--http",
      "127.0.0.1:0",
  };
  if (options_.brokers > 1) {  // (one broker: any broker binary, an older one for an A/B)
    argv.push_back("--broker-id");
    argv.push_back("bench-b" + std::to_string(index));
  }
  for (const auto& a : options_.broker_args) argv.push_back(a);
  auto child = testing::ChildProcess::Spawn(argv, dir_ + "/broker" + suffix + ".log");
  if (!child) return std::unexpected(child.error());
  testing::ChildProcess& process =
      index == 0 ? (broker_ = std::move(*child)) : extra_brokers_.emplace_back(std::move(*child));
  int64_t deadline = NowMs() + 20000;
  while (!std::filesystem::exists(ready_file)) {
    if (!process.Running() || NowMs() > deadline) {
      return MakeError(ErrorCode::kTimeout,
                       "taskmill-broker did not start:\n" + BrokerLogTail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::string ready = testing::ReadFile(ready_file);
  std::string frontend = Field(ready, "frontend");
  std::string backend = Field(ready, "backend");
  if (frontend.empty() || backend.empty()) {
    return MakeError(ErrorCode::kInternal, "broker ready file lacks endpoints: " + ready);
  }
  frontends_.push_back(frontend);
  backends_.push_back(backend);
  if (index == 0) {
    frontend_ = frontend;
    backend_ = backend;
    http_ = Field(ready, "http");
  }
  return {};
}

std::string Deployment::frontends() const {
  std::string out;
  for (const auto& f : frontends_) out += (out.empty() ? "" : ",") + f;
  return out;
}

std::vector<pid_t> Deployment::extra_broker_pids() const {
  std::vector<pid_t> pids;
  for (const auto& b : extra_brokers_) pids.push_back(b.pid());
  return pids;
}

Deployment::~Deployment() {
  (void)StopWorkers();
  for (auto& b : extra_brokers_) {
    b.Signal(SIGTERM);
    if (!b.Wait(5000)) b.Kill9();
  }
  if (broker_.pid() > 0) {
    broker_.Signal(SIGTERM);
    if (!broker_.Wait(5000)) broker_.Kill9();
  }
  if (redis_) (void)redis_->Stop();
  redis_.reset();
  std::error_code ec;
  if (!options_.keep_dir && !dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

Result<void> Deployment::StartWorkers() {
  ++worker_generation_;
  for (uint32_t i = 0; i < options_.workers; ++i) {
    std::string id = "bench-w" + std::to_string(worker_generation_) + "-" + std::to_string(i);
    std::vector<std::string> argv = {
        options_.worker_bin,
        "--broker",
        backends_.empty() ? backend_ : backends_[i % backends_.size()],
        "--id",
        id,
        "--concurrency",
        std::to_string(options_.concurrency),
        "--log-level",
        options_.log_level,
    };
    for (const auto& a : options_.worker_args) argv.push_back(a);
    auto child = testing::ChildProcess::Spawn(argv, dir_ + "/worker-" + id + ".log");
    if (!child) return std::unexpected(child.error());
    workers_.push_back(std::move(*child));
  }
  return WaitForWorkers(workers_.size(), 20000);
}

Result<void> Deployment::StopWorkers() {
  if (workers_.empty()) return {};
  for (auto& w : workers_) w.Signal(SIGTERM);
  for (auto& w : workers_) {
    if (!w.Wait(10000)) w.Kill9();
  }
  workers_.clear();
  if (broker_.pid() <= 0) return {};
  return WaitForWorkers(0, 20000);
}

Result<void> Deployment::WaitForWorkers(size_t count, int64_t timeout_ms) {
  client::ClientOptions co;
  co.endpoint = frontend_;
  co.request_timeout_ms = 2000;
  auto client = client::Client::Connect(co);
  if (!client) return std::unexpected(client.error());
  int64_t deadline = NowMs() + timeout_ms;
  size_t seen = 0;
  while (NowMs() < deadline) {
    auto stats = (*client)->Stats();
    if (stats) {
      seen = stats->workers.size();
      if (seen == count) return {};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return MakeError(ErrorCode::kTimeout, "the broker lists " + std::to_string(seen) +
                                            " workers, expected " + std::to_string(count) +
                                            " (logs in " + dir_ + ")");
}

std::vector<pid_t> Deployment::worker_pids() const {
  std::vector<pid_t> pids;
  for (const auto& w : workers_) pids.push_back(w.pid());
  return pids;
}

std::map<pid_t, double> Deployment::WorkerCpu() const {
  std::map<pid_t, double> cpu;
  for (const auto& w : workers_) {
    if (auto s = ReadProcess(w.pid())) cpu[w.pid()] = s->cpu_ms;
  }
  return cpu;
}

std::string Deployment::RedisInfo(const std::string& section) const {
  if (!redis_) return "";
  timeval tv{5, 0};
  redisContext* c = redisConnectUnixWithTimeout(redis_->socket_path().c_str(), tv);
  if (c == nullptr || c->err) {
    if (c) redisFree(c);
    return "";
  }
  auto* reply = static_cast<redisReply*>(redisCommand(c, "INFO %s", section.c_str()));
  std::string text;
  if (reply != nullptr && reply->type == REDIS_REPLY_STRING) text.assign(reply->str, reply->len);
  if (reply != nullptr) freeReplyObject(reply);
  redisFree(c);
  return text;
}

Result<uint64_t> Deployment::RedisInfoField(const std::string& section,
                                            const std::string& field) const {
  std::string text = RedisInfo(section);
  auto pos = text.find("\n" + field + ":");
  if (pos == std::string::npos) {
    return MakeError(ErrorCode::kNotFound, "INFO " + section + " has no " + field);
  }
  return std::strtoull(text.c_str() + pos + field.size() + 2, nullptr, 10);
}

std::map<std::string, std::pair<uint64_t, uint64_t>> Deployment::RedisCommandStats() const {
  // Lines look like: cmdstat_zadd:calls=12,usec=34,usec_per_call=2.83,...
  std::map<std::string, std::pair<uint64_t, uint64_t>> out;
  std::istringstream in(RedisInfo("commandstats"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("cmdstat_", 0) != 0) continue;
    auto colon = line.find(':');
    auto calls = line.find("calls=");
    auto usec = line.find(",usec=");
    if (colon == std::string::npos || calls == std::string::npos || usec == std::string::npos) {
      continue;
    }
    out[line.substr(8, colon - 8)] = {std::strtoull(line.c_str() + calls + 6, nullptr, 10),
                                      std::strtoull(line.c_str() + usec + 6, nullptr, 10)};
  }
  return out;
}

std::string Deployment::BrokerLogTail() const {
  std::string log = testing::ReadFile(dir_ + "/broker.log");
  if (log.size() > 4000) log = "..." + log.substr(log.size() - 4000);
  return log;
}

}  // namespace taskmill::bench
