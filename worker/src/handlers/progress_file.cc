#include "handlers/progress_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handlers/child_process.h"
#include "handlers/payload.h"
#include "taskmill/shared/log.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::worker {

std::optional<ProgressLine> ProgressFileTail::Poll() { return ReadAppended(false); }

std::optional<ProgressLine> ProgressFileTail::Finish() { return ReadAppended(true); }

std::optional<ProgressLine> ProgressFileTail::ReadAppended(bool final) {
  // O_NOFOLLOW and O_NONBLOCK: the process owns the directory and may put a symlink or a FIFO
  // there; neither is followed nor waited on, and only a regular file is read.
  UniqueFd fd(open(path_.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  std::optional<ProgressLine> latest;
  if (!fd.valid()) return latest;
  struct stat st{};
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return latest;
  if (static_cast<uint64_t>(st.st_size) < offset_) {  // truncated: start again from its top
    offset_ = 0;
    partial_.clear();
    skipping_ = false;
  }
  std::string chunk(std::min<uint64_t>(kMaxReadBytes, st.st_size - offset_), '\0');
  ssize_t n = chunk.empty() ? 0 : pread(fd.get(), chunk.data(), chunk.size(),
                                        static_cast<off_t>(offset_));
  if (n < 0) return latest;
  chunk.resize(static_cast<size_t>(n));
  offset_ += chunk.size();
  size_t start = 0;
  while (start < chunk.size()) {
    size_t nl = chunk.find('\n', start);
    std::string_view piece(chunk.data() + start,
                           (nl == std::string::npos ? chunk.size() : nl) - start);
    if (!skipping_) {
      if (partial_.size() + piece.size() > kMaxLineBytes) {
        skipping_ = true;  // counted once, at its end
        partial_.clear();
      } else {
        partial_.append(piece);
      }
    }
    if (nl == std::string::npos) break;
    if (skipping_) {
      ++bad_lines_;
      skipping_ = false;
    } else if (auto line = Parse(partial_)) {
      latest = std::move(line);
    }
    partial_.clear();
    start = nl + 1;
  }
  if (final) {
    if (skipping_) {
      ++bad_lines_;
    } else if (!partial_.empty()) {
      if (auto line = Parse(partial_)) latest = std::move(line);
    }
    partial_.clear();
    skipping_ = false;
  }
  return latest;
}

std::optional<ProgressLine> ProgressFileTail::Parse(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  if (line.empty()) return std::nullopt;  // blank lines are not errors
  auto doc = ParseJson(line, PayloadLimits{.max_bytes = kMaxLineBytes, .max_items = 16,
                                           .max_depth = 1});
  const Json* progress = doc && doc->is_object() ? Find(*doc, "progress") : nullptr;
  const Json* message = doc && doc->is_object() ? Find(*doc, "message") : nullptr;
  std::optional<double> fraction;
  if (progress != nullptr && progress->is_number()) {
    fraction = protocol::ClampProgressFraction(progress->get<double>());
  }
  if (!fraction || (message != nullptr && !message->is_string())) {
    ++bad_lines_;
    Logger("worker.exec")->debug("progress file {}: a line is not {{\"progress\": number, "
                                 "\"message\": string}}: ignored", path_);
    return std::nullopt;
  }
  ProgressLine out;
  out.fraction = *fraction;
  if (message != nullptr) {
    out.message = std::string(protocol::TrimProgressMessage(message->get<std::string>()));
  }
  return out;
}

}  // namespace taskmill::worker
