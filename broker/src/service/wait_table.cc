#include "service/wait_table.h"

#include <algorithm>

namespace taskmill::broker {

uint64_t WaitTable::Add(Waiter w) {
  uint64_t key = next_key_++;
  for (const auto& id : w.pending) by_task_.emplace(id, key);
  by_deadline_.emplace(w.deadline_ms, key);
  if (w.progress) ++progress_waiters_;
  waiters_.emplace(key, std::move(w));
  return key;
}

WaitTable::Waiter WaitTable::Take(uint64_t key) {
  Waiter w = std::move(waiters_.at(key));
  waiters_.erase(key);
  if (w.progress) --progress_waiters_;
  for (const auto& id : w.pending) {
    auto [begin, end] = by_task_.equal_range(id);
    for (auto it = begin; it != end;) {
      it = it->second == key ? by_task_.erase(it) : std::next(it);
    }
  }
  auto [begin, end] = by_deadline_.equal_range(w.deadline_ms);
  for (auto it = begin; it != end; ++it) {
    if (it->second == key) {
      by_deadline_.erase(it);
      break;
    }
  }
  return w;
}

std::vector<std::string> WaitTable::ProgressWatchers(const std::string& task_id) const {
  std::vector<std::string> out;
  if (progress_waiters_ == 0) return out;
  auto [begin, end] = by_task_.equal_range(task_id);
  for (auto it = begin; it != end; ++it) {
    const auto& w = waiters_.at(it->second);
    if (w.progress && std::find(out.begin(), out.end(), w.identity) == out.end()) {
      out.push_back(w.identity);
    }
  }
  return out;
}

std::vector<WaitTable::Waiter> WaitTable::OnTerminal(const std::string& task_id) {
  std::vector<uint64_t> done;
  auto [begin, end] = by_task_.equal_range(task_id);
  for (auto it = begin; it != end;) {
    auto& w = waiters_.at(it->second);
    w.pending.erase(task_id);
    if (w.pending.empty()) done.push_back(it->second);
    it = by_task_.erase(it);
  }
  std::vector<Waiter> out;
  for (uint64_t key : done) out.push_back(Take(key));
  return out;
}

std::vector<WaitTable::Waiter> WaitTable::TakeExpired(int64_t now_ms) {
  std::vector<uint64_t> expired;
  for (auto it = by_deadline_.begin(); it != by_deadline_.end() && it->first <= now_ms; ++it) {
    expired.push_back(it->second);
  }
  std::vector<Waiter> out;
  for (uint64_t key : expired) out.push_back(Take(key));
  return out;
}

std::vector<WaitTable::Waiter> WaitTable::TakeIdentity(const std::string& identity) {
  std::vector<uint64_t> keys;
  for (const auto& [key, w] : waiters_) {
    if (w.identity == identity) keys.push_back(key);
  }
  std::vector<Waiter> out;
  for (uint64_t key : keys) out.push_back(Take(key));
  return out;
}

std::vector<std::string> WaitTable::PendingIds() const {
  std::vector<std::string> out;
  out.reserve(by_task_.size());
  std::string last;
  for (const auto& [id, key] : by_task_) {
    if (id != last) out.push_back(id);
    last = id;
  }
  return out;
}

}  // namespace taskmill::broker
