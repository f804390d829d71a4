#include "support/brokers_fixture.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "cli/cli.h"

namespace taskmill::testing {

void BrokersOnOneRedis::SetUp() {
  std::string tmpl =
      (std::filesystem::temp_directory_path() / ("taskmill-" + setup_.name + "-XXXXXX")).string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  dir_ = tmpl;
  prefix_ = setup_.prefix + std::to_string(getpid()) + ":";
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.has_value()) << redis.error().message;
  redis_ = std::move(*redis);
  for (const auto& id : setup_.brokers) ASSERT_NO_FATAL_FAILURE(StartBroker(id));
}

void BrokersOnOneRedis::TearDown() {
  if (HasFailure()) std::cerr << Logs();
  for (auto& [id, w] : workers_) w.Kill9();
  for (auto& [id, b] : brokers_) b.Kill9();
  redis_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void BrokersOnOneRedis::StartBroker(const std::string& id, const std::vector<std::string>& extra) {
  BrokerLaunch l = setup_.launch;
  l.dir = dir_ + "/" + id;
  std::filesystem::create_directories(l.dir);
  l.redis_url = "unix://" + redis_->config().unix_path;
  l.prefix = prefix_;
  l.extra_args = {"--broker-id", id};
  l.extra_args.insert(l.extra_args.end(), setup_.launch.extra_args.begin(),
                      setup_.launch.extra_args.end());
  for (auto& a : ExtraArgs(id)) l.extra_args.push_back(std::move(a));
  l.extra_args.insert(l.extra_args.end(), extra.begin(), extra.end());
  auto ep = LaunchBroker(l, brokers_[id], [this] { return Logs(); });
  ASSERT_TRUE(ep.has_value()) << ep.error().message;
  endpoints_[id] = *ep;
}

void BrokersOnOneRedis::StartWorker(const std::string& broker, const std::string& id,
                                    uint32_t concurrency, const std::string& queues) {
  ASSERT_FALSE(workers_.contains(id)) << "worker " << id << " runs already";
  std::string log = dir_ + "/worker-" + id + ".log";
  auto w = ChildProcess::Spawn(WorkerArgv(endpoints_.at(broker).backend, id, concurrency, queues,
                                          setup_.launch.heartbeat_ms, setup_.launch.liveness),
                               log);
  ASSERT_TRUE(w.has_value()) << w.error().message;
  workers_.emplace(id, std::move(*w));
  if (std::find(worker_logs_.begin(), worker_logs_.end(), log) == worker_logs_.end()) {
    worker_logs_.push_back(log);
  }
}

std::string BrokersOnOneRedis::Logs() const {
  std::string out;
  for (const auto& [id, ep] : endpoints_) {
    out += "--- broker " + id + "\n" + ReadFile(dir_ + "/" + id + "/broker.log");
  }
  for (const auto& log : worker_logs_) out += "--- " + log + "\n" + ReadFile(log);
  if (out.size() > 30000) out = "...\n" + out.substr(out.size() - 30000);
  return out;
}

std::pair<int, std::string> BrokersOnOneRedis::Cli(const std::string& broker,
                                                   std::vector<std::string> args) {
  std::vector<std::string> argv = {"taskmill", "--broker", endpoints_.at(broker).frontend};
  argv.insert(argv.end(), args.begin(), args.end());
  std::ostringstream out, err;
  auto no_env = [](const std::string&) { return std::string(); };
  int code = client::cli::RunCli(argv, out, err, false, no_env);
  return {code, out.str() + err.str()};
}

}  // namespace taskmill::testing
