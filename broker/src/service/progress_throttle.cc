#include "service/progress_throttle.h"

namespace taskmill::broker {

std::optional<ProgressWrite> ProgressThrottle::Offer(ProgressWrite report, int64_t now_ms) {
  auto it = tasks_.find(report.task_id);
  if (it == tasks_.end()) {
    if (tasks_.size() >= max_tasks_) {
      ++counters_.dropped;
      return std::nullopt;
    }
    tasks_.emplace(report.task_id, Entry{now_ms, std::nullopt});
    ++counters_.passed;
    return report;
  }
  Entry& e = it->second;
  if (now_ms - e.last_ms >= interval_ms_) {
    // A report held back is older than this one: this one replaces it.
    if (e.pending) ++counters_.coalesced;
    e.pending.reset();
    e.last_ms = now_ms;
    ++counters_.passed;
    return report;
  }
  if (e.pending) ++counters_.coalesced;
  e.pending = std::move(report);
  return std::nullopt;
}

std::vector<ProgressWrite> ProgressThrottle::TakeDue(int64_t now_ms) {
  std::vector<ProgressWrite> due;
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    Entry& e = it->second;
    if (now_ms - e.last_ms < interval_ms_) {
      ++it;
    } else if (e.pending) {
      due.push_back(std::move(*e.pending));
      e.pending.reset();
      e.last_ms = now_ms;
      ++counters_.passed;
      ++it;
    } else {
      it = tasks_.erase(it);  // quiet for a whole interval: its next report goes on at once
    }
  }
  return due;
}

std::optional<ProgressWrite> ProgressThrottle::TakeEnded(const std::string& task_id) {
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return std::nullopt;
  std::optional<ProgressWrite> pending = std::move(it->second.pending);
  tasks_.erase(it);
  if (pending) ++counters_.passed;
  return pending;
}

}  // namespace taskmill::broker
