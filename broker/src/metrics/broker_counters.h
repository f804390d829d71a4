#pragma once

#include <cstdint>

namespace taskmill::broker {

// Counters the broker keeps about itself (exported by STATS, /metrics and the log line).
// Thread: the reactor thread. Owner: Broker::Run; the services and the lifecycle layer hold
// references.
struct BrokerCounters {
  uint64_t bad_frames = 0;        // messages refused by the decoder or as out of place
  uint64_t stale_results = 0;     // DONEs fenced off by the store
  uint64_t tasks_dispatched = 0;  // TASK messages sent
  uint64_t workers_lost = 0;      // workers declared dead by missed heartbeats
  uint64_t peers_dropped = 0;     // clients whose WAITs and subscriptions were dropped (gone,
                                  // or not reading their replies)
  uint64_t forbidden = 0;         // requests and READYs refused for their key's role or binding
  uint64_t unregistered = 0;      // DONEs and PROGRESS from connections that never sent READY
  uint64_t stale_progress = 0;    // PROGRESS of an attempt the sender does not hold (token),
                                  // here or, when it was to be stored, in Redis
  uint64_t bad_progress = 0;      // PROGRESS whose fraction is not a number
  uint64_t progress_received = 0;  // PROGRESS past fencing, before the throttle
  uint64_t progress_coalesced = 0;  // replaced by a later report of the task within the
                                    // throttle interval (never stored nor published)
  uint64_t progress_dropped = 0;    // of a new task while the throttle tracked its maximum
  uint64_t progress_stored = 0;     // written on task records (Redis HSETs)
  uint64_t progress_store_calls = 0;  // progress.lua calls (one per tick at most, and per DONE)
  uint64_t wrong_port = 0;        // client requests on the worker port and worker messages on
                                  // the client port (also in bad_frames), each answered
  uint64_t bad_request_ids = 0;   // SUBMITs and BATCHes refused for their request_id
  uint64_t request_replays = 0;   // SUBMITs and BATCHes whose request_id was seen (a resend):
                                  // answered with the first reply's ids, nothing stored
  uint64_t bad_limits = 0;        // LIMITs refused for a setting that cannot be parsed
  uint64_t bad_lists = 0;         // LISTs and UPDATEs refused by their checks (ValidateList)
  uint64_t bad_admin = 0;         // QUEUE and WORKER requests refused (bad name, unknown worker)
  uint64_t handoff_refused = 0;   // requests and READYs not taken during a SIGTERM hand-off
                                  // (their senders got GOAWAY / MOVE and went elsewhere)
  // Schedules (schedule/schedule_ticker.h): this broker's share of the cluster's ticks.
  uint64_t schedule_ticks_fired = 0;   // ticks this broker claimed and stored a task for
  uint64_t schedule_ticks_missed = 0;  // ticks no broker ran in time, found by this broker
  uint64_t schedule_ticks_lost = 0;    // tick claims another broker won first (normal)
  uint64_t schedule_errors = 0;        // due schedules whose next tick could not be computed
  uint64_t schedule_refused = 0;       // SCHEDULE adds refused (bad cron, tz, every, task)
  uint64_t schedules = 0;              // gauge: schedules in the store at the last round
};

}  // namespace taskmill::broker
