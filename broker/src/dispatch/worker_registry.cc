#include "dispatch/worker_registry.h"

#include <algorithm>

namespace taskmill::broker {

bool WorkerState::Serves(const std::string& queue) const {
  return std::find(queues.begin(), queues.end(), queue) != queues.end();
}

bool WorkerState::ServesType(const std::string& type) const {
  return types.empty() || std::find(types.begin(), types.end(), type) != types.end();
}

std::optional<WorkerState> WorkerRegistry::Register(const std::string& identity,
                                                    const protocol::Ready& ready, int64_t now_ms) {
  std::optional<WorkerState> replaced;
  served_stale_ = true;
  if (auto it = identity_by_id_.find(ready.worker_id);
      it != identity_by_id_.end() && it->second != identity) {
    replaced = Remove(it->second);
  }
  WorkerState& w = by_identity_[identity];
  if (w.identity.empty()) {
    w.identity = identity;
  } else if (w.id != ready.worker_id) {
    identity_by_id_.erase(w.id);
  }
  w.id = ready.worker_id;
  w.queues = ready.queues;
  if (w.queues.empty()) w.queues.push_back(protocol::kDefaultQueue);
  w.types = ready.types;
  w.concurrency = std::max<uint32_t>(ready.concurrency, 1);
  w.labels = ready.labels;
  w.last_seen_ms = now_ms;
  w.draining = false;
  w.idle = false;
  identity_by_id_[w.id] = identity;
  return replaced;
}

WorkerState* WorkerRegistry::Find(const std::string& identity) {
  auto it = by_identity_.find(identity);
  return it == by_identity_.end() ? nullptr : &it->second;
}

WorkerState* WorkerRegistry::FindById(const std::string& worker_id) {
  auto it = identity_by_id_.find(worker_id);
  return it == identity_by_id_.end() ? nullptr : Find(it->second);
}

const WorkerState* WorkerRegistry::FindById(const std::string& worker_id) const {
  auto it = identity_by_id_.find(worker_id);
  if (it == identity_by_id_.end()) return nullptr;
  auto w = by_identity_.find(it->second);
  return w == by_identity_.end() ? nullptr : &w->second;
}

void WorkerRegistry::Touch(const std::string& identity, int64_t now_ms) {
  if (auto* w = Find(identity)) w->last_seen_ms = now_ms;
}

std::optional<WorkerState> WorkerRegistry::Remove(const std::string& identity) {
  auto it = by_identity_.find(identity);
  if (it == by_identity_.end()) return std::nullopt;
  WorkerState w = std::move(it->second);
  by_identity_.erase(it);
  served_stale_ = true;  // what it served may be served by no one now
  if (auto id_it = identity_by_id_.find(w.id);
      id_it != identity_by_id_.end() && id_it->second == identity) {
    identity_by_id_.erase(id_it);
  }
  return w;
}

std::vector<WorkerState> WorkerRegistry::TakeSilentSince(int64_t deadline_ms) {
  std::vector<std::string> silent;
  for (const auto& [identity, w] : by_identity_) {
    if (w.last_seen_ms < deadline_ms) silent.push_back(identity);
  }
  std::vector<WorkerState> out;
  for (const auto& identity : silent) {
    if (auto w = Remove(identity)) out.push_back(std::move(*w));
  }
  return out;
}

std::vector<WorkerState*> WorkerRegistry::All() {
  std::vector<WorkerState*> out;
  out.reserve(by_identity_.size());
  for (auto& [identity, w] : by_identity_) out.push_back(&w);
  return out;
}

bool WorkerRegistry::NoneBusy() const {
  for (const auto& [identity, w] : by_identity_) {
    if (!w.in_flight.empty() || w.claiming > 0) return false;
  }
  return true;
}

bool WorkerRegistry::AnyServes(const std::string& queue, const std::string& type) const {
  if (served_stale_) IndexServed();
  if (any_type_queues_.contains(queue)) return true;
  std::string key;
  key.reserve(queue.size() + 1 + type.size());
  key.append(queue).push_back('\0');
  key.append(type);
  return served_.contains(key);
}

void WorkerRegistry::IndexServed() const {
  served_.clear();
  any_type_queues_.clear();
  for (const auto& [identity, w] : by_identity_) {
    for (const auto& q : w.queues) {
      if (w.types.empty()) {
        any_type_queues_.insert(q);
        continue;
      }
      for (const auto& t : w.types) served_.insert(q + '\0' + t);
    }
  }
  served_stale_ = false;
}

bool WorkerRegistry::SetQuiet(const std::string& worker_id, bool quiet) {
  WorkerState* w = FindById(worker_id);
  if (w == nullptr) return false;
  w->quiet = quiet;
  ++w->quiet_changes;
  if (!quiet) w->Wake();
  return true;
}

void WorkerRegistry::WakeQueue(const std::string& queue) {
  for (auto& [identity, w] : by_identity_) {
    if (queue.empty() || w.Serves(queue)) w.Wake();
  }
}

void WorkerRegistry::WakeFor(const std::vector<ReadyTasks>& ready) {
  std::vector<WorkerState*> serving;
  for (const auto& group : ready) {
    serving.clear();
    for (auto& [identity, w] : by_identity_) {
      if (!w.draining && !w.quiet && w.Serves(group.queue) && w.ServesType(group.type)) {
        serving.push_back(&w);
      }
    }
    std::sort(serving.begin(), serving.end(), [](const WorkerState* a, const WorkerState* b) {
      if (a->idle != b->idle) return !a->idle;
      if (a->UnpromisedSlots() != b->UnpromisedSlots()) {
        return a->UnpromisedSlots() > b->UnpromisedSlots();
      }
      return a->id < b->id;
    });
    uint32_t left = group.count;
    for (WorkerState* w : serving) {
      if (left == 0) break;
      uint32_t take = std::min(w->UnpromisedSlots(), left);
      if (take == 0) continue;
      w->promised += take;
      left -= take;
      w->Wake();
    }
    if (left > 0) {
      for (WorkerState* w : serving) w->Wake();
    }
  }
}

std::vector<protocol::WorkerInfo> WorkerRegistry::Describe() const {
  std::vector<protocol::WorkerInfo> out;
  for (const auto& [identity, w] : by_identity_) {
    out.push_back({w.id, w.queues, w.types, w.concurrency,
                   static_cast<uint32_t>(w.in_flight.size()), w.labels, "", w.quiet});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

WorkerRegistry::SlotCounts WorkerRegistry::CountSlots() const {
  SlotCounts c;
  for (const auto& [identity, w] : by_identity_) {
    uint32_t free = w.FreeSlots();
    c.free += free;
    c.busy += w.concurrency - free;
  }
  return c;
}

std::vector<protocol::WorkerInfo> WorkerRegistry::DescribePage(const std::string& after,
                                                               size_t limit,
                                                               size_t max_label_bytes,
                                                               bool& more) const {
  std::vector<const WorkerState*> after_cursor;
  for (const auto& [identity, w] : by_identity_) {
    if (w.id > after) after_cursor.push_back(&w);
  }
  size_t n = std::min(limit, after_cursor.size());
  std::partial_sort(after_cursor.begin(), after_cursor.begin() + static_cast<ptrdiff_t>(n),
                    after_cursor.end(),
                    [](const WorkerState* a, const WorkerState* b) { return a->id < b->id; });
  more = after_cursor.size() > n;
  std::vector<protocol::WorkerInfo> out;
  for (size_t i = 0; i < n; ++i) {
    const WorkerState& w = *after_cursor[i];
    protocol::Labels labels;
    size_t bytes = 0;
    for (const auto& [k, v] : w.labels) {
      if (bytes + k.size() + v.size() > max_label_bytes) break;
      bytes += k.size() + v.size();
      labels.emplace(k, v);
    }
    out.push_back({w.id, w.queues, w.types, w.concurrency,
                   static_cast<uint32_t>(w.in_flight.size()), std::move(labels), "", w.quiet});
  }
  return out;
}

}  // namespace taskmill::broker
