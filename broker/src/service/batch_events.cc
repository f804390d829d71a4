#include "service/batch_events.h"

#include <algorithm>

#include "metrics/reactor_board.h"
#include "taskmill/shared/protocol/codec.h"

namespace taskmill::broker {
namespace {

uint32_t Done(const protocol::BatchStatus& b) {
  uint32_t n = 0;
  for (const char* s : {"succeeded", "failed", "cancelled", "expired"}) {
    if (auto it = b.counts.find(s); it != b.counts.end()) n += it->second;
  }
  return n;
}

// The budget share reached that triggers budget_warning.
constexpr double kBudgetWarningShare = 0.8;

}  // namespace

BatchEvents::BatchEvents(const Clock& clock, RouterSocket& frontend, Store& store,
                         RecentBatches& recent)
    : clock_(clock), frontend_(frontend), store_(store), recent_(recent) {}

BatchEvents::Watch* BatchEvents::Find(const std::string& batch_id) {
  auto it = batches_.find(batch_id);
  return it == batches_.end() ? nullptr : &it->second;
}

BatchEvents::Watch* BatchEvents::FindByTask(const std::string& task_id, std::string& batch_id) {
  auto it = batch_of_.find(task_id);
  if (it == batch_of_.end()) return nullptr;
  batch_id = it->second;
  return Find(batch_id);
}

void BatchEvents::Subscribe(const std::string& identity, const protocol::BatchStatus& batch) {
  Watch& w = batches_[batch.id];
  if (w.subscribers.insert(identity).second) {
    by_subscriber_[identity].insert(batch.id);
    ++subscriptions_;
  }
  Learn(batch.id, w, batch);
}

void BatchEvents::Learn(const std::string& batch_id, Watch& w, const protocol::BatchStatus& b) {
  w.total = std::max(w.total, b.total);
  // Already watched with every name (another subscriber, or a repeated SUBSCRIBE): the
  // names are known, so a repeat costs nothing per task.
  if (w.names.size() >= b.tasks.size()) return;
  for (const auto& [name, id] : b.tasks) {
    w.names[id] = name;
    batch_of_[id] = batch_id;
  }
}

void BatchEvents::TasksAdded(const protocol::BatchStatus& batch) {
  if (Watch* w = Find(batch.id)) Learn(batch.id, *w, batch);
}

void BatchEvents::Unsubscribe(const std::string& identity, const std::string& batch_id) {
  Watch* w = Find(batch_id);
  if (w == nullptr) return;
  if (w->subscribers.erase(identity) != 0) Unlink(identity, batch_id);
  if (w->subscribers.empty()) Forget(batch_id);
}

void BatchEvents::Unlink(const std::string& identity, const std::string& batch_id) {
  auto it = by_subscriber_.find(identity);
  if (it == by_subscriber_.end() || it->second.erase(batch_id) == 0) return;
  --subscriptions_;
  if (it->second.empty()) by_subscriber_.erase(it);
}

void BatchEvents::DropSubscriber(const std::string& identity) {
  auto it = by_subscriber_.find(identity);
  if (it == by_subscriber_.end()) return;
  std::vector<std::string> batches(it->second.begin(), it->second.end());
  for (const auto& b : batches) Unsubscribe(identity, b);
}

bool BatchEvents::Subscribed(const std::string& identity, const std::string& batch_id) const {
  auto it = by_subscriber_.find(identity);
  return it != by_subscriber_.end() && it->second.contains(batch_id);
}

size_t BatchEvents::SubscriptionsOf(const std::string& identity) const {
  auto it = by_subscriber_.find(identity);
  return it == by_subscriber_.end() ? 0 : it->second.size();
}

void BatchEvents::Forget(const std::string& batch_id) {
  Watch* w = Find(batch_id);
  if (w == nullptr) return;
  for (const auto& identity : w->subscribers) Unlink(identity, batch_id);
  for (const auto& [id, name] : w->names) batch_of_.erase(id);
  batches_.erase(batch_id);
}

void BatchEvents::Emit(const std::string& batch_id, Watch& w, protocol::Event e) {
  e.batch_id = batch_id;
  e.ts_ms = clock_.NowMs();
  if (e.total == 0) e.total = w.total;
  auto frames = protocol::Encode(e);
  // The watch itself stays (callers still hold it); an empty one goes at the next sweep.
  std::erase_if(w.subscribers, [&](const std::string& identity) {
    if (frontend_.Deliver(identity, frames) != RouterSocket::Delivery::kGone) return false;
    Unlink(identity, batch_id);
    return true;
  });
}

void BatchEvents::OnSweepTick() {
  std::vector<std::string> ids;
  ids.reserve(batches_.size());
  for (const auto& [id, w] : batches_) ids.push_back(id);
  for (const auto& id : ids) {
    if (batches_.at(id).subscribers.empty()) Forget(id);
  }
  if (ids.empty()) return;
  if (sweep_offset_ >= ids.size()) sweep_offset_ = 0;
  size_t end = std::min(ids.size(), sweep_offset_ + kSweepBatches);
  for (size_t i = sweep_offset_; i < end; ++i) Reread(ids[i]);
  sweep_offset_ = end;
}

void BatchEvents::Reread(const std::string& id) {
  store_.GetBatch(id, [this, id](Result<std::optional<protocol::BatchStatus>> r) {
    if (!r || Find(id) == nullptr) return;  // store away: try again next sweep
    if (!*r) {
      Forget(id);  // expired or purged: nothing will ever change it again
    } else if ((*r)->state != "running") {
      EmitBatchChanges({**r});  // sends batch_completed and forgets it
    } else {
      Learn(id, *Find(id), **r);  // tasks appended since (BATCH append_to)
    }
  });
}

void BatchEvents::RereadAll() {
  std::vector<std::string> ids;
  ids.reserve(batches_.size());
  for (const auto& [id, w] : batches_) ids.push_back(id);
  for (const auto& id : ids) Reread(id);
}

void BatchEvents::BatchStarted(const protocol::BatchStatus& batch) {
  Watch* w = Find(batch.id);
  if (w == nullptr) return;
  protocol::Event e;
  e.type = "batch_started";
  e.state = batch.state;
  e.total = batch.total;
  Emit(batch.id, *w, std::move(e));
}

void BatchEvents::TaskStarted(const protocol::TaskMsg& task) {
  if (task.batch_id.empty()) return;
  Watch* w = Find(task.batch_id);
  if (w == nullptr) return;
  // A task appended through another broker, started before its names were read: its TASK
  // names it, so its later events (progress, end) carry the name too.
  if (!task.name.empty() && w->names.emplace(task.task_id, task.name).second) {
    batch_of_[task.task_id] = task.batch_id;
  }
  protocol::Event e;
  e.type = "task_started";
  e.task_id = task.task_id;
  e.task_name = task.name;
  e.state = "running";
  e.message = "attempt " + std::to_string(task.attempt);
  Emit(task.batch_id, *w, std::move(e));
}

void BatchEvents::TaskProgressed(const std::string& task_id, double fraction,
                                 const std::string& message) {
  std::string batch_id;
  Watch* w = FindByTask(task_id, batch_id);
  if (w == nullptr) return;
  protocol::Event e;
  e.type = "task_progress";
  e.task_id = task_id;
  e.task_name = w->names[task_id];
  e.state = "running";
  e.progress = fraction;
  e.message = message;
  Emit(batch_id, *w, std::move(e));
}

void BatchEvents::TaskFinished(const FinishOutcome& outcome, const protocol::Done* done) {
  if (outcome.batch_id.empty()) return;
  Watch* w = Find(outcome.batch_id);
  if (w == nullptr) return;
  protocol::Event e;
  e.task_id = outcome.task_id;
  e.task_name = w->names[outcome.task_id];
  if (done != nullptr) {
    e.cost = done->cost;
    e.error = done->error;
  }
  switch (outcome.status) {
    case FinishStatus::kSucceeded:
      e.type = "task_completed";
      e.state = "succeeded";
      break;
    case FinishStatus::kRetry:
      e.type = "task_failed";
      e.state = "delayed";
      e.message = "attempt " + std::to_string(outcome.attempt) + " failed; retrying";
      break;
    case FinishStatus::kDead:
      e.type = "task_failed";
      e.state = "failed";
      break;
    case FinishStatus::kCancelled:
      e.type = "task_failed";
      e.state = "cancelled";
      break;
    case FinishStatus::kAwaiting:
      // Nothing ended: the outside system's COMPLETE (or the deadline) ends the attempt.
      e.type = "task_progress";
      e.state = "awaiting";
      e.message = "awaiting an outside completion";
      e.cost = {};
      e.error.reset();
      break;
    case FinishStatus::kStale:
    case FinishStatus::kNotFound:
    case FinishStatus::kNotAwaiting:
    case FinishStatus::kBadToken:
    case FinishStatus::kPoll:  // a check between others: nothing a subscriber needs
      return;
  }
  if (!e.error && done == nullptr && e.state != "succeeded" && e.state != "awaiting") {
    e.error = protocol::TaskError{"worker_lost", "the attempt's worker or lease was lost", true};
  }
  Emit(outcome.batch_id, *w, std::move(e));
  // The reason each one was stored with, so the event says what GET says.
  const auto& budget = outcome.budget_cancelled;
  const auto& fast = outcome.fail_fast_cancelled;
  for (const auto& id : outcome.cancelled) {
    bool over_budget = std::find(budget.begin(), budget.end(), id) != budget.end();
    bool fail_fast = std::find(fast.begin(), fast.end(), id) != fast.end();
    TaskCancelled(id, over_budget ? "budget_exceeded"
                      : fail_fast ? "batch_failed"
                                  : "dependency_failed");
  }
}

void BatchEvents::TaskCancelled(const std::string& task_id, const std::string& reason) {
  std::string batch_id;
  Watch* w = FindByTask(task_id, batch_id);
  if (w == nullptr) return;
  protocol::Event e;
  e.type = "task_failed";
  e.task_id = task_id;
  e.task_name = w->names[task_id];
  e.state = "cancelled";
  std::string why = reason == "dependency_failed" ? "a task it depends on failed"
                    : reason == "budget_exceeded" ? "the batch went over its budget"
                    : reason == "batch_failed"
                        ? "another task of the batch failed (on_failure fail_fast)"
                                                  : "cancelled by request";
  e.error = protocol::TaskError{reason, why, false};
  Emit(batch_id, *w, std::move(e));
}

void BatchEvents::BatchesChanged(const BatchChanges& batches) {
  for (const auto& b : batches) recent_.Saw(b.id);
  EmitBatchChanges(batches);
}

void BatchEvents::EmitBatchChanges(const BatchChanges& batches) {
  for (const auto& b : batches) {
    Watch* w = Find(b.id);
    if (w == nullptr) continue;
    // Tasks were appended (through another broker, or before this one subscribed): their
    // names are read, so their events carry them.
    if (b.total > w->total) {
      w->total = b.total;
      if (b.state == "running") Reread(b.id);
    }
    protocol::Event progress;
    progress.type = "batch_progress";
    progress.state = b.state;
    progress.done = Done(b);
    progress.total = b.total;
    progress.cost = b.cost;
    Emit(b.id, *w, progress);
    if (!w->warned) {
      for (const auto& [name, limit] : b.budget) {
        auto spent = b.cost.find(name);
        if (spent == b.cost.end() || spent->second < kBudgetWarningShare * limit) continue;
        w->warned = true;
        protocol::Event warn = progress;
        warn.type = "budget_warning";
        warn.message = name + " at " + std::to_string(spent->second) + " of " +
                       std::to_string(limit) + (b.budget_exceeded ? ": budget exceeded" : "");
        Emit(b.id, *w, std::move(warn));
        break;
      }
    }
    if (b.state != "running" && !b.state.empty()) {
      protocol::Event done = progress;
      done.type = "batch_completed";
      if (b.budget_exceeded) done.message = "budget exceeded";
      Emit(b.id, *w, std::move(done));
      // The batch is over: nothing more to tell anyone.
      for (const auto& [id, name] : w->names) batch_of_.erase(id);
      batches_.erase(b.id);
    }
  }
}

}  // namespace taskmill::broker
