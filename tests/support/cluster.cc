#include "support/cluster.h"

#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "support/launch.h"

namespace taskmill::testing {

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
  BrokerLaunch l;
  l.dir = dir_;
  l.frontend = frontend_;
  l.backend = backend_;
  l.redis_url = redis_ ? "unix://" + redis_->config().unix_path : "";
  l.prefix = "tmc" + std::to_string(getpid()) + ":";
  l.heartbeat_ms = options_.heartbeat_ms;
  l.liveness = options_.liveness;
  l.lease_ms = options_.lease_ms;
  l.extra_args = options_.broker_args;
  auto endpoints = LaunchBroker(l, broker_, [this] { return Logs(); });
  if (!endpoints) return std::unexpected(endpoints.error());
  frontend_ = endpoints->frontend;
  backend_ = endpoints->backend;
  http_ = endpoints->http;
  return {};
}

Result<size_t> Cluster::StartWorker(const std::string& id, uint32_t concurrency,
                                    const std::string& queues,
                                    std::vector<std::string> extra_args) {
  auto argv =
      WorkerArgv(backend_, id, concurrency, queues, options_.heartbeat_ms, options_.liveness);
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
