#pragma once

// The bench's data path. A producer submits tasks and learns when they finished. Two kinds:
// ClientProducer submits through the C++ client library (taskmill::client::Client), as a
// user would; WireProducer speaks the wire protocol on its own DEALER, the library's floor
// (--producer=wire, for an A/B of the library's cost). With notify, the broker pushes one
// RESULT per finished task: completion is seen without polling.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>
#include <zmq.hpp>

#include "taskmill/client/client.h"
#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/messages.h"

namespace taskmill::bench {

int64_t NowNs();

// What the producer learnt about one finished task (kept only when asked for).
struct FinishedTask {
  uint8_t priority = 0;
  int64_t started_ms = 0;   // broker's wall clock, when the attempt was claimed
  int64_t received_ns = 0;  // when its RESULT reached us
};

// How the producer learns that a task finished.
enum class Completion {
  kNotify,  // SUBMIT with notify: the broker pushes one RESULT per task
  kWait,    // a WAIT for each SUBMIT's ids once it is answered: one REPLY per chunk
};

struct SubmitPlan {
  protocol::TaskSpec spec;                    // the template of every task
  uint32_t chunk = 200;                       // tasks per SUBMIT
  uint32_t window = 4;                        // SUBMITs in flight without a reply
  std::function<uint8_t(uint64_t)> priority;  // task index -> priority; empty: spec's
  bool keep_finished = false;                 // record a FinishedTask per RESULT
};

// A producer and its counters. Not thread-safe: one thread at a time uses it (the bench runs
// one thread per producer). Owner: the scenario that runs it.
class Producer {
 public:
  virtual ~Producer() = default;

  // Submits `count` tasks, keeping at most plan.window SUBMITs unanswered. Fails on an error
  // REPLY or when deadline_ns passes.
  virtual Result<void> Submit(uint64_t count, const SubmitPlan& plan, int64_t deadline_ns) = 0;
  // Receives until `expected` results have arrived in total (since construction).
  virtual Result<void> AwaitResults(uint64_t expected, int64_t deadline_ns) = 0;
  // Submits one task and waits for its result; returns the round trip in ns.
  virtual Result<int64_t> RoundTrip(const protocol::TaskSpec& spec, int64_t deadline_ns) = 0;

  int64_t first_submit_ns() const { return first_submit_ns_; }
  int64_t last_result_ns() const { return last_result_ns_; }
  uint64_t results() const { return results_; }
  uint64_t failed() const { return failed_; }
  const std::vector<FinishedTask>& finished() const { return finished_; }

 protected:
  void Finished(const protocol::TaskInfo& task, int64_t now_ns);

  bool keep_finished_ = false;    // True iff results are recorded in finished_
  int64_t first_submit_ns_ = -1;  // -1 until the first SUBMIT
  int64_t last_result_ns_ = -1;   // -1 until the first result
  uint64_t results_ = 0;          // results received
  uint64_t failed_ = 0;           // results whose task did not succeed
  std::vector<FinishedTask> finished_;
};

// Through the C++ client library: SubmitManyAsync keeps the window of SUBMITs in flight,
// WaitResults takes the pushed results (Completion::kWait: submitted without notify, so
// WaitResults asks the broker with a WAIT per chunk).
class ClientProducer : public Producer {
 public:
  // Fails only on bad options; the client connects lazily.
  static Result<std::unique_ptr<ClientProducer>> Connect(const std::string& endpoint,
                                                         Completion completion);

  Result<void> Submit(uint64_t count, const SubmitPlan& plan, int64_t deadline_ns) override;
  Result<void> AwaitResults(uint64_t expected, int64_t deadline_ns) override;
  Result<int64_t> RoundTrip(const protocol::TaskSpec& spec, int64_t deadline_ns) override;

 private:
  ClientProducer(std::unique_ptr<client::Client> client, Completion completion)
      : client_(std::move(client)), completion_(completion) {}

  std::unique_ptr<client::Client> client_;
  Completion completion_;
  uint32_t chunk_ = 200;               // ids per WaitResults call (the plan's chunk)
  std::vector<std::string> unawaited_;  // submitted ids whose result is not yet taken
};

// One DEALER speaking the wire protocol by hand.
class WireProducer : public Producer {
 public:
  WireProducer(zmq::context_t& ctx, const std::string& endpoint, Completion completion);

  Result<void> Submit(uint64_t count, const SubmitPlan& plan, int64_t deadline_ns) override;
  Result<void> AwaitResults(uint64_t expected, int64_t deadline_ns) override;
  Result<int64_t> RoundTrip(const protocol::TaskSpec& spec, int64_t deadline_ns) override;

 private:
  // Waits up to timeout_ms for messages and handles every one that is there.
  Result<void> Pump(int timeout_ms);
  Result<void> Handle(const protocol::Message& msg);
  void Send(const protocol::Message& msg);

  zmq::socket_t socket_;
  Completion completion_;
  std::unordered_set<uint64_t> waits_;  // req_ids of WAITs in flight
  uint64_t next_req_id_ = 1;
  uint64_t unanswered_ = 0;     // SUBMITs sent and not yet answered
  std::string last_result_id_;  // id of the latest RESULT (RoundTrip matches on it)
};

// A producer of the kind --producer names: "client" or "wire".
Result<std::unique_ptr<Producer>> MakeProducer(const std::string& kind, zmq::context_t& ctx,
                                               const std::string& endpoint,
                                               Completion completion);

}  // namespace taskmill::bench
