#pragma once

// Human-readable output of the CLI: aligned tables, key/value cards, durations, costs and
// the batch progress bar. Pure functions of their input, so they are unit-tested.

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "taskmill/client/client.h"
#include "taskmill/shared/protocol/types.h"

namespace taskmill::client::cli {

// Columns padded to their widest cell, two spaces apart; numbers right-aligned when the
// column is marked so. A plain value; print it once filled.
class Table {
 public:
  explicit Table(std::vector<std::string> headers, std::vector<bool> right_aligned = {});
  void AddRow(std::vector<std::string> cells);
  void Print(std::ostream& out) const;
  size_t rows() const { return rows_.size(); }

 private:
  std::vector<std::string> headers_;
  std::vector<bool> right_;  // per column: right-align
  std::vector<std::vector<std::string>> rows_;
};

// "850ms", "12.4s", "3m05s", "2h03m".
std::string FormatDurationMs(int64_t ms);
// A cost value with at most 6 significant digits ("0.0123", "512", "1.5e+06").
std::string FormatCostValue(double value);
// "usd=0.0123 tokens_in=512", or "-" when empty.
std::string FormatCost(const protocol::CostMap& cost);
// "2024-05-01T12:00:03.120Z" (UTC), or "-" for 0.
std::string FormatTime(int64_t epoch_ms);
// Bytes for a terminal: the text when it is valid UTF-8, else "<N bytes, binary>".
std::string Printable(std::string_view bytes);
// The recorded attempt's duration, or finished - started when none was reported.
int64_t TaskDurationMs(const protocol::TaskInfo& task);

// "[#####.....] 7/12  failed 1  usd 0.0123  12.4s" (width = cells inside the brackets).
std::string ProgressLine(uint32_t done, uint32_t total, uint32_t failed,
                         const protocol::CostMap& cost, int64_t elapsed_ms, int width = 20);

// Key/value cards.
// `now_ms` (epoch ms, default the system clock): a running task shows how long it has run.
void PrintTaskCard(std::ostream& out, const protocol::TaskInfo& task, int64_t now_ms = -1);
void PrintBatchCard(std::ostream& out, const protocol::BatchStatus& batch);
// One row per task: id, name, queue, type, state, attempts, duration, cost.
void PrintTaskTable(std::ostream& out, const std::vector<protocol::TaskInfo>& tasks);
void PrintStats(std::ostream& out, const StatsReply& stats);
void PrintDeadLetters(std::ostream& out, const std::vector<protocol::TaskInfo>& tasks);

// Per cost name, the sum over the tasks.
protocol::CostMap SumCosts(const std::vector<protocol::TaskInfo>& tasks);

}  // namespace taskmill::client::cli
