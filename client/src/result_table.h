#pragma once

// Results the broker pushes (RESULT, protocol 8.10) for tasks this client submitted with
// notify, kept until a caller takes them, so that waiting for a result costs no request.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "taskmill/shared/protocol/types.h"

namespace taskmill::client {

// A table task id -> pushed result. Arrived results are kept until taken, at most
// max_kept of them (oldest dropped first); expected ids at most 10 x max_kept. An id the
// table does not hold cannot be answered from a push: the caller asks the broker (WAIT),
// so a dropped entry costs a request, never a result.
// Lifecycle: owned by the Connection. Threads: the I/O thread feeds it (Expect when a
// notify SUBMIT's reply arrives, so strictly before the pushes that follow it on the same
// connection; OnResult; OnReconnect); callers Await from any thread. Thread-safe.
class ResultTable {
 public:
  explicit ResultTable(size_t max_kept) : max_kept_(max_kept == 0 ? 1 : max_kept) {}
  ResultTable(const ResultTable&) = delete;
  ResultTable& operator=(const ResultTable&) = delete;

  // Registers ids submitted with notify (I/O thread, on the SUBMIT's reply).
  void Expect(const std::vector<std::string>& ids);
  // A RESULT arrived (I/O thread); kept even if nobody expects it.
  void OnResult(protocol::TaskInfo task);
  // A new connection (new ROUTER identity): the pushes still expected went to the old one.
  // Their ids are dropped and their waiters stop waiting.
  void OnReconnect();

  // What Await found for its ids, index by index.
  struct Awaited {
    std::vector<std::optional<protocol::TaskInfo>> tasks;  // the pushed result, if it came
    bool timed_out = false;  // true iff the deadline passed with a push still expected
  };
  // Waits until every id has its pushed result or cannot get one (not held, or dropped
  // meanwhile), or deadline_ms (steady) passes. Arrived results are taken out of the table;
  // an id still expected at the deadline stays, so a later Await may still get its push.
  Awaited Await(const std::vector<std::string>& ids, int64_t deadline_ms);

  size_t size() const;

 private:
  // One caller blocked in Await.
  struct Waiter {
    size_t remaining = 0;  // its ids still expected
    std::condition_variable cv;
  };
  struct Entry {
    std::optional<protocol::TaskInfo> task;  // set iff the push arrived
    uint64_t seq = 0;                        // its element in arrived_ or expected_
    Waiter* waiter = nullptr;                // the Await blocked on it; null: none
  };
  using Order = std::deque<std::pair<uint64_t, std::string>>;  // (seq, id), oldest first

  void Settle(Entry& entry);  // the entry stopped being expected: wake its waiter
  // Drops the oldest entries of `order` while it holds more than `cap` live ones.
  void Trim(Order& order, size_t& live, size_t cap);
  void Compact(Order& order);  // drops elements whose entry is gone or moved

  const size_t max_kept_;
  mutable std::mutex mu_;  // guards everything below
  std::unordered_map<std::string, Entry> entries_;
  // Ids in insertion order with their seq; an element whose seq no longer matches its
  // entry is stale and skipped.
  Order arrived_;
  Order expected_;
  size_t arrived_live_ = 0;   // entries with a task
  size_t expected_live_ = 0;  // entries without one
  uint64_t next_seq_ = 1;
};

}  // namespace taskmill::client
