#pragma once

// `taskmill stats --watch`: the stats view redrawn every interval, until Ctrl-C or --count
// frames. On a terminal each frame is drawn over the last (cursor home, lines cleared);
// elsewhere frames follow one another as plain text without escape codes (with --json, one
// compact JSON document per line).

#include <cstdint>
#include <functional>
#include <string>

#include "cli/cli.h"
#include "taskmill/client/client.h"
#include "taskmill/shared/clock.h"

namespace taskmill::client::cli {

struct WatchOptions {
  int64_t interval_ms = 1000;  // between the starts of two frames
  uint32_t count = 0;          // frames to show, then exit 0; 0: until interrupted
  int64_t give_up_ms = 30000;  // broker unreachable this long in a row: exit 3
};

// One STATS round trip.
using StatsFetch = std::function<Result<StatsReply>()>;
// Waits up to `ms`; returns false when the watch must stop now (Ctrl-C).
using WatchWait = std::function<bool(int64_t ms)>;

// The loop, with its I/O and clock injected so unit tests drive it without a broker, signals
// or real time (FakeClock): MonotonicMs times rates and the give-up, NowMs the header.
// Returns the exit code: 0 after --count frames or an interrupt, 3 after give_up_ms of an
// unreachable broker, the error's code for any other failure (e.g. a refused CURVE key).
int WatchStats(Context& ctx, const WatchOptions& options, const StatsFetch& fetch,
               const WatchWait& wait, const Clock& clock);

// Finished tasks (succeeded + failed + cancelled) and submissions per second between two
// replies `elapsed_ms` apart, as "rate: 12.5 submitted/s, 11.0 finished/s".
std::string RateLine(const StatsReply& before, const StatsReply& after, int64_t elapsed_ms);

// Runs WatchStats with SystemClock; SIGINT/SIGTERM end it cleanly (the handlers are
// restored on return; a second Ctrl-C kills at once).
int RunStatsWatch(Context& ctx, const WatchOptions& options, const StatsFetch& fetch);

}  // namespace taskmill::client::cli
