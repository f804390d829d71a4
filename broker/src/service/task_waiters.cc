#include "service/task_waiters.h"

namespace taskmill::broker {

TaskWaiters::TaskWaiters(Settled settled, Push push, PushProgress progress)
    : settled_(std::move(settled)), push_(std::move(push)), progress_(std::move(progress)) {}

void TaskWaiters::TaskProgressed(const std::string& task_id, double fraction,
                                 const std::string& message) {
  if (!progress_) return;
  for (const auto& identity : waits_.ProgressWatchers(task_id)) {
    progress_(identity, task_id, fraction, message);
  }
}

void TaskWaiters::ReadFinished() {
  if (reads_ > 0 && --reads_ == 0) ended_during_reads_.clear();
}

bool TaskWaiters::Notify(const std::string& task_id, const std::string& identity) {
  if (notify_.size() >= kMaxNotify) return false;
  notify_[task_id] = identity;
  return true;
}

std::vector<std::pair<std::string, std::string>> TaskWaiters::TakeResultsToRead() {
  auto out = std::move(to_read_);
  to_read_.clear();
  return out;
}

void TaskWaiters::TaskEnded(const std::string& task_id, protocol::TaskInfo* known) {
  if (reads_ > 0 && ended_during_reads_.size() < kMaxEndedDuringReads) {
    ended_during_reads_.insert(task_id);
  }
  for (auto& w : waits_.OnTerminal(task_id)) settled_(std::move(w));
  auto it = notify_.find(task_id);
  if (it == notify_.end()) return;
  if (known != nullptr) {
    push_(it->second, std::move(*known));
  } else {
    to_read_.emplace_back(task_id, std::move(it->second));
  }
  notify_.erase(it);
}

}  // namespace taskmill::broker
