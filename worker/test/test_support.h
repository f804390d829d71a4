#pragma once

// Test fixtures for the worker: a fake broker (a ROUTER speaking the real codec), a
// Worker running on its own thread, a gate handlers block on, and payload builders.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>
#include <zmq.hpp>

#include "taskmill/shared/protocol/codec.h"
#include "taskmill/worker/builtins.h"
#include "taskmill/worker/worker.h"

namespace taskmill::worker::testing {

using namespace std::chrono_literals;
using Ms = std::chrono::milliseconds;

// A broker stand-in: ROUTER bound to tcp://127.0.0.1:<ephemeral>, on the test thread.
class FakeBroker {
 public:
  FakeBroker();
  ~FakeBroker();

  const std::string& endpoint() const { return endpoint_; }

  struct Received {
    std::string identity;
    protocol::Message msg;
  };
  // The next message, or nullopt after `timeout`. Fails the test on an undecodable one.
  std::optional<Received> Recv(Ms timeout);

  // The next message of type T (matching `pred`), discarding others (heartbeats...);
  // nullopt after `timeout`.
  template <typename T>
  std::optional<T> WaitFor(Ms timeout, const std::function<bool(const T&)>& pred = {}) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto left = std::chrono::duration_cast<Ms>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto got = Recv(left);
      if (!got) return std::nullopt;
      if (auto* m = std::get_if<T>(&got->msg); m && (!pred || pred(*m))) return *m;
    }
  }

  // Sends to the worker last heard from (or `identity`).
  void Send(const protocol::Message& msg, const std::string& identity = {});
  // Every message received so far, in order.
  const std::vector<protocol::Message>& history() const { return history_; }
  const std::string& last_identity() const { return last_identity_; }

 private:
  zmq::context_t context_;
  zmq::socket_t router_;
  std::string endpoint_;
  std::string last_identity_;
  std::vector<protocol::Message> history_;
};

// A Worker running Run() on a thread; the destructor drains it with no grace and joins.
class RunningWorker {
 public:
  RunningWorker(WorkerOptions options, const std::function<void(Worker&)>& setup);
  ~RunningWorker();
  Worker& worker() { return worker_; }
  // Joins Run; true iff it returned within `timeout` (the thread is then joined).
  bool WaitExit(Ms timeout);
  const Result<void>& result() const { return result_; }

 private:
  Worker worker_;
  Result<void> result_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool exited_ = false;
  std::thread thread_;
};

// Options pointing at `broker`, with fast heartbeats.
WorkerOptions TestOptions(const FakeBroker& broker, uint32_t concurrency = 2);

// Handlers block on it until the test opens it; counts who arrived.
class Gate {
 public:
  void Arrive();  // counts, then blocks until Open
  void Open();
  bool WaitArrived(int n, Ms timeout);
  int arrived();
  int max_inside();  // most handlers ever inside at once

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;
  int inside_ = 0;
  int max_inside_ = 0;
  bool open_ = false;
};

// A TASK message for the tests.
protocol::TaskMsg MakeTask(std::string id, std::string type, std::string payload = {},
                           uint64_t token = 7, uint32_t attempt = 1);

// An exec payload as msgpack.
struct ExecArgs {
  std::vector<std::string> argv = {};
  std::map<std::string, std::string> env = {};
  std::optional<std::string> stdin_data = {};
  std::optional<std::string> cwd = {};
  std::optional<uint64_t> timeout_ms = {};
  std::optional<uint64_t> max_output_bytes = {};
  std::optional<bool> retry_on_nonzero = {};
  std::string Pack() const;
};

// Runs exec directly on the calling thread, as an executor would (exec, isolation and
// artifacts tests). `task_id` names the attempt (artifacts are kept under it).
struct DirectExec {
  protocol::TaskMsg task;
  CancelSignal cancel;
  Outcome outcome;
  protocol::CostMap costs;

  explicit DirectExec(const std::string& payload, ExecOptions options = {},
                      std::string task_id = "direct");
  std::string Why() const;
};
// A failed outcome as "code: message / stderr" for assertion messages; empty when it is ok.
std::string Why(const Outcome& outcome);

// A msgpack map of unsigned ints and bools, for sleep/fail payloads.
std::string PackMap(const std::map<std::string, std::variant<uint64_t, bool>>& fields);

// Polls `pred` until true or `timeout`; true iff it became true.
bool WaitUntil(const std::function<bool()>& pred, Ms timeout);
// True when no such process exists (or only its zombie does).
bool ProcessGone(int pid);

}  // namespace taskmill::worker::testing
