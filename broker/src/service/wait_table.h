#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace taskmill::broker {

// Clients blocked in WAIT: which tasks each still waits for and until when.
// Pure bookkeeping (no I/O), so the rules are unit-testable.
// Thread: the reactor thread. Owner: ClientService.
class WaitTable {
 public:
  struct Waiter {
    std::string identity;  // client to answer
    uint64_t req_id = 0;
    std::vector<std::string> ids;             // every id asked about, in order
    std::unordered_set<std::string> pending;  // ids not yet terminal
    int64_t deadline_ms = 0;                  // monotonic
    std::string owner;                        // the answer shows only tasks it owns ("" = all)
    bool progress = false;  // true iff the client asked for its tasks' progress (WAIT progress)
  };

  // Adds a waiter for `pending` (a subset of ids); returns its key.
  uint64_t Add(Waiter w);
  // A task became terminal: returns the waiters that now have nothing pending (removed).
  std::vector<Waiter> OnTerminal(const std::string& task_id);
  // Removes and returns every waiter whose deadline is at or before now.
  std::vector<Waiter> TakeExpired(int64_t now_ms);
  // Removes and returns every waiter of one client (it went away).
  std::vector<Waiter> TakeIdentity(const std::string& identity);
  // The clients waiting on `task_id` that asked for its progress (each once).
  std::vector<std::string> ProgressWatchers(const std::string& task_id) const;
  // Ids still pending across all waiters (for a periodic re-check).
  std::vector<std::string> PendingIds() const;
  size_t size() const { return waiters_.size(); }

 private:
  Waiter Take(uint64_t key);

  uint64_t next_key_ = 1;
  std::unordered_map<uint64_t, Waiter> waiters_;
  std::unordered_multimap<std::string, uint64_t> by_task_;  // task id -> waiter keys
  std::multimap<int64_t, uint64_t> by_deadline_;            // deadline -> waiter key
  size_t progress_waiters_ = 0;  // waiters with progress set (none: ProgressWatchers is O(1))
};

}  // namespace taskmill::broker
