#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "taskmill/shared/protocol/messages.h"

namespace taskmill::broker {

// DONEs from connections that have not registered (sent no READY). A result is recorded only
// as the registered worker that holds the lease, so these wait here: a worker whose link came
// back by itself after a broker restart sends its kept DONEs before it notices and says READY
// on a new link, and its READY moves them on (Take). Nothing here is ever recorded as "any
// worker"; what no READY claims within `hold_ms` is dropped (its lease expires and the task
// runs again). Bounded in count and bytes, so a peer that never registers cannot grow it.
// Thread: the reactor thread. Owner: the WorkerService.
class HeldResults {
 public:
  static constexpr size_t kMaxHeld = 10'000;
  static constexpr uint64_t kMaxHeldBytes = 64u << 20;

  // False (and the DONE dropped) when the caps are reached.
  bool Hold(const std::string& identity, protocol::Done done, int64_t now_ms);
  // The DONEs held for `identity`, oldest first; forgets them.
  std::vector<protocol::Done> Take(const std::string& identity);
  // Drops what has waited longer than `hold_ms`; returns how many.
  size_t Expire(int64_t now_ms, int64_t hold_ms);
  size_t size() const { return count_; }

 private:
  struct Held {
    int64_t since_ms = 0;  // monotonic ms of the first DONE held for this connection
    uint64_t bytes = 0;
    std::vector<protocol::Done> dones;
  };
  static uint64_t SizeOf(const protocol::Done& d);
  std::unordered_map<std::string, Held> by_identity_;
  size_t count_ = 0;    // DONEs held in all
  uint64_t bytes_ = 0;  // their outputs' bytes
};

}  // namespace taskmill::broker
