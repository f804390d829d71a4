#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "store/store_types.h"
#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/messages.h"

namespace taskmill::broker::bus {

// What brokers tell each other over Redis pub/sub (docs/architecture.md, "Brokers as one").
// Two kinds of channel: `<prefix>bus` (every broker: who watches what) and
// `<prefix>bus:<broker id>` (one broker's inbox: outcomes of what it watches). Every payload
// is one msgpack array of messages; each message is an array whose first item names it.
// Decoding is a trust boundary of sorts (anything on the Redis server can PUBLISH): it is
// bounded, never throws, and a bad payload is an error, not a crash.

// ---- on `<prefix>bus` ----
// "broker `broker` watches these tasks (WAIT, RESULT notify) and batches (SUBSCRIBE)".
struct Watch {
  std::string broker;
  std::vector<std::string> tasks;
  std::vector<std::string> batches;
};
// "broker `broker` (re)subscribed: tell it again everything you watch".
struct Hello {
  std::string broker;
};
// "an admin changed `what` of `name`": queue_resumed (wake the workers serving it),
// worker_quiet / worker_unquiet (a worker connected here stops, or starts again, taking work).
// Redis holds the state itself (queue_pause.lua, worker_quiet.lua): this only makes every
// broker act at once instead of at its next read.
struct Admin {
  std::string broker;
  std::string what;
  std::string name;
};
using CtlMessage = std::variant<Watch, Hello, Admin>;

// ---- on `<prefix>bus:<id>` ----
struct Ended {  // a task reached a terminal state (TaskEnded)
  std::string task_id;
};
struct Started {  // an attempt went out to its worker (TaskStarted)
  std::string batch_id;
  std::string task_id;
  std::string name;
  uint32_t attempt = 0;
};
struct Progressed {  // PROGRESS from the worker
  std::string task_id;
  double fraction = 0;
  std::string message;
};
// An attempt ended, or a task expired (TaskFinished); `done`: only what events use of it.
struct Finished {
  FinishOutcome outcome;
  std::optional<protocol::Done> done;  // task_id, cost, error
};
struct Cancelled {  // a task not running was cancelled (TaskCancelled)
  std::string task_id;
  std::string reason;
};
struct BatchChanged {  // a batch's aggregate state (BatchesChanged)
  protocol::BatchStatus batch;
};
using Event = std::variant<Ended, Started, Progressed, Finished, Cancelled, BatchChanged>;

// Most messages one payload may hold, and most ids per list; past them decoding fails.
inline constexpr size_t kMaxMessages = 100'000;
inline constexpr size_t kMaxPayloadBytes = 64u << 20;

std::string EncodeCtl(const std::vector<CtlMessage>& msgs);
Result<std::vector<CtlMessage>> DecodeCtl(std::string_view payload);
std::string EncodeEvents(const std::vector<Event>& events);
Result<std::vector<Event>> DecodeEvents(std::string_view payload);

}  // namespace taskmill::broker::bus
