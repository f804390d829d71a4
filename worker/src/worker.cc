#include "taskmill/worker/worker.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "io_loop.h"
#include "pool_zygote.h"
#include "worker_telemetry.h"
#include "taskmill/shared/curve_keys.h"
#include "taskmill/shared/ids.h"
#include "taskmill/shared/log.h"

namespace taskmill::worker {
namespace {

bool IsNameChar(char c, std::string_view extra) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         extra.find(c) != std::string_view::npos;
}

bool IsName(std::string_view s, std::string_view extra) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    if (!IsNameChar(c, extra)) return false;
  }
  return true;
}

std::string DefaultId() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, 8, "worker");
  std::string id;
  for (char c : std::string_view(host)) id += IsNameChar(c, "_.-") ? c : '-';
  if (id.size() > 64) id.resize(64);
  // The random tail keeps two workers of one process (or a restarted pid) apart.
  return id + "-" + std::to_string(getpid()) + "-" + NewId().substr(20);
}

// What an empty WorkerOptions::broker means: TASKMILL_WORKER_BROKER, else the default.
std::string DefaultBroker() {
  const char* from_env = std::getenv("TASKMILL_WORKER_BROKER");
  if (from_env != nullptr && *from_env != '\0') return from_env;
  if (const char* client = std::getenv("TASKMILL_BROKER"); client != nullptr && *client != '\0') {
    Logger("worker")->warn(
        "TASKMILL_BROKER ({}) is the clients' endpoint and is not read by workers; using {}. "
        "Set TASKMILL_WORKER_BROKER (or WorkerOptions::broker) to the broker's worker port",
        client, kDefaultWorkerEndpoint);
  }
  return kDefaultWorkerEndpoint;
}

}  // namespace

Result<void> ValidateOptions(const WorkerOptions& o) {
  auto bad = [](std::string what) { return MakeError(ErrorCode::kInvalidArgument, what); };
  // Empty: TASKMILL_WORKER_BROKER or the default, filled in by the Worker.
  if (!o.broker.empty() && o.broker.find("://") == std::string::npos) {
    return bad("broker: '" + o.broker + "' is not a ZeroMQ endpoint (e.g. tcp://host:5556)");
  }
  if (o.queues.empty()) return bad("queues: at least one queue is needed");
  for (const auto& q : o.queues) {
    if (!IsName(q, "_.-")) {
      return bad("queues: '" + q + "' is not a queue name ([A-Za-z0-9_.-]{1,128})");
    }
  }
  if (o.concurrency < 1 || o.concurrency > 4096) {
    return bad("concurrency: " + std::to_string(o.concurrency) + " is out of range (1..4096)");
  }
  if (!IsName(o.id, "_.-:")) {
    return bad("id: '" + o.id + "' is not a worker id ([A-Za-z0-9_.:-]{1,128})");
  }
  if (o.heartbeat_ms < 10 || o.heartbeat_ms > 600'000) {
    return bad("heartbeat-ms: " + std::to_string(o.heartbeat_ms) + " is out of range (10..600000)");
  }
  if (o.liveness < 1 || o.liveness > 100) {
    return bad("liveness: " + std::to_string(o.liveness) + " is out of range (1..100)");
  }
  if (o.cancel_grace_ms > 3'600'000) {
    return bad("cancel-grace-ms: " + std::to_string(o.cancel_grace_ms) +
               " is out of range (0..3600000)");
  }
  if (o.max_output_bytes < 1024 || o.max_output_bytes > (1ull << 30)) {
    return bad("max-output-bytes: " + std::to_string(o.max_output_bytes) +
               " is out of range (1024..1073741824)");
  }
  if (o.processes > 1024) {
    return bad("processes: " + std::to_string(o.processes) + " is out of range (0..1024)");
  }
  if (o.processes == 0 && (o.max_tasks_per_process > 0 || o.max_memory_per_process_mb > 0)) {
    return bad("max-tasks-per-process and --max-memory-per-process-mb need --processes");
  }
  if (o.max_memory_per_process_mb > (1u << 20)) {
    return bad("max-memory-per-process-mb: " + std::to_string(o.max_memory_per_process_mb) +
               " is out of range (0..1048576)");
  }
  if (o.reconnect.multiplier < 1.0 || o.reconnect.max_ms < o.reconnect.base_ms) {
    return bad("reconnect: multiplier must be >= 1 and max_ms >= base_ms");
  }
  for (const auto& [key, value] : o.labels) {
    if (!IsName(key, "_.-/")) {
      return bad("labels: '" + key + "' is not a label key ([A-Za-z0-9_./-]{1,128})");
    }
  }
  // Loads the keys only to check them; Run loads them again to use them.
  if (auto http = ParseHttpAddress(o.http, "http"); !http) return std::unexpected(http.error());
  if (auto curve = LoadCurveClientKeys(o.curve_server_key, o.curve_key_file); !curve) {
    return std::unexpected(curve.error());
  }
  return {};
}

