#include "cli/render.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <ostream>

#include "cli/json_convert.h"
#include "taskmill/shared/clock.h"

namespace taskmill::client::cli {
namespace {

// Display width of UTF-8 text: code points, not bytes (good enough for names and ids).
size_t Width(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

void Pad(std::ostream& out, size_t n) {
  for (size_t i = 0; i < n; ++i) out << ' ';
}

// "key        value", continuation lines of a multi-line value indented under it.
void Field(std::ostream& out, std::string_view key, std::string_view value) {
  constexpr size_t kKeyWidth = 13;
  out << key;
  Pad(out, kKeyWidth > key.size() ? kKeyWidth - key.size() : 1);
  if (!value.empty() && value.back() == '\n') value.remove_suffix(1);
  size_t start = 0;
  while (true) {
    size_t nl = value.find('\n', start);
    out << value.substr(start, nl == std::string_view::npos ? nl : nl - start) << '\n';
    if (nl == std::string_view::npos) break;
    start = nl + 1;
    Pad(out, kKeyWidth);
  }
}

std::string Attempts(const protocol::TaskInfo& t) {
  if (t.max_attempts == 0) return std::to_string(t.attempts);
  return std::to_string(t.attempts) + "/" + std::to_string(t.max_attempts);
}

std::string ErrorText(const protocol::TaskError& e) {
  std::string s = e.code;
  if (!e.message.empty()) s += ": " + e.message;
  if (e.retryable) s += " (retryable)";
  return s;
}

}  // namespace

Table::Table(std::vector<std::string> headers, std::vector<bool> right_aligned)
    : headers_(std::move(headers)), right_(std::move(right_aligned)) {
  right_.resize(headers_.size(), false);
}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> width(headers_.size());
  for (size_t c = 0; c < headers_.size(); ++c) {
    width[c] = Width(headers_[c]);
    for (const auto& row : rows_) width[c] = std::max(width[c], Width(row[c]));
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      size_t pad = width[c] - Width(row[c]);
      bool last = c + 1 == row.size();
      if (right_[c]) line.append(pad, ' ');
      line += row[c];
      if (!right_[c] && !last) line.append(pad, ' ');
      if (!last) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << '\n';
  };
  print_row(headers_);
  for (const auto& row : rows_) print_row(row);
}

std::string FormatDurationMs(int64_t ms) {
  if (ms < 0) ms = 0;
  char buf[32];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%lldms", static_cast<long long>(ms));
  } else if (ms < 60'000) {
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  } else if (ms < 3'600'000) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(ms / 60'000),
                  static_cast<long long>(ms / 1000 % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(ms / 3'600'000),
                  static_cast<long long>(ms / 60'000 % 60));
  }
  return buf;
}

std::string FormatCostValue(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", value);
  return buf;
}

std::string FormatCost(const protocol::CostMap& cost) {
  if (cost.empty()) return "-";
  std::string out;
  for (const auto& [name, value] : cost) {
    if (!out.empty()) out += ' ';
    out += name + "=" + FormatCostValue(value);
  }
  return out;
}

std::string FormatTime(int64_t epoch_ms) {
  if (epoch_ms <= 0) return "-";
  std::time_t secs = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(epoch_ms % 1000));
  return buf;
}

std::string Printable(std::string_view bytes) {
  if (IsValidUtf8(bytes)) return std::string(bytes);
  return "<" + std::to_string(bytes.size()) + " bytes, binary>";
}

int64_t TaskDurationMs(const protocol::TaskInfo& t) {
  if (t.duration_ms > 0) return t.duration_ms;
  if (t.started_ms > 0 && t.finished_ms >= t.started_ms) return t.finished_ms - t.started_ms;
  return 0;
}

std::string ProgressLine(uint32_t done, uint32_t total, uint32_t failed,
                         const protocol::CostMap& cost, int64_t elapsed_ms, int width) {
  int filled = total == 0 ? 0 : static_cast<int>(static_cast<uint64_t>(done) * width / total);
  filled = std::clamp(filled, 0, width);
  std::string line = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
  line += std::to_string(done) + "/" + std::to_string(total);
  line += "  failed " + std::to_string(failed);
  // The headline cost: usd when reported, else the first name.
  if (!cost.empty()) {
    auto it = cost.find("usd");
    if (it == cost.end()) it = cost.begin();
    line += "  " + it->first + " " + FormatCostValue(it->second);
  }
  char secs[32];
  std::snprintf(secs, sizeof secs, "  %.1fs", static_cast<double>(elapsed_ms) / 1000.0);
  return line + secs;
}

void PrintTaskCard(std::ostream& out, const protocol::TaskInfo& t, int64_t now_ms) {
  Field(out, "id", t.id);
  Field(out, "state", protocol::TaskStateName(t.state));
  Field(out, "queue", t.queue.empty() ? "-" : t.queue);
  Field(out, "type", t.type.empty() ? "-" : t.type);
  if (!t.batch_id.empty()) Field(out, "batch", t.batch_id + " (" + t.name + ")");
  Field(out, "priority", std::to_string(t.priority));
  Field(out, "attempts", Attempts(t));
  if (t.state == protocol::TaskState::kRunning && t.started_ms > 0) {
    // Not finished: its duration is not known yet, its elapsed time is.
    if (now_ms < 0) now_ms = SystemClock::Instance().NowMs();
    Field(out, "running for", FormatDurationMs(std::max<int64_t>(0, now_ms - t.started_ms)));
  } else {
    Field(out, "duration", FormatDurationMs(TaskDurationMs(t)));
  }
  if (t.progress > 0 || !t.progress_message.empty()) {
    char pct[16];
    std::snprintf(pct, sizeof pct, "%.0f%%", t.progress * 100);
    Field(out, "progress", t.progress_message.empty() ? std::string(pct)
                                                      : std::string(pct) + "  " +
                                                            Printable(t.progress_message));
  }
  Field(out, "cost", FormatCost(t.cost));
  if (!t.worker.empty()) Field(out, "worker", t.worker);
  Field(out, "created", FormatTime(t.created_ms));
  Field(out, "started", FormatTime(t.started_ms));
  Field(out, "finished", FormatTime(t.finished_ms));
  if (t.exit_code) Field(out, "exit code", std::to_string(*t.exit_code));
  if (t.error) Field(out, "error", ErrorText(*t.error));
  for (size_t i = 0; i < t.history.size(); ++i) {
    Field(out, i == 0 ? "history" : "", ErrorText(t.history[i]));
  }
  if (!t.output.empty()) Field(out, "output", Printable(t.output));
  if (!t.stdout_data.empty()) Field(out, "stdout", Printable(t.stdout_data));
  if (!t.stderr_data.empty()) Field(out, "stderr", Printable(t.stderr_data));
}

void PrintBatchCard(std::ostream& out, const protocol::BatchStatus& b) {
  Field(out, "batch", b.id);
  Field(out, "state", b.state);
  Field(out, "total", std::to_string(b.total));
  std::string counts;
  for (const auto& [state, n] : b.counts) {
    counts += (counts.empty() ? "" : " ") + state + "=" + std::to_string(n);
  }
  Field(out, "counts", counts.empty() ? "-" : counts);
  Field(out, "cost", FormatCost(b.cost));
  if (!b.budget.empty()) {
    Field(out, "budget", FormatCost(b.budget) + (b.budget_exceeded ? " (exceeded)" : ""));
  }
  Field(out, "created", FormatTime(b.created_ms));
  Field(out, "finished", FormatTime(b.finished_ms));
  if (b.critical_path_ms > 0) {
    Field(out, "critical path", FormatDurationMs(static_cast<int64_t>(b.critical_path_ms)));
  }
  if (b.on_failure != protocol::kOnFailureCancelDependents) Field(out, "on failure", b.on_failure);
  if (!b.finally_id.empty()) {
    Field(out, "finally", b.finally_id + (b.finally_state.empty() ? " (not started)"
                                                                  : " " + b.finally_state));
  }
  if (!b.tasks.empty()) {
    out << '\n';
    Table table({"NAME", "TASK ID"});
    for (const auto& [name, id] : b.tasks) table.AddRow({name, id});
    table.Print(out);
  }
}

void PrintTaskTable(std::ostream& out, const std::vector<protocol::TaskInfo>& tasks) {
  Table table({"ID", "NAME", "QUEUE", "TYPE", "STATE", "ATTEMPTS", "DURATION", "COST"},
              {false, false, false, false, false, true, true, false});
  for (const auto& t : tasks) {
    table.AddRow({t.id, t.name.empty() ? "-" : t.name, t.queue, t.type,
                  protocol::TaskStateName(t.state), Attempts(t),
                  FormatDurationMs(TaskDurationMs(t)), FormatCost(t.cost)});
  }
  table.Print(out);
}

void PrintStats(std::ostream& out, const StatsReply& stats) {
  Table queues({"QUEUE", "READY", "DELAYED", "RUNNING", "DEAD", "SUBMITTED", "SUCCEEDED", "FAILED",
                "RETRIED", "CANCELLED", "EXPIRED", "COST"},
               {false, true, true, true, true, true, true, true, true, true, true, false});
  for (const auto& q : stats.queues) {
    // `taskmill queue pause`: nothing of it is leased until it is resumed.
    queues.AddRow({q.paused ? q.queue + " (paused)" : q.queue, std::to_string(q.ready),
                   std::to_string(q.delayed), std::to_string(q.running), std::to_string(q.dead), std::to_string(q.submitted),
                   std::to_string(q.succeeded), std::to_string(q.failed), std::to_string(q.retried),
                   std::to_string(q.cancelled), std::to_string(q.expired),
                   FormatCost(q.cost)});
  }
  queues.Print(out);
  out << '\n';
  // Ready tasks by type, most first: which handler the backlog waits for.
  Table types({"QUEUE", "TYPE", "READY"}, {false, false, true});
  for (const auto& q : stats.queues) {
    std::vector<std::pair<std::string, uint32_t>> by_type(q.ready_by_type.begin(),
                                                          q.ready_by_type.end());
    std::stable_sort(by_type.begin(), by_type.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    for (const auto& [type, ready] : by_type) types.AddRow({q.queue, type, std::to_string(ready)});
    if (q.more_types > 0) {
      types.AddRow({q.queue, "(" + std::to_string(q.more_types) + " more types)", ""});
    }
  }
  if (types.rows() > 0) {
    types.Print(out);
    out << '\n';
  }
  // Queues with limits (taskmill queue limit): the setting, leases counted, tasks held back.
  Table limits({"QUEUE", "LIMIT", "LIMITED RUNNING", "THROTTLED"}, {false, false, true, true});
  for (const auto& q : stats.queues) {
    if (q.limit.empty()) continue;
    limits.AddRow({q.queue, q.limit, std::to_string(q.limit_running), std::to_string(q.throttled)});
  }
  if (limits.rows() > 0) {
    limits.Print(out);
    out << '\n';
  }
  Table workers({"WORKER", "BROKER", "QUEUES", "TYPES", "SLOTS", "IN FLIGHT"},
                {false, false, false, false, true, true});
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
    return s.empty() ? std::string("*") : s;
  };
  for (const auto& w : stats.workers) {
    // `taskmill worker quiet`: it finishes its tasks and takes nothing new.
    workers.AddRow({w.quiet ? w.id + " (quiet)" : w.id, w.broker.empty() ? "-" : w.broker,
                    join(w.queues), join(w.types), std::to_string(w.concurrency),
                    std::to_string(w.in_flight)});
  }
  workers.Print(out);
  const auto& b = stats.broker;
  out << "\nbroker: " << b.workers << " workers, " << b.queues << " queues, " << b.waits
      << " WAITs holding " << b.wait_ids << " ids, " << b.subscriptions << " subscriptions, "
      << b.quota_refusals << " refused by quotas, " << b.bad_frames << " bad frames";
  if (!b.broker_id.empty()) out << " (this broker: " << b.broker_id << ")";
  out << '\n';
  if (!b.brokers.empty()) {
    out << "brokers:";
    for (const auto& id : b.brokers) out << ' ' << id;
    out << '\n';
  }
  for (const auto& w : b.warnings) out << "WARNING: " << w << '\n';
}

void PrintDeadLetters(std::ostream& out, const std::vector<protocol::TaskInfo>& tasks) {
  Table table({"ID", "QUEUE", "TYPE", "ATTEMPTS", "FINISHED", "ERROR"},
              {false, false, false, true, false, false});
  for (const auto& t : tasks) {
    std::string error = t.error ? ErrorText(*t.error) : "-";
    if (auto nl = error.find('\n'); nl != std::string::npos) error = error.substr(0, nl) + " ...";
    table.AddRow({t.id, t.queue, t.type, Attempts(t), FormatTime(t.finished_ms), error});
  }
  table.Print(out);
}

protocol::CostMap SumCosts(const std::vector<protocol::TaskInfo>& tasks) {
  protocol::CostMap total;
  for (const auto& t : tasks) {
    for (const auto& [name, value] : t.cost) total[name] += value;
  }
  return total;
}

}  // namespace taskmill::client::cli
