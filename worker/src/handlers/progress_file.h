#pragma once

// The exec built-in's progress channel: the process appends JSON lines such as
// {"progress": 0.4, "message": "reading"} to the file named by $TASKMILL_PROGRESS_FILE; the
// supervisor reads what was appended (a tail, by offset) and reports the latest valid line
// as PROGRESS. Bounded: at most kMaxReadBytes per poll and kMaxLineBytes per line (a longer
// line is skipped to its end and counted bad, like a line that is not such an object).

#include <cstdint>
#include <optional>
#include <string>

namespace taskmill::worker {

struct ProgressLine {
  double fraction = 0;  // clamped to 0..1
  std::string message;  // cut to protocol::kMaxProgressMessageBytes
};

// Lifecycle: one per exec attempt, polled by the supervising thread (the handler's executor
// thread), never shared.
class ProgressFileTail {
 public:
  static constexpr size_t kMaxLineBytes = 4096;
  static constexpr size_t kMaxReadBytes = 256u << 10;
  // How often the supervisor polls the file while the process runs.
  static constexpr int64_t kPollMs = 100;

  explicit ProgressFileTail(std::string path) : path_(std::move(path)) {}

  // The last valid line among the complete lines appended since the previous call.
  std::optional<ProgressLine> Poll();
  // After the process exited: as Poll, a last line without its newline included.
  std::optional<ProgressLine> Finish();

  uint64_t bad_lines() const { return bad_lines_; }
  const std::string& path() const { return path_; }

 private:
  std::optional<ProgressLine> Parse(std::string_view line);
  std::optional<ProgressLine> ReadAppended(bool final);

  std::string path_;
  uint64_t offset_ = 0;      // bytes of the file consumed so far
  std::string partial_;      // the start of a line whose newline has not come yet
  bool skipping_ = false;    // true iff inside a line longer than kMaxLineBytes
  uint64_t bad_lines_ = 0;   // lines ignored: too long, not JSON, not {"progress": number}
};

}  // namespace taskmill::worker