Worker::Worker(WorkerOptions options)
    : options_(std::move(options)), wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (options_.broker.empty()) options_.broker = DefaultBroker();
  if (options_.id.empty()) options_.id = DefaultId();
  if (options_.concurrency == 0) {
    options_.concurrency = std::max(1u, std::thread::hardware_concurrency());
  }
  // One attempt per pool process at a time: the slots are the processes.
  if (options_.processes > 0) options_.concurrency = options_.processes;
}

Worker::~Worker() {
  if (wake_fd_ >= 0) close(wake_fd_);
}

void Worker::Handle(std::string type, Handler handler, HandlerOptions options) {
  if (running_.load()) {
    // The I/O and executor threads read the map without a lock once Run starts.
    Logger("worker")->error("Handle(\"{}\") after Run is ignored", type);
    return;
  }
  handlers_[std::move(type)] = HandlerEntry{std::move(handler), options};
}

std::vector<std::string> Worker::types() const {
  std::vector<std::string> out;
  for (const auto& [type, handler] : handlers_) out.push_back(type);
  return out;
}

Result<void> Worker::Run(int shutdown_fd) {
  if (running_.exchange(true)) {
    return MakeError(ErrorCode::kConflict, "Worker::Run may be called only once");
  }
  if (auto v = ValidateOptions(options_); !v) return v;
  if (wake_fd_ < 0) return MakeError(ErrorCode::kInternal, "eventfd failed at construction");
  // The fork server is forked first, before this Run starts any thread (docs/architecture.md).
  std::unique_ptr<PoolZygote> zygote;
  if (options_.processes > 0) {
    auto started = PoolZygote::Start(handlers_, options_.max_output_bytes);
    if (!started) return std::unexpected(started.error());
    zygote = std::move(*started);
  }
  std::unique_ptr<WorkerTelemetry> telemetry;
  if (auto address = *ParseHttpAddress(options_.http, "http"); address) {
    telemetry = std::make_unique<WorkerTelemetry>(options_.id, options_.heartbeat_ms);
    auto bound = telemetry->Start(*address);
    if (!bound) return std::unexpected(bound.error());
    Logger("worker")->info("HTTP (/healthz /readyz /metrics) on {}", bound->ToString());
    std::lock_guard lock(http_mu_);
    http_address_ = bound->ToString();
  }
  IoLoop loop(options_, handlers_, wake_fd_, shutdown_fd, drain_grace_ms_, telemetry.get(),
              zygote.get());
  auto ran = loop.Run();
  if (telemetry) telemetry->Stop();
  return ran;
}

std::string Worker::http_address() const {
  std::lock_guard lock(http_mu_);
  return http_address_;
}

void Worker::Drain(uint32_t grace_ms) {
  drain_grace_ms_.store(grace_ms);
  uint64_t one = 1;
  // write(2) is async-signal-safe, so a signal handler may call Drain.
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
}

}  // namespace taskmill::worker
