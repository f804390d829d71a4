#include "support/launch.h"
#include "test_paths.h"  // TASKMILL_SOURCE_DIR, TASKMILL_BUILD_DIR

#include <chrono>
#include <filesystem>
#include <thread>

namespace taskmill::testing {
namespace {

std::string Field(const std::string& text, const std::string& key) {
  auto pos = text.find(key + "=");
  if (pos == std::string::npos) return "";
  auto end = text.find('\n', pos);
  return text.substr(pos + key.size() + 1, end - pos - key.size() - 1);
}

}  // namespace

std::string Binary(const std::string& relative) {
  return std::string(TASKMILL_BUILD_DIR) + "/" + relative;
}

bool WaitFor(const std::function<bool()>& pred, int64_t timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

Result<BrokerEndpoints> LaunchBroker(const BrokerLaunch& l, ChildProcess& process,
                                     const std::function<std::string()>& logs) {
  std::string ready_file = l.dir + "/broker.ready";
  std::filesystem::remove(ready_file);
  std::vector<std::string> argv = {
      Binary("broker/taskmill-broker"),
      "--frontend",
      l.frontend.empty() ? "tcp://127.0.0.1:*" : l.frontend,
      "--backend",
      l.backend.empty() ? "tcp://127.0.0.1:*" : l.backend,
      "--prefix",
      l.prefix,
      "--heartbeat-ms",
      std::to_string(l.heartbeat_ms),
      "--liveness",
      std::to_string(l.liveness),
      "--lease-ms",
      std::to_string(l.lease_ms),
      "--drain-grace-ms",
      "5000",
      "--ready-file",
      ready_file,
      "--log-level",
      "debug",
      "--http",
      l.http,
  };
  if (!l.redis_url.empty()) {
    argv.insert(argv.end(), {"--redis-url", l.redis_url});
  } else {
    argv.insert(argv.end(), {"--data-dir", l.dir + "/data"});
  }
  argv.insert(argv.end(), l.extra_args.begin(), l.extra_args.end());
  auto child = ChildProcess::Spawn(argv, l.dir + "/broker.log");
  if (!child) return std::unexpected(child.error());
  process = std::move(*child);
  if (!WaitFor([&] { return std::filesystem::exists(ready_file) || !process.Running(); }, 20000) ||
      !std::filesystem::exists(ready_file)) {
    return MakeError(ErrorCode::kTimeout, "broker did not start:\n" + logs());
  }
  std::string ready = ReadFile(ready_file);
  return BrokerEndpoints{Field(ready, "frontend"), Field(ready, "backend"), Field(ready, "http")};
}

std::vector<std::string> WorkerArgv(const std::string& backend, const std::string& id,
                                    uint32_t concurrency, const std::string& queues,
                                    uint32_t heartbeat_ms, uint32_t liveness) {
  return {Binary("worker/taskmill-worker"),
          "--broker",
          backend,
          "--id",
          id,
          "--concurrency",
          std::to_string(concurrency),
          "--queues",
          queues,
          "--heartbeat-ms",
          std::to_string(heartbeat_ms),
          "--liveness",
          std::to_string(liveness),
          "--log-level",
          "debug"};
}

}  // namespace taskmill::testing
