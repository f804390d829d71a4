#pragma once

// The fault suite's judge: reads what the load client and the workers logged, and the
// store's final state, and says whether taskmill kept its delivery promises
// (docs/reliability.md). Pure functions on plain structs, so it is unit-tested on
// synthetic logs (checker_test.cc) as well as run on real ones (chaos_test.cc).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "taskmill/shared/protocol/types.h"

namespace taskmill::chaos {

// One SUBMIT of one task id by the load client (ids are chosen by the client, so a submit
// whose reply was lost can still be recognised when it runs).
struct Submission {
  std::string id;
  int64_t submit_ms = 0;          // epoch ms the SUBMIT was sent
  std::optional<int64_t> ack_ms;  // epoch ms of the OK reply; unset: not acknowledged
};

// One run of a task's command, as logged by the command itself (exec handler).
struct Execution {
  std::string id;
  uint32_t attempt = 0;  // TASKMILL_ATTEMPT
  std::string worker;    // the worker's label
  int64_t start_ms = 0;  // epoch ms
  int64_t end_ms = 0;    // epoch ms
};

// The store's view of one task at the end (GET); state kUnknown if the store lost it.
struct FinalTask {
  protocol::TaskState state = protocol::TaskState::kUnknown;
  uint32_t attempts = 0;
  double usd = 0;  // recorded cost, summed over accepted DONEs
  int64_t finished_ms = 0;
  // Which run the recorded result came from, as that run printed it on its stdout
  // ("attempt worker"); unset when the task recorded no such line.
  std::optional<uint32_t> recorded_attempt;
  std::string recorded_worker;
};

struct CheckInput {
  std::vector<Submission> submissions;
  std::vector<Execution> executions;
  std::map<std::string, FinalTask> final_tasks;  // every submitted id the store knows
  // The scenario's queue as STATS reports it: how many successes it recorded, cost total.
  uint64_t queue_succeeded = 0;
  double queue_usd = 0;
  double usd_per_execution = 0.001;  // what one successful run reports
  int64_t fault_ms = 0;              // epoch ms of the injected fault; 0: none
};

struct CheckReport {
  size_t submitted = 0;               // distinct ids the client sent
  size_t acknowledged = 0;            // ... of which the broker said OK
  size_t lost = 0;                    // acknowledged, not terminal in the store at the end
  size_t duplicated_results = 0;      // successes the queue recorded beyond one per task
  size_t duplicate_executions = 0;    // runs beyond the first, per task (at-least-once re-runs)
  size_t unexpected = 0;              // runs of ids never submitted, of attempts never handed
                                      // out, or of one attempt twice
  size_t double_counted_costs = 0;    // tasks whose cost is not one run's; +1 if the queue
                                      // total is not the sum over its tasks
  size_t misattributed_results = 0;   // succeeded tasks whose recorded result is not the
                                      // run of the attempt that held the lease (the last
                                      // one handed out): a fenced-off attempt's DONE
  size_t succeeded = 0;               // tasks the store holds as succeeded
  size_t failed = 0;                  // ... as failed (dead letters)
  int64_t detection_ms = -1;          // fault -> first re-run (attempt >= 2) starts
  int64_t recovery_ms = -1;           // fault -> last task in flight at the fault is recorded
  int64_t max_gap_ms = -1;            // longest stretch without a recorded completion after
                                      // the fault (the throughput dip)
  std::vector<std::string> problems;  // the first few offending ids, for failure messages

  // Lost, duplicated results, unexpected runs, double costs and misattributed results are
  // all zero.
  bool Clean() const;
  // One table row: scenario submitted acknowledged lost dup_results dup_execs unexpected
  // double_costs detection_ms recovery_ms max_gap_ms misattributed (tab-separated, prefixed
  // "CHAOS_ROW").
  std::string Row(const std::string& scenario) const;
  std::string Summary() const;
};

CheckReport Check(const CheckInput& in);

// Reads "attempt worker" (what a run prints on its stdout) into the task's recorded run;
// false (task unchanged) if the text does not start with them.
bool ParseRecordedRun(const std::string& stdout_data, FinalTask& task);

// Parses the execution log: one "id attempt worker start_ms end_ms" line per run;
// malformed lines are skipped.
std::vector<Execution> ParseExecutionLog(const std::string& text);

}  // namespace taskmill::chaos
