#include "chaos/harness.h"

#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace taskmill::chaos {
namespace {

using taskmill::testing::ChildProcess;
using taskmill::testing::ReadFile;
using taskmill::testing::WireClient;

bool EnvFlag(const char* name) {
  const char* v = getenv(name);
  return v != nullptr && std::string(v) == "1";
}

}  // namespace

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Scale Scale::FromEnv() {
  if (EnvFlag("TASKMILL_CHAOS_LONG"))
    return Scale{.load_ms = 15000, .task_ms = 100, .settle_ms = 90000};
  return Scale{.load_ms = 2500, .task_ms = 100, .settle_ms = 40000};
}

int64_t LastCounter(const std::string& broker_log, const std::string& name) {
  size_t line = broker_log.rfind("counters: ");
  if (line == std::string::npos) return -1;
  size_t at = broker_log.find(" " + name + "=", line);
  size_t eol = broker_log.find('\n', line);
  if (at == std::string::npos || at > eol) return -1;
  return std::strtoll(broker_log.c_str() + at + name.size() + 2, nullptr, 10);
}

int64_t RssKib(pid_t pid) {
  std::string status = ReadFile("/proc/" + std::to_string(pid) + "/status");
  size_t at = status.find("VmRSS:");
  if (at == std::string::npos) return -1;
  return std::strtoll(status.c_str() + at + 6, nullptr, 10);
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

Result<std::unique_ptr<ChaosCluster>> ChaosCluster::Start(const std::string& scenario,
                                                          Options options) {
  std::unique_ptr<ChaosCluster> c(new ChaosCluster(scenario, std::move(options)));
  std::string tmpl = (std::filesystem::temp_directory_path() / "taskmill-chaos-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return MakeError(ErrorCode::kInternal, "mkdtemp failed");
  c->dir_ = tmpl;
  c->queue_ = "chaos-" + scenario;
  if (!c->options_.redis_url.empty()) {
    if (auto r = c->StartBroker(); !r) return std::unexpected(r.error());
    return c;
  }
  broker::EmbeddedRedisOptions ro;
  ro.data_dir = c->dir_ + "/redis";
  if (!c->options_.redis_persistent) ro.extra_args = {"--appendonly", "no"};
  ro.port = c->options_.redis_tcp_port;
  auto redis = broker::EmbeddedRedis::Start(std::move(ro));
  if (!redis) return std::unexpected(redis.error());
  c->redis_ = std::make_unique<broker::EmbeddedRedis>(std::move(*redis));
  if (auto r = c->StartBroker(); !r) return std::unexpected(r.error());
  return c;
}

ChaosCluster::~ChaosCluster() {
  for (auto& w : workers_) w.Kill9();
  broker_.Kill9();
  if (redis_) (void)redis_->Stop();
  std::error_code ec;
  if (!dir_.empty() && !EnvFlag("TASKMILL_CHAOS_KEEP")) std::filesystem::remove_all(dir_, ec);
}

Result<void> ChaosCluster::StartBroker() {
  taskmill::testing::BrokerLaunch l = LaunchIn(dir_, {}, "");
  l.frontend = frontend_;
  l.backend = backend_;
  auto endpoints = taskmill::testing::LaunchBroker(l, broker_, [this] { return Logs(); });
  if (!endpoints) return std::unexpected(endpoints.error());
  frontend_ = endpoints->frontend;
  backend_ = endpoints->backend;
  http_ = endpoints->http;
  return {};
}

taskmill::testing::BrokerLaunch ChaosCluster::LaunchIn(
    const std::string& dir, const std::vector<std::string>& extra_args,
    const std::string& redis_url) const {
  taskmill::testing::BrokerLaunch l;
  l.dir = dir;
  std::filesystem::create_directories(l.dir);
  l.redis_url = !redis_url.empty() ? redis_url
              : redis_ ? "unix://" + redis_->config().unix_path
                       : options_.redis_url;
  l.prefix = "chaos" + std::to_string(getpid()) + ":";
  l.heartbeat_ms = options_.heartbeat_ms;
  l.liveness = options_.liveness;
  l.lease_ms = options_.lease_ms;
  l.extra_args = {"--reap-ms", std::to_string(options_.reap_ms)};
  l.extra_args.insert(l.extra_args.end(), options_.broker_args.begin(), options_.broker_args.end());
  l.extra_args.insert(l.extra_args.end(), extra_args.begin(), extra_args.end());
  return l;
}

Result<taskmill::testing::BrokerEndpoints> ChaosCluster::StartExtraBroker(
    const std::string& name, taskmill::testing::ChildProcess& process,
    const std::vector<std::string>& extra_args, const std::string& redis_url) {
  return taskmill::testing::LaunchBroker(LaunchIn(dir_ + "/" + name, extra_args, redis_url),
                                         process, [this] { return Logs(); });
}

Result<taskmill::testing::BrokerEndpoints> ChaosCluster::StartExtraBrokerOn(
    const std::string& name, taskmill::testing::ChildProcess& process,
    const taskmill::testing::BrokerEndpoints& at, const std::vector<std::string>& extra_args) {
  taskmill::testing::BrokerLaunch l = LaunchIn(dir_ + "/" + name, extra_args, "");
  l.frontend = at.frontend;
  l.backend = at.backend;
  return taskmill::testing::LaunchBroker(l, process, [this] { return Logs(); });
}

Result<size_t> ChaosCluster::StartWorker(const std::string& label, uint32_t concurrency,
                                         const std::string& endpoint,
                                         const std::vector<std::string>& extra_args) {
  auto argv =
      taskmill::testing::WorkerArgv(endpoint.empty() ? backend_ : endpoint, label, concurrency,
                                    queue_, options_.heartbeat_ms, options_.liveness);
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  std::string log = dir_ + "/worker-" + label + ".log";
  // Not TASKMILL_*: exec passes the worker's other variables on to the task's command.
  auto child = ChildProcess::Spawn(argv, log, {"CHAOS_WORKER=" + label});
  if (!child) return std::unexpected(child.error());
  workers_.push_back(std::move(*child));
  worker_logs_.push_back(log);
  return workers_.size() - 1;
}

std::string ChaosCluster::TaskPayload(int64_t task_ms) const {
  // The record is appended after the run's work and its cost file, in one short write
  // (O_APPEND, well under PIPE_BUF), so concurrent runs never tear each other's lines. The
  // run also prints "attempt worker" on its stdout, so the checker can tell which run's
  // result the store recorded.
  char sleep_s[32];
  snprintf(sleep_s, sizeof(sleep_s), "%.3f", static_cast<double>(task_ms) / 1000.0);
  std::string script =
      std::string("s=$(date +%s%3N); sleep ") + sleep_s +
      "; printf '{\"usd\": 0.001}' > \"$TASKMILL_COST_FILE\"; "
      "echo \"$TASKMILL_ATTEMPT $CHAOS_WORKER\"; "
      "echo \"$TASKMILL_TASK_ID $TASKMILL_ATTEMPT $CHAOS_WORKER $s $(date +%s%3N)\" >> " +
      dir_ + "/executions.log";
  return R"({"argv": ["sh", "-c", )" + JsonString(script) + "]}";
}

std::vector<Execution> ChaosCluster::Executions() const {
  return ParseExecutionLog(ReadFile(dir_ + "/executions.log"));
}

std::string ChaosCluster::BrokerLog() const { return ReadFile(dir_ + "/broker.log"); }

std::string ChaosCluster::Logs() const {
  std::string out = "--- " + dir_ + "/broker.log\n" + ReadFile(dir_ + "/broker.log");
  for (const auto& log : worker_logs_) out += "--- " + log + "\n" + ReadFile(log);
  if (out.size() > 20000) out = "...\n" + out.substr(out.size() - 20000);
  return out;
}

void LoadClient::Start(int64_t duration_ms, int64_t interval_ms, size_t max_tasks) {
  thread_ = std::thread([=, this] { Run(duration_ms, interval_ms, max_tasks); });
}

void LoadClient::Join() {
  if (thread_.joinable()) thread_.join();
}

void LoadClient::Run(int64_t duration_ms, int64_t interval_ms, size_t max_tasks) {
  WireClient client(endpoint_);
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(duration_ms);
  for (size_t n = 0; n < max_tasks && std::chrono::steady_clock::now() < end; ++n) {
    protocol::Submit s;
    protocol::TaskSpec spec;
    spec.id = prefix_ + "-" + std::to_string(n);
    spec.type = "exec";
    spec.queue = queue_;
    spec.payload = payload_;
    spec.max_attempts = 10;  // a fault must not exhaust a normal task's attempts
    spec.backoff.base_ms = 50;
    spec.backoff.max_ms = 500;
    s.tasks.push_back(spec);
    Submission sub{spec.id, NowMs(), std::nullopt};
    // A reply that does not come in time is a lost reply: the task may or may not be
    // stored, and the checker treats it as submitted but not acknowledged.
    auto reply = client.Call(s, 2000);
    if (reply && !reply->error && reply->ids.size() == 1 && reply->ids[0] == spec.id) {
      sub.ack_ms = NowMs();
      ++acknowledged_;
    }
    submissions_.push_back(sub);
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));  // pacing only
  }
}

