#include "cli/batch_progress.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "cli/render.h"

namespace taskmill::client::cli {

void BatchProgress::Apply(const protocol::Event& e) {
  if (e.total > 0) {
    total_ = e.total;
    done_ = std::max(done_, e.done);
  }
  bool batch_event = e.type.rfind("batch_", 0) == 0 || e.type == "budget_warning";
  if (batch_event && !e.cost.empty()) cost_ = e.cost;
  std::string key = e.task_id.empty() ? e.task_name : e.task_id;
  if (e.type == "task_failed" && e.state != "delayed") {
    failed_tasks_.insert(key);  // failed or cancelled for good
  } else if (e.type.rfind("task_", 0) == 0) {
    failed_tasks_.erase(key);  // a failed attempt being retried is not (yet) a failure
  } else if (e.type == "batch_completed") {
    finished_ = true;
  }
}

void BatchProgress::Apply(const protocol::BatchStatus& s) {
  total_ = std::max(total_, s.total);
  uint32_t terminal = 0;
  for (const char* state : {"succeeded", "failed", "cancelled", "expired"}) {
    if (auto it = s.counts.find(state); it != s.counts.end()) terminal += it->second;
  }
  done_ = std::max(done_, terminal);
  failed_in_status_ = 0;
  for (const char* state : {"failed", "cancelled", "expired"}) {
    if (auto it = s.counts.find(state); it != s.counts.end()) failed_in_status_ += it->second;
  }
  cost_ = s.cost;
  if (!s.state.empty() && s.state != "running") finished_ = true;
}

uint32_t BatchProgress::failed() const {
  return std::max<uint32_t>(static_cast<uint32_t>(failed_tasks_.size()), failed_in_status_);
}

std::string EventLine(const protocol::Event& e, const BatchProgress& p, int64_t elapsed_ms) {
  char head[32];
  std::snprintf(head, sizeof head, "+%.1fs ", static_cast<double>(elapsed_ms) / 1000.0);
  std::string line = head + e.type;
  bool task_event = e.type.rfind("task_", 0) == 0;
  if (task_event) {
    line += " " + (e.task_name.empty() ? e.task_id : e.task_name);
    if (e.type == "task_progress") {
      char pct[16];
      std::snprintf(pct, sizeof pct, " %.0f%%", e.progress * 100);
      line += pct;
    } else if (e.type != "task_started" && !e.state.empty()) {
      line += " " + e.state;
    }
  } else if (e.type == "batch_completed") {
    line += " " + e.state;
  }
  if (!e.message.empty()) line += " (" + e.message + ")";
  if (e.error) {
    line += " error " + e.error->code;
    if (!e.error->message.empty()) line += ": " + e.error->message;
  }
  if (task_event) {
    if (!e.cost.empty()) line += " cost " + FormatCost(e.cost);
    return line;
  }
  // Batch events carry the totals so far.
  line += " " + std::to_string(p.done()) + "/" + std::to_string(p.total());
  if (p.failed() > 0) line += " failed " + std::to_string(p.failed());
  if (!p.cost().empty()) line += " cost " + FormatCost(p.cost());
  return line;
}

void EventInbox::Push(protocol::Event event) {
  {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(event));
  }
  cv_.notify_all();
}

std::vector<protocol::Event> EventInbox::Take(int64_t wait_ms) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(wait_ms, 0)),
               [&] { return !events_.empty(); });
  std::vector<protocol::Event> out(std::make_move_iterator(events_.begin()),
                                   std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

}  // namespace taskmill::client::cli
