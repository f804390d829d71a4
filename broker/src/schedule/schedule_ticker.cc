#include "schedule/schedule_ticker.h"

#include "schedule/tick_clock.h"
#include "taskmill/shared/log.h"

namespace taskmill::broker {
namespace {

auto Log() {
  static auto log = Logger("broker.schedules");
  return log;
}

// Cron schedules' missed ticks are counted one by one up to this many (every ones exactly).
constexpr uint64_t kMaxCountedMisses = 10000;

}  // namespace

ScheduleTicker::ScheduleTicker(Store& store, TaskLifecycle& lifecycle, const Clock& clock,
                               BrokerCounters& counters, TickerOptions options)
    : store_(store), lifecycle_(lifecycle), clock_(clock), counters_(counters), options_(options) {}

Result<ScheduleTicker::Plan> ScheduleTicker::PlanTick(const protocol::ScheduleInfo& s,
                                                      int64_t now_ms, int64_t grace_ms) {
  Plan p;
  int64_t due = s.next_run_ms;
  int64_t cutoff = now_ms - grace_ms;
  p.claim.name = s.name;
  p.claim.expect_ms = due;
  if (due >= cutoff) {
    // On time: this tick, then the next one.
    auto next = TickClock::NextTick(s, due);
    if (!next) return std::unexpected(next.error());
    p.claim.at_ms = due;
    p.claim.next_ms = *next;
  } else {
    // Every tick before the cutoff fell while no broker ran: missed. The schedule moves on
    // to its first tick at or after the cutoff (which may be due now, and runs on time).
    uint64_t count = 0;
    int64_t last = due;
    int64_t t = due;
    if (s.cron.empty()) {
      auto every = static_cast<int64_t>(s.every_ms);
      count = static_cast<uint64_t>((cutoff - 1 - due) / every) + 1;
      last = due + static_cast<int64_t>(count - 1) * every;
      t = last + every;
    } else {
      while (t < cutoff && count < kMaxCountedMisses) {
        last = t;
        ++count;
        auto next = TickClock::NextTick(s, t);
        if (!next) return std::unexpected(next.error());
        t = *next;
      }
      if (t < cutoff) {
        auto next = TickClock::NextTick(s, cutoff - 1);
        if (!next) return std::unexpected(next.error());
        t = *next;
      }
    }
    p.claim.at_ms = last;
    p.claim.next_ms = t;
    p.claim.missed = count;
    p.claim.fire = s.catch_up == "once";
  }
  p.spec = s.task;
  p.spec.idempotency_key = "sched:" + s.name + ":" + std::to_string(p.claim.at_ms);
  p.spec.labels["schedule"] = s.name;
  p.spec.labels["schedule_tick_ms"] = std::to_string(p.claim.at_ms);
  if (p.claim.missed > 0) p.spec.labels["schedule_catch_up"] = "once";
  return p;
}

void ScheduleTicker::OnTick() {
  if (reading_ || claiming_ > 0 || !store_.ready()) return;
  reading_ = true;
  store_.ScheduleDue(options_.due_per_read, [this](Result<ScheduleListing> r) {
    reading_ = false;
    if (!r) {
      Log()->debug("reading due schedules failed: {}", r.error().message);
      return;
    }
    schedules_ = r->total;
    counters_.schedules = r->total;
    int64_t now = clock_.NowMs();
    for (const auto& s : r->items) Claim(s, now);
  });
}

void ScheduleTicker::Claim(const StoredSchedule& s, int64_t now_ms) {
  auto plan = PlanTick(s.info, now_ms, options_.grace_ms);
  if (!plan) {
    ++counters_.schedule_errors;
    Log()->warn("schedule '{}' cannot tick: {}", s.info.name, plan.error().message);
    return;
  }
  ++claiming_;
  uint64_t missed = plan->claim.missed;
  std::string name = s.info.name;
  int64_t at = plan->claim.at_ms;
  lifecycle_.SubmitTick(
      std::move(plan->spec), s.owner, plan->claim,
      [this, missed, name, at](Result<TickOutcome> r) {
        --claiming_;
        if (!r) {
          Log()->debug("schedule '{}' tick {} not claimed: {}", name, at, r.error().message);
          return;
        }
        switch (r->status) {
          case TickStatus::kClaimed:
            ++counters_.schedule_ticks_fired;
            counters_.schedule_ticks_missed += missed;
            Log()->debug("schedule '{}' tick {}: task {}", name, at, r->task_id);
            break;
          case TickStatus::kSkipped:
            counters_.schedule_ticks_missed += missed;
            Log()->info("schedule '{}': {} missed tick(s) skipped (catch_up skip)", name, missed);
            break;
          case TickStatus::kFull:
            counters_.schedule_ticks_missed += missed + 1;
            Log()->warn("schedule '{}' tick {}: its queue is full; tick missed", name, at);
            break;
          case TickStatus::kLost:
            ++counters_.schedule_ticks_lost;
            break;
        }
      });
}

}  // namespace taskmill::broker
