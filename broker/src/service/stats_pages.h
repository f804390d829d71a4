#pragma once

#include <functional>
#include <string>

#include "service/broker_context.h"
#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/messages.h"

namespace taskmill::broker {

// Answers STATS one page at a time, so no reply grows past what the decoders accept
// (docs/protocol-messages.md 8.7). Sections, in page order: "broker" (first page only),
// "queues" (the store's queue index by name, O(1) per queue), "workers" (connected here, by
// id). The cursor is opaque to clients: "q:<last queue>" or "w:<last worker id>".
// Thread: the reactor thread. Owner: ClientService; holds references only.
class StatsPages {
 public:
  // Entries (queues + workers) per page: the default and the most a client may ask for.
  // A page of 200 queues is one ~1 ms script: Redis serves everyone else between pages.
  static constexpr uint32_t kDefaultLimit = 200;
  // Label bytes shown per worker; labels past it are left out of STATS (the worker keeps
  // them), so a worker with huge labels cannot make every page expensive.
  static constexpr size_t kMaxLabelBytesShown = 64u << 10;
  // Estimated encoded bytes of the workers in one page (labels can be large); a page holds
  // at least one worker whatever its size.
  static constexpr size_t kMaxPageBytes = 4u << 20;
  // Queue names a STATS may list explicitly (they come back in one page).
  static constexpr size_t kMaxNamedQueues = 1000;

  using Done = std::function<void(Result<protocol::Reply>)>;

  // `reads` gives the store that serves the reads (the broker's read connection);
  // `broker_section` fills the "broker" section when a first page asks for it.
  StatsPages(BrokerContext& ctx, std::function<Store&()> reads,
             std::function<protocol::BrokerStats()> broker_section);

  // Builds the page `stats` asks for (req_id is the caller's to set); invalid_argument for a
  // malformed cursor, an unknown section or too many queue names.
  void Answer(const protocol::Stats& stats, Done done);

 private:
  struct Page;
  void AddWorkers(Page& page, const std::string& after, uint32_t room) const;

  BrokerContext& ctx_;
  std::function<Store&()> reads_;
  std::function<protocol::BrokerStats()> broker_section_;
};

}  // namespace taskmill::broker
