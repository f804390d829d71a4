#include "test_support.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <msgpack.hpp>
#include <sstream>
#include <zmq_addon.hpp>

#include "taskmill/shared/log.h"

namespace taskmill::worker::testing {

FakeBroker::FakeBroker() : router_(context_, zmq::socket_type::router) {
  router_.set(zmq::sockopt::linger, 0);
  // Like the broker: no handover. Every link of a worker has a routing id of its own.
  router_.bind("tcp://127.0.0.1:*");
  endpoint_ = router_.get(zmq::sockopt::last_endpoint);
}

FakeBroker::~FakeBroker() { router_.close(); }

std::optional<FakeBroker::Received> FakeBroker::Recv(Ms timeout) {
  zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, timeout) == 0) return std::nullopt;
  std::vector<zmq::message_t> parts;
  auto got = zmq::recv_multipart(router_, std::back_inserter(parts));
  if (!got || parts.size() != 4) {
    ADD_FAILURE() << "fake broker got a message with " << parts.size() << " frames";
    return std::nullopt;
  }
  std::vector<std::string_view> frames;
  for (size_t i = 1; i < parts.size(); ++i) frames.push_back(parts[i].to_string_view());
  auto msg = protocol::Decode(frames);
  if (!msg) {
    ADD_FAILURE() << "fake broker cannot decode: " << msg.error().ToString();
    return std::nullopt;
  }
  last_identity_ = parts[0].to_string();
  history_.push_back(*msg);
  return Received{last_identity_, std::move(*msg)};
}

void FakeBroker::Send(const protocol::Message& msg, const std::string& identity) {
  protocol::Frames f = protocol::Encode(msg);
  const std::string& to = identity.empty() ? last_identity_ : identity;
  std::array<zmq::const_buffer, 4> parts = {zmq::buffer(to), zmq::buffer(f.version),
                                            zmq::buffer(f.command), zmq::buffer(f.body)};
  zmq::send_multipart(router_, parts);
}

RunningWorker::RunningWorker(WorkerOptions options, const std::function<void(Worker&)>& setup)
    : worker_(std::move(options)) {
  setup(worker_);
  thread_ = std::thread([this] {
    auto r = worker_.Run();
    std::lock_guard lock(mu_);
    result_ = std::move(r);
    exited_ = true;
    cv_.notify_all();
  });
}

RunningWorker::~RunningWorker() {
  worker_.Drain(0);
  if (thread_.joinable()) thread_.join();
  if (!result_) ADD_FAILURE() << "Worker::Run failed: " << result_.error().ToString();
}

bool RunningWorker::WaitExit(Ms timeout) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return exited_; })) return false;
  lock.unlock();
  if (thread_.joinable()) thread_.join();
  return true;
}

WorkerOptions TestOptions(const FakeBroker& broker, uint32_t concurrency) {
  WorkerOptions o;
  o.broker = broker.endpoint();
  o.concurrency = concurrency;
  o.heartbeat_ms = 50;
  o.liveness = 100;  // 5 s of broker silence; tests that want reconnects lower it
  o.queues = {"default"};
  o.reconnect = {.base_ms = 20, .max_ms = 200, .multiplier = 2.0, .jitter = true};
  o.linger_ms = 500;
  return o;
}

void Gate::Arrive() {
  std::unique_lock lock(mu_);
  ++arrived_;
  ++inside_;
  max_inside_ = std::max(max_inside_, inside_);
  cv_.notify_all();
  cv_.wait(lock, [&] { return open_; });
  --inside_;
}

void Gate::Open() {
  std::lock_guard lock(mu_);
  open_ = true;
  cv_.notify_all();
}

bool Gate::WaitArrived(int n, Ms timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return arrived_ >= n; });
}

int Gate::arrived() {
  std::lock_guard lock(mu_);
  return arrived_;
}

int Gate::max_inside() {
  std::lock_guard lock(mu_);
  return max_inside_;
}

protocol::TaskMsg MakeTask(std::string id, std::string type, std::string payload, uint64_t token,
                           uint32_t attempt) {
  protocol::TaskMsg t;
  t.task_id = std::move(id);
  t.token = token;
  t.attempt = attempt;
  t.queue = "default";
  t.type = std::move(type);
  t.payload = std::move(payload);
  return t;
}

std::string ExecArgs::Pack() const {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  uint32_t n = 1 + (env.empty() ? 0 : 1) + (stdin_data ? 1 : 0) + (cwd ? 1 : 0) +
               (timeout_ms ? 1 : 0) + (max_output_bytes ? 1 : 0) + (retry_on_nonzero ? 1 : 0);
  pk.pack_map(n);
  pk.pack(std::string("argv"));
  pk.pack(argv);
  if (!env.empty()) {
    pk.pack(std::string("env"));
    pk.pack(env);
  }
  if (stdin_data) {
    pk.pack(std::string("stdin"));
    pk.pack_bin(static_cast<uint32_t>(stdin_data->size()));
    pk.pack_bin_body(stdin_data->data(), static_cast<uint32_t>(stdin_data->size()));
  }
  if (cwd) {
    pk.pack(std::string("cwd"));
    pk.pack(*cwd);
  }
  if (timeout_ms) {
    pk.pack(std::string("timeout_ms"));
    pk.pack(*timeout_ms);
  }
  if (max_output_bytes) {
    pk.pack(std::string("max_output_bytes"));
    pk.pack(*max_output_bytes);
  }
  if (retry_on_nonzero) {
    pk.pack(std::string("retry_on_nonzero"));
    pk.pack(*retry_on_nonzero);
  }
  return std::string(buf.data(), buf.size());
}

std::string PackMap(const std::map<std::string, std::variant<uint64_t, bool>>& fields) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(static_cast<uint32_t>(fields.size()));
  for (const auto& [k, v] : fields) {
    pk.pack(k);
    std::visit([&](auto x) { pk.pack(x); }, v);
  }
  return std::string(buf.data(), buf.size());
}

bool WaitUntil(const std::function<bool()>& pred, Ms timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    // A condition with no fd to wait on (a process vanishing): re-check every few ms.
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

bool ProcessGone(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  auto close_paren = line.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 >= line.size()) return true;
  char state = line[close_paren + 2];
  return state == 'Z' || state == 'X';
}

DirectExec::DirectExec(const std::string& payload, ExecOptions options, std::string task_id) {
  task = MakeTask(std::move(task_id), "exec", payload);
  TaskContext ctx(task, cancel);
  outcome = RunExec(ctx, options);
  costs = ctx.costs();
}

std::string DirectExec::Why() const { return testing::Why(outcome); }

std::string Why(const Outcome& outcome) {
  return outcome.error
             ? outcome.error->code + ": " + outcome.error->message + " / " + outcome.stderr_data
             : "";
}

}  // namespace taskmill::worker::testing

namespace {
// TASKMILL_TEST_LOG=debug shows the worker's logs while a test runs.
[[maybe_unused]] const bool kLogLevelSet = [] {
  if (const char* level = std::getenv("TASKMILL_TEST_LOG")) (void)taskmill::SetLogLevel(level);
  return true;
}();
}  // namespace
