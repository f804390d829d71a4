#pragma once

// What `taskmill batch run --follow` knows about a running batch, fed by EVENTs and by
// polled BatchStatus (events alone could be missed, e.g. across a broker restart).

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "taskmill/shared/protocol/messages.h"
#include "taskmill/shared/protocol/types.h"

namespace taskmill::client::cli {

// Progress of one batch. A plain value; used on the main thread only.
class BatchProgress {
 public:
  void Apply(const protocol::Event& event);
  void Apply(const protocol::BatchStatus& status);

  uint32_t done() const { return done_; }
  uint32_t total() const { return total_; }
  uint32_t failed() const;
  const protocol::CostMap& cost() const { return cost_; }
  bool finished() const { return finished_; }

 private:
  uint32_t done_ = 0;                   // terminal tasks; never decreases
  uint32_t total_ = 0;                  // tasks in the batch
  std::set<std::string> failed_tasks_;  // tasks failed or cancelled for good, per events
  uint32_t failed_in_status_ = 0;       // failed + cancelled in the latest status
  protocol::CostMap cost_;              // the batch's summed cost so far
  bool finished_ = false;               // true once batch_completed or a final state
};

// One plain line for an event (non-TTY output): task events show the task's state and
// cost, batch events the batch's totals so far, e.g.
// "+1.2s task_completed fetch succeeded cost usd=0.0123",
// "+1.3s batch_progress 3/12 failed 1 cost usd=0.0371".
std::string EventLine(const protocol::Event& event, const BatchProgress& progress,
                      int64_t elapsed_ms);

// Hands events from the Client's callback thread to the main thread. Thread-safe.
class EventInbox {
 public:
  void Push(protocol::Event event);
  // Waits up to wait_ms for at least one event; returns what has arrived (maybe nothing).
  std::vector<protocol::Event> Take(int64_t wait_ms);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<protocol::Event> events_;  // pushed, not yet taken
};

}  // namespace taskmill::client::cli