CheckReport Settle(ChaosCluster& cluster, const std::vector<Submission>& submissions,
                   int64_t fault_ms, int64_t settle_ms) {
  WireClient client(cluster.frontend());
  std::vector<std::string> ids;
  for (const auto& s : submissions) ids.push_back(s.id);
  std::map<std::string, FinalTask> final_tasks;
  auto read_all = [&] {
    final_tasks.clear();
    for (size_t i = 0; i < ids.size(); i += 200) {
      protocol::Get g;
      g.ids.assign(ids.begin() + i, ids.begin() + std::min(ids.size(), i + 200));
      auto reply = client.Call(g, 5000);
      if (!reply || reply->error) return false;
      for (const auto& t : reply->tasks) {
        if (t.state == protocol::TaskState::kUnknown || t.id.empty()) continue;
        auto usd = t.cost.find("usd");
        FinalTask ft;
        ft.state = t.state;
        ft.attempts = t.attempts;
        ft.usd = usd == t.cost.end() ? 0.0 : usd->second;
        ft.finished_ms = t.finished_ms;
        (void)ParseRecordedRun(t.stdout_data, ft);
        final_tasks[t.id] = std::move(ft);
      }
    }
    return true;
  };
  auto all_terminal = [&] {
    if (!read_all()) return false;
    for (const auto& s : submissions) {
      if (!s.ack_ms) continue;
      auto it = final_tasks.find(s.id);
      if (it == final_tasks.end() || !protocol::IsTerminal(it->second.state)) return false;
    }
    return true;
  };
  WaitFor(all_terminal, settle_ms);
  // Runs of a cut lease may still be finishing (an orphaned command of a killed worker, a
  // frozen worker's): wait until the log has not grown for a second, bounded.
  size_t runs = cluster.Executions().size();
  auto last_change = std::chrono::steady_clock::now();
  WaitFor(
      [&] {
        size_t now = cluster.Executions().size();
        if (now != runs) {
          runs = now;
          last_change = std::chrono::steady_clock::now();
        }
        return std::chrono::steady_clock::now() - last_change > std::chrono::seconds(1);
      },
      10000);
  WaitFor(read_all, 5000);

  CheckInput in;
  in.submissions = submissions;
  in.executions = cluster.Executions();
  in.final_tasks = std::move(final_tasks);
  in.fault_ms = fault_ms;
  protocol::Stats st;
  st.queues = {cluster.queue()};
  auto stats = client.Call(st, 5000);
  if (stats && !stats->error) {
    for (const auto& q : stats->queues) {
      if (q.queue != cluster.queue()) continue;
      in.queue_succeeded = q.succeeded;
      auto usd = q.cost.find("usd");
      in.queue_usd = usd == q.cost.end() ? 0.0 : usd->second;
    }
  }
  return Check(in);
}

}  // namespace taskmill::chaos
