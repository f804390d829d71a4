#include "service/stats_pages.h"

#include <algorithm>
#include <memory>

#include "cluster/broker_directory.h"
#include "dispatch/worker_registry.h"

namespace taskmill::broker {

struct StatsPages::Page {
  bool queues = false;   // true iff the "queues" section was asked for
  bool workers = false;  // true iff the "workers" section was asked for
  uint32_t limit = kDefaultLimit;
  protocol::Reply reply;
};

StatsPages::StatsPages(BrokerContext& ctx, std::function<Store&()> reads,
                       std::function<protocol::BrokerStats()> broker_section)
    : ctx_(ctx), reads_(std::move(reads)), broker_section_(std::move(broker_section)) {}

namespace {

Error Invalid(std::string message) { return Error{ErrorCode::kInvalidArgument, std::move(message)}; }

size_t WorkerBytes(const protocol::WorkerInfo& w) {
  size_t n = 64 + w.id.size();
  for (const auto& q : w.queues) n += q.size() + 2;
  for (const auto& t : w.types) n += t.size() + 2;
  for (const auto& [k, v] : w.labels) n += k.size() + v.size() + 4;
  return n;
}

}  // namespace

void StatsPages::AddWorkers(Page& page, const std::string& after, uint32_t room) const {
  bool more = false;
  auto workers =
      ctx_.workers.DescribePage(after, room, kMaxLabelBytesShown, more);
  for (auto& w : workers) w.broker = ctx_.directory.id();
  // The other brokers' workers (the registry, as last read): merged by id, one page of both.
  bool more_remote = false;
  for (auto& w : ctx_.directory.OtherWorkers()) {
    if (w.id <= after) continue;
    if (workers.size() >= room + static_cast<size_t>(1)) {
      more_remote = true;
      break;
    }
    workers.push_back(std::move(w));
  }
  std::sort(workers.begin(), workers.end(),
            [](const protocol::WorkerInfo& a, const protocol::WorkerInfo& b) {
              return a.id < b.id;
            });
  if (workers.size() > room) {
    workers.resize(room);
    more = true;
  }
  more = more || more_remote;
  size_t bytes = 0;
  for (auto& w : workers) {
    size_t b = WorkerBytes(w);
    if (!page.reply.workers.empty() && bytes + b > kMaxPageBytes) {
      more = true;
      break;
    }
    bytes += b;
    page.reply.workers.push_back(std::move(w));
  }
  if (more) {
    page.reply.next_cursor =
        "w:" + (page.reply.workers.empty() ? after : page.reply.workers.back().id);
  }
}

void StatsPages::Answer(const protocol::Stats& stats, Done done) {
  auto page = std::make_shared<Page>();  // co-owned by the store callback below
  if (stats.sections.empty()) {
    page->queues = page->workers = true;
  }
  bool broker = stats.sections.empty();
  for (const auto& s : stats.sections) {
    if (s == "queues") {
      page->queues = true;
    } else if (s == "workers") {
      page->workers = true;
    } else if (s == "broker") {
      broker = true;
    } else {
      return done(std::unexpected(
          Invalid("sections: unknown section '" + s + "' (known: queues, workers, broker)")));
    }
  }
  if (stats.queues.size() > kMaxNamedQueues) {
    return done(std::unexpected(Invalid("queues: " + std::to_string(stats.queues.size()) +
                                        " names is over the limit of " +
                                        std::to_string(kMaxNamedQueues) +
                                        " per STATS (leave it empty to page through all)")));
  }
  page->limit = stats.limit == 0 ? kDefaultLimit : std::min(stats.limit, kDefaultLimit);
  // Where this page starts: the first asked-for section, or where the cursor points.
  bool in_queues = page->queues;
  std::string after;
  if (!stats.cursor.empty()) {
    if (stats.cursor.starts_with("q:") && page->queues) {
      in_queues = true;
    } else if (stats.cursor.starts_with("w:") && page->workers) {
      in_queues = false;
    } else {
      return done(std::unexpected(
          Invalid("cursor: '" + stats.cursor.substr(0, 64) +
                  "' is not a cursor of these sections (pass back a reply's next_cursor)")));
    }
    after = stats.cursor.substr(2);
  } else if (broker) {
    page->reply.broker = broker_section_();
  }

  if (!in_queues) {
    if (page->workers) AddWorkers(*page, after, page->limit);
    return done(std::move(page->reply));
  }
  auto finish_queues = [this, page](std::vector<QueueCounters> queues, std::string next) {
    for (auto& q : queues) page->reply.queues.push_back(std::move(q.stats));
    if (!next.empty()) {
      page->reply.next_cursor = "q:" + next;
    } else if (page->workers) {
      uint32_t used = static_cast<uint32_t>(page->reply.queues.size());
      if (used >= page->limit) {
        page->reply.next_cursor = "w:";
      } else {
        AddWorkers(*page, "", page->limit - used);
      }
    }
  };
  if (!stats.queues.empty()) {
    reads_().Stats(stats.queues, [page, done, finish_queues](Result<std::vector<QueueCounters>> r) {
      if (!r) return done(std::unexpected(r.error()));
      finish_queues(std::move(*r), "");
      done(std::move(page->reply));
    });
    return;
  }
  reads_().StatsPage(after, page->limit, [page, done, finish_queues](Result<StatsPage> r) {
    if (!r) return done(std::unexpected(r.error()));
    if (page->reply.broker) page->reply.broker->queues = r->known;
    finish_queues(std::move(r->queues), std::move(r->next_after));
    done(std::move(page->reply));
  });
}

}  // namespace taskmill::broker
