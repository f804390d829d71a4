#pragma once

// The bench's data path: one ZeroMQ DEALER speaking the wire protocol directly (the client
// library does not surface RESULT pushes). Tasks are submitted with notify, so the broker
// pushes one RESULT per finished task back to this socket: completion is seen without
// polling.

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_set>
#include <vector>
#include <zmq.hpp>

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

// One DEALER and its counters. Not thread-safe: one thread at a time uses it (the bench runs
// one thread per producer). Owner: the scenario that runs it.
class Producer {
 public:
  Producer(zmq::context_t& ctx, const std::string& endpoint, Completion completion);

  // Submits `count` tasks, keeping at most plan.window SUBMITs unanswered, and counts the
  // RESULTs that arrive meanwhile. Fails on an error REPLY or when deadline_ns passes.
  Result<void> Submit(uint64_t count, const SubmitPlan& plan, int64_t deadline_ns);
  // Receives until `expected` RESULTs have arrived in total (since construction).
  Result<void> AwaitResults(uint64_t expected, int64_t deadline_ns);
  // Submits one task and waits for its RESULT; returns the round trip in ns.
  Result<int64_t> RoundTrip(const protocol::TaskSpec& spec, int64_t deadline_ns);

  int64_t first_submit_ns() const { return first_submit_ns_; }
  int64_t last_result_ns() const { return last_result_ns_; }
  uint64_t results() const { return results_; }
  uint64_t failed() const { return failed_; }
  const std::vector<FinishedTask>& finished() const { return finished_; }

 private:
  // Waits up to timeout_ms for messages and handles every one that is there.
  Result<void> Pump(int timeout_ms);
  Result<void> Handle(const protocol::Message& msg);
  void Send(const protocol::Message& msg);
  void Finished(const protocol::TaskInfo& task, int64_t now_ns);

  zmq::socket_t socket_;
  Completion completion_;
  std::unordered_set<uint64_t> waits_;  // req_ids of WAITs in flight
  uint64_t next_req_id_ = 1;
  uint64_t unanswered_ = 0;       // SUBMITs sent and not yet answered
  bool keep_finished_ = false;    // True iff RESULTs are recorded in finished_
  int64_t first_submit_ns_ = -1;  // -1 until the first SUBMIT
  int64_t last_result_ns_ = -1;   // -1 until the first RESULT
  uint64_t results_ = 0;          // RESULTs received
  uint64_t failed_ = 0;           // RESULTs whose task did not succeed
  std::string last_result_id_;    // id of the latest RESULT (RoundTrip matches on it)
  std::vector<FinishedTask> finished_;
};

}  // namespace taskmill::bench
