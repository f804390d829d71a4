#include "result_table.h"

#include <chrono>

namespace taskmill::client {

size_t ResultTable::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

void ResultTable::Settle(Entry& entry) {
  if (entry.waiter == nullptr) return;
  if (--entry.waiter->remaining == 0) entry.waiter->cv.notify_one();
  entry.waiter = nullptr;
}

void ResultTable::Compact(Order& order) {
  Order live;
  for (auto& [seq, id] : order) {
    auto it = entries_.find(id);
    if (it != entries_.end() && it->second.seq == seq) live.emplace_back(seq, std::move(id));
  }
  order.swap(live);
}

void ResultTable::Trim(Order& order, size_t& live, size_t cap) {
  while (live > cap && !order.empty()) {
    auto [seq, id] = std::move(order.front());
    order.pop_front();
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second.seq != seq) continue;  // stale
    Settle(it->second);
    entries_.erase(it);
    --live;
  }
  // Stale elements pile up as entries are taken or arrive; drop them once they dominate.
  if (order.size() > 2 * live + 1024) Compact(order);
}

void ResultTable::Expect(const std::vector<std::string>& ids) {
  std::lock_guard lock(mu_);
  for (const auto& id : ids) {
    if (id.empty() || entries_.contains(id)) continue;
    Entry& e = entries_[id];
    e.seq = next_seq_++;
    expected_.emplace_back(e.seq, id);
    ++expected_live_;
  }
  Trim(expected_, expected_live_, 10 * max_kept_);
}

void ResultTable::OnResult(protocol::TaskInfo task) {
  std::lock_guard lock(mu_);
  auto [it, fresh] = entries_.try_emplace(task.id);
  Entry& e = it->second;
  if (!fresh && !e.task) --expected_live_;
  if (fresh || !e.task) ++arrived_live_;
  e.seq = next_seq_++;
  arrived_.emplace_back(e.seq, task.id);
  e.task = std::move(task);
  Settle(e);
  Trim(arrived_, arrived_live_, max_kept_);
}

void ResultTable::OnReconnect() {
  std::lock_guard lock(mu_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.task) {
      ++it;
      continue;
    }
    Settle(it->second);
    it = entries_.erase(it);
  }
  expected_.clear();
  expected_live_ = 0;
}

ResultTable::Awaited ResultTable::Await(const std::vector<std::string>& ids,
                                        int64_t deadline_ms) {
  Awaited out;
  out.tasks.resize(ids.size());
  std::vector<uint8_t> mine(ids.size(), 0);  // 1: this caller may take the entry
  Waiter waiter;
  std::unique_lock lock(mu_);
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = entries_.find(ids[i]);
    if (it == entries_.end()) continue;
    Entry& e = it->second;
    // Another caller awaits it already (or this one, for a repeated id): not ours.
    if (e.waiter != nullptr) continue;
    mine[i] = 1;
    if (e.task) continue;
    e.waiter = &waiter;
    ++waiter.remaining;
  }
  auto until = std::chrono::steady_clock::time_point(std::chrono::milliseconds(deadline_ms));
  if (waiter.remaining > 0) {
    out.timed_out = !waiter.cv.wait_until(lock, until, [&] { return waiter.remaining == 0; });
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (mine[i] == 0) continue;
    auto it = entries_.find(ids[i]);
    if (it == entries_.end()) continue;  // dropped, or taken for a repeated id
    Entry& e = it->second;
    if (e.waiter == &waiter) e.waiter = nullptr;  // timed out: stays expected
    if (!e.task) continue;
    out.tasks[i] = std::move(e.task);
    entries_.erase(it);
    --arrived_live_;
  }
  return out;
}

}  // namespace taskmill::client
