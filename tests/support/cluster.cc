#include "support/cluster.h"

#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

namespace taskmill::testing {
namespace {

std::string Binary(const std::string& relative) {
  return std::string(TASKMILL_BUILD_DIR) + "/" + relative;
}

// Polls a condition every 10 ms until it holds or the deadline passes.
bool WaitFor(const std::function<bool()>& pred, int64_t timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

std::string Field(const std::string& text, const std::string& key) {
  auto pos = text.find(key + "=");
  if (pos == std::string::npos) return "";
  auto end = text.find('\n', pos);
  return text.substr(pos + key.size() + 1, end - pos - key.size() - 1);
}

}  // namespace

Result<std::unique_ptr<Cluster>> Cluster::Start(Options options) {
  std::unique_ptr<Cluster> c(new Cluster(std::move(options)));
  std::string tmpl = (std::filesystem::temp_directory_path() / "taskmill-cluster-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return MakeError(ErrorCode::kInternal, "mkdtemp failed");
  c->dir_ = tmpl;
  if (!c->options_.embedded_redis) {
    auto redis = RedisServer::Start();
    if (!redis) return std::unexpected(redis.error());
    c->redis_ = std::move(*redis);
  }
  if (auto r = c->StartBroker(); !r) return std::unexpected(r.error());
  return c;
}

Cluster::~Cluster() {
  client_.reset();
  for (auto& w : workers_) w.Kill9();
  broker_.Kill9();
  redis_.reset();
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

Result<void> Cluster::StartBroker() {
  std::string ready_file = dir_ + "/broker.ready";
  std::filesystem::remove(ready_file);
  std::vector<std::string> argv = {
      Binary("broker/taskmill-broker"),
      "--frontend",
      frontend_.empty() ? "tcp://127.0.0.1:*" : frontend_,
      "--backend",
      backend_.empty() ? "tcp://127.0.0.1:*" : backend_,
      "--prefix",
      "tmc" + std::to_string(getpid()) + ":",
      "--heartbeat-ms",
      std::to_string(options_.heartbeat_ms),
      "--liveness",
      std::to_string(options_.liveness),
      "--lease-ms",
      std::to_string(options_.lease_ms),
      "--drain-grace-ms",
      "5000",
      "--ready-file",
      ready_file,
      "--log-level",
      "debug",
  };
  if (redis_) {
    argv.push_back("--redis-url");
    argv.push_back("unix://" + redis_->config().unix_path);
  } else {
    argv.push_back("--data-dir");
    argv.push_back(dir_ + "/data");
  }
  for (const auto& a : options_.broker_args) argv.push_back(a);
  auto child = ChildProcess::Spawn(argv, dir_ + "/broker.log");
  if (!child) return std::unexpected(child.error());
  broker_ = std::move(*child);
  if (!WaitFor([&] { return std::filesystem::exists(ready_file) || !broker_.Running(); }, 20000) ||
      !std::filesystem::exists(ready_file)) {
    return MakeError(ErrorCode::kTimeout, "broker did not start:\n" + Logs());
  }
  std::string ready = ReadFile(ready_file);
  frontend_ = Field(ready, "frontend");
  backend_ = Field(ready, "backend");
  return {};
}

Result<size_t> Cluster::StartWorker(const std::string& id, uint32_t concurrency,
                                    const std::string& queues,
                                    std::vector<std::string> extra_args) {
  std::vector<std::string> argv = {
      Binary("worker/taskmill-worker"),
      "--broker",
      backend_,
      "--id",
      id,
      "--concurrency",
      std::to_string(concurrency),
      "--queues",
      queues,
      "--heartbeat-ms",
      std::to_string(options_.heartbeat_ms),
      "--liveness",
      std::to_string(options_.liveness),
      "--log-level",
      "debug",
  };
  for (auto& a : extra_args) argv.push_back(std::move(a));
  std::string log = dir_ + "/worker-" + id + ".log";
  auto child = ChildProcess::Spawn(argv, log);
  if (!child) return std::unexpected(child.error());
  workers_.push_back(std::move(*child));
  worker_logs_.push_back(log);
  return workers_.size() - 1;
}

WireClient& Cluster::client() {
  if (!client_) client_ = std::make_unique<WireClient>(frontend_);
  return *client_;
}

std::string Cluster::Logs() const {
  std::string out = "--- broker.log\n" + ReadFile(dir_ + "/broker.log");
  for (const auto& log : worker_logs_) out += "--- " + log + "\n" + ReadFile(log);
  if (out.size() > 20000) out = "...\n" + out.substr(out.size() - 20000);
  return out;
}

protocol::TaskSpec Spec(const std::string& type, const std::string& json_payload,
                        const std::string& queue) {
  protocol::TaskSpec s;
  s.type = type;
  s.payload = json_payload;
  s.queue = queue;
  return s;
}

}  // namespace taskmill::testing
