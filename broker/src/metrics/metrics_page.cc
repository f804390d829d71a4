#include "metrics/metrics_page.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <sstream>

#include "taskmill/shared/version.h"

namespace taskmill::broker {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

MetricFamily Family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void Add(MetricFamily& f, Labels labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

// Queue-wide series, from the store's stats.
void AddQueueFamilies(const std::vector<QueueCounters>& queues, std::vector<MetricFamily>& out) {
  auto tasks = Family("taskmill_queue_tasks", "Tasks of the queue by state, in the store",
                      MetricType::Gauge);
  auto backlog = Family("taskmill_queue_backlog",
                        "Ready plus running tasks of the queue: the autoscaling signal",
                        MetricType::Gauge);
  auto submitted = Family("taskmill_tasks_submitted_total", "Tasks submitted to the queue",
                          MetricType::Counter);
  auto finished = Family("taskmill_tasks_finished_total",
                         "Tasks that reached a final state, by that state", MetricType::Counter);
  auto retries = Family("taskmill_task_retries_total", "Failed attempts scheduled again",
                        MetricType::Counter);
  auto stale = Family("taskmill_stale_results_total",
                      "Results refused for a stale fencing token (a lease that had moved on)",
                      MetricType::Counter);
  auto cost = Family("taskmill_cost_total",
                     "Costs reported by finished attempts, summed by cost name (at most 16 "
                     "names per queue, the rest as name=\"other\")",
                     MetricType::Counter);
  auto limit_running = Family("taskmill_queue_limit_running",
                              "Leases counted against the queue's concurrency cap (taskmill "
                              "queue limit; only queues with limits)",
                              MetricType::Gauge);
  auto throttled = Family("taskmill_queue_throttled_total",
                          "Ready tasks a claim passed over because of the queue's rate, "
                          "concurrency or cost-rate limit (counted per claim)",
                          MetricType::Counter);
  auto paused = Family("taskmill_queue_paused",
                       "1 while the queue is paused (taskmill queue pause): its tasks stay "
                       "queued and none is leased",
                       MetricType::Gauge);
  for (const auto& c : queues) {
    const auto& s = c.stats;
    auto q = [&](Labels extra = {}) {
      Labels l = {{"queue", s.queue}};
      l.insert(l.end(), extra.begin(), extra.end());
      return l;
    };
    for (auto [state, n] : {std::pair{"ready", s.ready}, std::pair{"delayed", s.delayed},
                            std::pair{"blocked", c.blocked}, std::pair{"running", s.running},
                            std::pair{"awaiting", c.awaiting}, std::pair{"dead", s.dead}}) {
      Add(tasks, q({{"state", state}}), static_cast<double>(n));
    }
    Add(backlog, q(), static_cast<double>(s.ready + s.running));
    Add(paused, q(), s.paused ? 1.0 : 0.0);
    Add(submitted, q(), static_cast<double>(s.submitted));
    for (auto [state, n] : {std::pair{"succeeded", s.succeeded}, std::pair{"failed", s.failed},
                            std::pair{"cancelled", s.cancelled},
                            std::pair{"expired", s.expired}}) {
      Add(finished, q({{"state", state}}), static_cast<double>(n));
    }
    Add(retries, q(), static_cast<double>(s.retried));
    Add(stale, q(), static_cast<double>(c.stale));
    if (!s.limit.empty()) {
      Add(limit_running, q(), static_cast<double>(s.limit_running));
      Add(throttled, q(), static_cast<double>(s.throttled));
    }
    // s.cost is a sorted map: the first names keep their own series, the rest add up.
    size_t named = 0;
    double other = 0;
    bool has_other = false;
    for (const auto& [name, value] : s.cost) {
      if (named < kMaxCostNamesPerQueue && name != "other") {
        Add(cost, q({{"name", name}}), value);
        ++named;
      } else {
        other += value;
        has_other = true;
      }
    }
    if (has_other) Add(cost, q({{"name", "other"}}), other);
  }
  for (auto* f : {&tasks, &backlog, &submitted, &finished, &retries, &stale, &cost,
                  &limit_running, &throttled, &paused}) {
    out.push_back(std::move(*f));
  }
}

void AddBrokerFamilies(const std::string& broker, const ReactorSnapshot& s, double turn_age,
                       bool store_readable, std::vector<MetricFamily>& out) {
  Labels b = {{"broker", broker}};
  auto one = [&](std::string name, std::string help, MetricType type, double value) {
    auto f = Family(std::move(name), std::move(help), type);
    Add(f, b, value);
    out.push_back(std::move(f));
  };
  auto info = Family("taskmill_broker_info", "Always 1; the labels name the broker's version",
                     MetricType::Gauge);
  Add(info, {{"broker", broker}, {"version", kVersionString}}, 1);
  out.push_back(std::move(info));
  one("taskmill_workers", "Workers registered with this broker", MetricType::Gauge,
      static_cast<double>(s.workers));
  auto slots = Family("taskmill_worker_slots",
                      "Slots of this broker's workers: busy (running or being claimed for) "
                      "or free",
                      MetricType::Gauge);
  Add(slots, {{"broker", broker}, {"state", "busy"}}, static_cast<double>(s.slots_busy));
  Add(slots, {{"broker", broker}, {"state", "free"}}, static_cast<double>(s.slots_free));
  out.push_back(std::move(slots));
  one("taskmill_broker_bad_frames_total",
      "Frames refused by the decoder or as out of place (client and worker sockets)",
      MetricType::Counter, static_cast<double>(s.bad_frames));
  one("taskmill_broker_wrong_port_total",
      "Client requests on the worker port and worker messages on the client port (each "
      "answered with the right endpoint; also in bad_frames)",
      MetricType::Counter, static_cast<double>(s.wrong_port));
  one("taskmill_broker_bad_request_ids_total",
      "SUBMITs and BATCHes refused for their request_id (empty is none; 1 to 64 printable "
      "ASCII bytes)",
      MetricType::Counter, static_cast<double>(s.bad_request_ids));
  one("taskmill_broker_bad_limits_total",
      "LIMIT requests refused for a setting that cannot be parsed (the reply says why)",
      MetricType::Counter, static_cast<double>(s.bad_limits));
  one("taskmill_broker_bad_list_requests_total",
      "LIST and UPDATE requests refused by their checks (an unknown state, a limit out of "
      "range, a cursor not given by a broker, an unknown op; the reply says what is allowed)",
      MetricType::Counter, static_cast<double>(s.bad_lists));
  one("taskmill_broker_bad_admin_total",
      "QUEUE and WORKER requests refused: a bad queue name or worker id, or a worker no live "
      "broker knows (the reply says why)",
      MetricType::Counter, static_cast<double>(s.bad_admin));
  one("taskmill_broker_request_replays_total",
      "Resent SUBMITs and BATCHes (a request_id seen before) answered with the first reply's "
      "ids; nothing stored again",
      MetricType::Counter, static_cast<double>(s.request_replays));
  one("taskmill_schedules", "Periodic schedules in the store (paused ones too), as this "
      "broker's ticker last read them", MetricType::Gauge, static_cast<double>(s.schedules));
  one("taskmill_schedule_ticks_fired_total",
      "Schedule ticks this broker claimed and stored a task for (sum over brokers: the "
      "cluster's)",
      MetricType::Counter, static_cast<double>(s.schedule_ticks_fired));
  one("taskmill_schedule_ticks_missed_total",
      "Schedule ticks that fell while no broker ran (more than --schedule-grace late), as "
      "found by this broker: skipped, or folded into one catch-up run",
      MetricType::Counter, static_cast<double>(s.schedule_ticks_missed));
  one("taskmill_schedule_tick_claims_lost_total",
      "Schedule tick claims another broker won first (normal with several brokers)",
      MetricType::Counter, static_cast<double>(s.schedule_ticks_lost));
  one("taskmill_broker_curve_refused_total", "CURVE handshakes refused (key not allowed)",
      MetricType::Counter, static_cast<double>(s.curve_refused));
  one("taskmill_broker_curve_allowed_total", "CURVE handshakes admitted", MetricType::Counter,
      static_cast<double>(s.curve_allowed));
  one("taskmill_broker_tasks_dispatched_total", "TASK messages sent to workers",
      MetricType::Counter, static_cast<double>(s.tasks_dispatched));
  one("taskmill_broker_workers_lost_total", "Workers declared dead after missed heartbeats",
      MetricType::Counter, static_cast<double>(s.workers_lost));
  one("taskmill_broker_stale_results_total", "Results this broker saw fenced off as stale",
      MetricType::Counter, static_cast<double>(s.stale_results));
  one("taskmill_broker_progress_received_total",
      "PROGRESS reports past fencing (before the per-task throttle)", MetricType::Counter,
      static_cast<double>(s.progress_received));
  one("taskmill_broker_progress_coalesced_total",
      "PROGRESS reports replaced by a later one of the same task within the throttle interval "
      "(never stored nor published)",
      MetricType::Counter, static_cast<double>(s.progress_coalesced));
  one("taskmill_broker_progress_stored_total", "PROGRESS reports written on task records",
      MetricType::Counter, static_cast<double>(s.progress_stored));
  one("taskmill_broker_stale_progress_total",
      "PROGRESS reports of an attempt the sender no longer holds (wrong token), dropped",
      MetricType::Counter, static_cast<double>(s.stale_progress));
  one("taskmill_broker_redis_used_memory_bytes",
      "Redis's used_memory at the broker's last reading (every 500 ms)", MetricType::Gauge,
      static_cast<double>(s.redis_used_bytes));
  one("taskmill_broker_redis_maxmemory_bytes", "Redis's maxmemory (0: no limit)",
      MetricType::Gauge, static_cast<double>(s.redis_max_bytes));
  one("taskmill_broker_submits_refused_store_full_total",
      "SUBMITs and BATCHes refused with store_full because Redis was near its maxmemory "
      "(--store-full-headroom-percent)",
      MetricType::Counter, static_cast<double>(s.submits_refused_store_full));
  one("taskmill_broker_redis_connected", "1 while the reactor's Redis connection is ready",
      MetricType::Gauge, s.redis_ready ? 1 : 0);
  one("taskmill_broker_store_readable",
      "1 when this scrape could read the queue figures from Redis", MetricType::Gauge,
      store_readable ? 1 : 0);
  one("taskmill_broker_draining", "1 while the broker is stopping", MetricType::Gauge,
      s.draining ? 1 : 0);
  one("taskmill_broker_reactor_last_turn_age_seconds",
      "Seconds since the reactor thread last finished a turn", MetricType::Gauge, turn_age);
  // Brokers as one: this broker's bus (per broker), then the registry (every broker).
  auto id = Family("taskmill_broker_id_info",
                   "Always 1; broker_id is the id this broker has in the registry (--broker-id)",
                   MetricType::Gauge);
  Add(id, {{"broker", broker}, {"broker_id", s.broker_id}}, 1);
  out.push_back(std::move(id));
  one("taskmill_broker_bus_subscribed",
      "1 while this broker's bus connection is subscribed (cross-broker events)",
      MetricType::Gauge, s.bus_subscribed ? 1 : 0);
  one("taskmill_broker_bus_events_sent_total",
      "Task and batch outcomes this broker sent to other brokers that watch them",
      MetricType::Counter, static_cast<double>(s.bus_events_sent));
  one("taskmill_broker_bus_events_received_total",
      "Task and batch outcomes this broker received from other brokers", MetricType::Counter,
      static_cast<double>(s.bus_events_received));
  one("taskmill_broker_bus_bad_messages_total", "Bus payloads this broker could not decode",
      MetricType::Counter, static_cast<double>(s.bus_bad_messages));
  one("taskmill_broker_bus_resubscribes_total",
      "Bus (re)subscriptions, each followed by a re-read of what is watched",
      MetricType::Counter, static_cast<double>(s.bus_resubscribes));
  auto up = Family("taskmill_cluster_broker_up",
                   "1 for every live broker in the registry (all brokers on this Redis)",
                   MetricType::Gauge);
  for (const auto& id_of : s.live_brokers) Add(up, {{"broker_id", id_of}}, 1);
  out.push_back(std::move(up));
  auto workers = Family("taskmill_cluster_worker_slots",
                        "Slots of every worker of every live broker (registry): busy or free",
                        MetricType::Gauge);
  for (const auto& w : s.cluster_workers) {
    double busy = std::min(w.in_flight, w.concurrency);
    Add(workers, {{"broker_id", w.broker_id}, {"worker", w.id}, {"state", "busy"}}, busy);
    Add(workers, {{"broker_id", w.broker_id}, {"worker", w.id}, {"state", "free"}},
        static_cast<double>(w.concurrency) - busy);
  }
  out.push_back(std::move(workers));
  auto quiet = Family("taskmill_cluster_worker_quiet",
                      "1 for every worker of every live broker that is quiet (taskmill worker "
                      "quiet: it finishes its tasks and is leased nothing new)",
                      MetricType::Gauge);
  for (const auto& w : s.cluster_workers) {
    if (w.quiet) Add(quiet, {{"broker_id", w.broker_id}, {"worker", w.id}}, 1);
  }
  out.push_back(std::move(quiet));
}

}  // namespace

std::string RenderMetricsPage(const std::string& broker, const ReactorSnapshot& snapshot,
                              double turn_age_seconds,
                              const Result<std::vector<QueueCounters>>& queues,
                              std::vector<MetricFamily> measured) {
  std::vector<MetricFamily> families;
  if (queues) AddQueueFamilies(*queues, families);
  AddBrokerFamilies(broker, snapshot, turn_age_seconds, queues.has_value(), families);
  for (auto& f : measured) families.push_back(std::move(f));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace taskmill::broker
