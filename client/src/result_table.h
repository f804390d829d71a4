#pragma once

// Results the broker pushes (RESULT, protocol 8.10) for tasks this client submitted with
// notify, kept until a caller takes them, so that waiting for a result costs no request.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "taskmill/shared/protocol/types.h"

namespace taskmill::client {

// A table task id -> pushed result. Arrived results are kept until taken, at most
// max_kept of them (oldest dropped first); expected ids at most 10 x max_kept. An id the
// table does not hold cannot be answered from a push: the caller asks the broker (WAIT),
// so a dropped entry costs a request, never a result.
// Lifecycle: owned by the Connection. Threads: the DEALER's reader (the I/O thread, or a
// caller driving it, one at a time) feeds it (Expect when a
// notify SUBMIT's reply arrives, so strictly before the pushes that follow it on the same
// connection; OnResult; OnReconnect); callers Await from any thread. Thread-safe.
class ResultTable {
 public:
  explicit ResultTable(size_t max_kept) : max_kept_(max_kept == 0 ? 1 : max_kept) {}
  ResultTable(const ResultTable&) = delete;
  ResultTable& operator=(const ResultTable&) = delete;

  // Registers ids submitted with notify (the reader, on the SUBMIT's reply).
  void Expect(const std::vector<std::string>& ids);
  // A RESULT arrived (the reader); kept even if nobody expects it.
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
  // `drive`, when given, is called (table unlocked) before blocking, with a predicate that is
  // true once nothing is left to wait for: the caller may read the pushes on this thread
  // meanwhile (Connection::Drive); whatever it leaves, the feeding thread delivers.
  using Drive = std::function<void(const std::function<bool()>& done)>;
  Awaited Await(const std::vector<std::string>& ids, int64_t deadline_ms,
                const Drive& drive = {});

  size_t size() const;

 private:
  // One caller blocked in Await.
  struct Waiter {
    size_t remaining = 0;  // its ids still expected
    std::condition_variable cv;
  };
  struct Entry {
    std::optional<protocol::TaskInfo> task;  // set iff the push arrived
    Waiter* waiter = nullptr;                // the Await blocked on it; null: none
    // Its place in arrived_ (task set) or expected_ (not): an intrusive list, so that
    // keeping the order costs no lookup and no copy of the id. Map nodes never move.
    Entry* prev = nullptr;
    Entry* next = nullptr;
    const std::string* id = nullptr;  // its key in entries_
  };
  // Entries oldest first.
  struct List {
    Entry* head = nullptr;
    Entry* tail = nullptr;
    size_t size = 0;
    void PushBack(Entry* e);
    void Remove(Entry* e);
  };

  void Settle(Entry& entry);  // the entry stopped being expected: wake its waiter
  // Drops the oldest entries of `list` while it holds more than `cap`.
  void Trim(List& list, size_t cap);

  const size_t max_kept_;
  mutable std::mutex mu_;  // guards everything below
  std::unordered_map<std::string, Entry> entries_;
  List arrived_;   // entries with a task
  List expected_;  // entries without one
};

}  // namespace taskmill::client
