#include "chaos/checker.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

namespace taskmill::chaos {
namespace {

constexpr double kCostEpsilon = 1e-9;
constexpr size_t kMaxProblems = 10;

void Note(CheckReport& r, const std::string& what) {
  if (r.problems.size() < kMaxProblems) r.problems.push_back(what);
}

}  // namespace

bool CheckReport::Clean() const {
  return lost == 0 && duplicated_results == 0 && unexpected == 0 && double_counted_costs == 0 &&
         misattributed_results == 0;
}

std::string CheckReport::Row(const std::string& scenario) const {
  std::ostringstream o;
  o << "CHAOS_ROW\t" << scenario << '\t' << submitted << '\t' << acknowledged << '\t' << lost
    << '\t' << duplicated_results << '\t' << duplicate_executions << '\t' << unexpected << '\t'
    << double_counted_costs << '\t' << detection_ms << '\t' << recovery_ms << '\t' << max_gap_ms
    << '\t' << misattributed_results;
  return o.str();
}

std::string CheckReport::Summary() const {
  std::ostringstream o;
  o << "submitted=" << submitted << " acknowledged=" << acknowledged << " lost=" << lost
    << " duplicated_results=" << duplicated_results
    << " duplicate_executions=" << duplicate_executions << " unexpected=" << unexpected
    << " double_counted_costs=" << double_counted_costs
    << " misattributed_results=" << misattributed_results << " succeeded=" << succeeded
    << " failed=" << failed << " detection_ms=" << detection_ms << " recovery_ms=" << recovery_ms
    << " max_gap_ms=" << max_gap_ms;
  for (const auto& p : problems) o << "\n  " << p;
  return o.str();
}

CheckReport Check(const CheckInput& in) {
  CheckReport r;
  std::set<std::string> submitted;
  std::set<std::string> acknowledged;
  for (const auto& s : in.submissions) {
    submitted.insert(s.id);
    if (s.ack_ms) acknowledged.insert(s.id);
  }
  r.submitted = submitted.size();
  r.acknowledged = acknowledged.size();

  // Lost: the broker said OK, so the task must reach a terminal state.
  for (const auto& id : acknowledged) {
    auto it = in.final_tasks.find(id);
    if (it == in.final_tasks.end() || !protocol::IsTerminal(it->second.state)) {
      ++r.lost;
      Note(r, "lost " + id + " (" +
                  (it == in.final_tasks.end() ? std::string("not in the store")
                                              : protocol::TaskStateName(it->second.state)) +
                  ")");
    }
  }

  // Runs per task. A run of an id never submitted, of an attempt the store never handed
  // out, or a second run of the same attempt (one lease executed twice) is unexpected.
  std::map<std::string, std::vector<const Execution*>> runs;
  for (const auto& e : in.executions) runs[e.id].push_back(&e);
  for (const auto& [id, list] : runs) {
    if (!submitted.contains(id)) {
      r.unexpected += list.size();
      Note(r, "unexpected run of never-submitted " + id);
      continue;
    }
    r.duplicate_executions += list.size() - 1;
    auto ft = in.final_tasks.find(id);
    uint32_t handed_out = ft == in.final_tasks.end() ? 0 : ft->second.attempts;
    std::set<uint32_t> seen;
    for (const auto* e : list) {
      if (e->attempt == 0 || e->attempt > handed_out) {
        ++r.unexpected;
        Note(r, "run of " + id + " attempt " + std::to_string(e->attempt) +
                    " beyond the store's attempts " + std::to_string(handed_out));
      } else if (!seen.insert(e->attempt).second) {
        ++r.unexpected;
        Note(r, "attempt " + std::to_string(e->attempt) + " of " + id + " ran twice");
      }
    }
  }

  // Results and costs. Only a successful run reports a cost, and only the DONE of the
  // live lease is recorded, so a succeeded task carries exactly one run's cost and any
  // other task none (in these scenarios every failure is a lost worker, which reports
  // nothing). The queue's success counter and cost total must agree with its tasks.
  double sum_usd = 0;
  for (const auto& [id, t] : in.final_tasks) {
    sum_usd += t.usd;
    bool ok = t.state == protocol::TaskState::kSucceeded;
    r.succeeded += ok;
    r.failed += t.state == protocol::TaskState::kFailed;
    double expected = ok ? in.usd_per_execution : 0.0;
    if (std::fabs(t.usd - expected) > kCostEpsilon) {
      ++r.double_counted_costs;
      Note(r, "cost of " + id + " is " + std::to_string(t.usd) + ", expected " +
                  std::to_string(expected));
    }
  }
  // Fencing: a succeeded task is never handed out again, so the lease live when its result
  // was recorded is its last attempt's, and the result must be that attempt's run.
  for (const auto& [id, t] : in.final_tasks) {
    if (t.state != protocol::TaskState::kSucceeded || !t.recorded_attempt) continue;
    bool ran = false;
    auto it = runs.find(id);
    if (it != runs.end()) {
      for (const auto* e : it->second) {
        ran |= e->attempt == *t.recorded_attempt && e->worker == t.recorded_worker;
      }
    }
    if (*t.recorded_attempt != t.attempts || !ran) {
      ++r.misattributed_results;
      Note(r, "result of " + id + " recorded from attempt " + std::to_string(*t.recorded_attempt) +
                  " on " + t.recorded_worker + (ran ? "" : " (no such run)") + ", but attempt " +
                  std::to_string(t.attempts) + " held the lease");
    }
  }
  if (in.queue_succeeded > r.succeeded) {
    r.duplicated_results = in.queue_succeeded - r.succeeded;
    Note(r, "queue recorded " + std::to_string(in.queue_succeeded) + " successes for " +
                std::to_string(r.succeeded) + " succeeded tasks");
  }
  if (std::fabs(in.queue_usd - sum_usd) > kCostEpsilon * (1 + in.final_tasks.size())) {
    ++r.double_counted_costs;
    Note(r, "queue cost total " + std::to_string(in.queue_usd) + " != sum over tasks " +
                std::to_string(sum_usd));
  }

  if (in.fault_ms > 0) {
    for (const auto& e : in.executions) {
      if (e.attempt >= 2 && e.start_ms >= in.fault_ms &&
          (r.detection_ms < 0 || e.start_ms - in.fault_ms < r.detection_ms)) {
        r.detection_ms = e.start_ms - in.fault_ms;
      }
    }
    // In flight at the fault: some run started before it, recorded after it.
    std::set<std::string> in_flight;
    for (const auto& e : in.executions) {
      if (e.start_ms <= in.fault_ms) in_flight.insert(e.id);
    }
    std::vector<int64_t> completions;
    int64_t last_in_flight = -1;
    for (const auto& [id, t] : in.final_tasks) {
      if (t.finished_ms <= in.fault_ms) continue;
      completions.push_back(t.finished_ms);
      if (in_flight.contains(id)) last_in_flight = std::max(last_in_flight, t.finished_ms);
    }
    std::sort(completions.begin(), completions.end());
    if (last_in_flight >= 0) {
      r.recovery_ms = last_in_flight - in.fault_ms;
    } else if (!completions.empty()) {
      r.recovery_ms = completions.front() - in.fault_ms;
    }
    int64_t prev = in.fault_ms;
    for (int64_t c : completions) {
      r.max_gap_ms = std::max(r.max_gap_ms, c - prev);
      prev = c;
    }
  }
  return r;
}

bool ParseRecordedRun(const std::string& stdout_data, FinalTask& task) {
  std::istringstream f(stdout_data);
  uint32_t attempt = 0;
  std::string worker;
  if (!(f >> attempt >> worker)) return false;
  task.recorded_attempt = attempt;
  task.recorded_worker = worker;
  return true;
}

std::vector<Execution> ParseExecutionLog(const std::string& text) {
  std::vector<Execution> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    Execution e;
    if (f >> e.id >> e.attempt >> e.worker >> e.start_ms >> e.end_ms) out.push_back(e);
  }
  return out;
}

}  // namespace taskmill::chaos
