#include "taskmill/worker/handler.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include "taskmill/shared/clock.h"
#include "taskmill/shared/protocol/validate.h"

namespace taskmill::worker {
namespace {
// Progress reports closer together than this are held back, the latest kept for the next
// report past the interval or for FlushProgress (a fraction of 1 always goes at once).
constexpr int64_t kProgressIntervalMs = 50;
}  // namespace

const char* CancelReasonName(CancelReason reason) {
  switch (reason) {
    case CancelReason::kNone:
      return "none";
    case CancelReason::kCancelled:
      return "cancelled";
    case CancelReason::kTimeout:
      return "timeout";
    case CancelReason::kDraining:
      return "draining";
  }
  return "none";
}

CancelSignal::CancelSignal() = default;

CancelSignal::~CancelSignal() {
  int fd = fd_.load();
  if (fd >= 0) close(fd);
}

int CancelSignal::fd() const {
  int fd = fd_.load();
  if (fd != kNoFd) return fd;
  int made = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (made < 0) made = -1;
  int expected = kNoFd;
  if (!fd_.compare_exchange_strong(expected, made)) {
    if (made >= 0) close(made);  // another thread made it first
    return expected;
  }
  // A Cancel that ran before the eventfd existed did not write it. Both sides are seq_cst
  // (reason_ stored then fd_ read, fd_ stored then reason_ read), so at least one of them
  // sees the other: the eventfd is readable whenever cancelled() is true.
  if (made >= 0 && cancelled()) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(made, &one, sizeof one);
  }
  return made;
}

void CancelSignal::Cancel(CancelReason reason) {
  if (reason == CancelReason::kNone) return;
  CancelReason expected = CancelReason::kNone;
  if (!reason_.compare_exchange_strong(expected, reason)) return;
  int fd = fd_.load();
  if (fd >= 0) {
    uint64_t one = 1;
    // Nothing useful to do if this fails: waiters also re-check reason_ on every wake-up.
    [[maybe_unused]] ssize_t n = write(fd, &one, sizeof one);
  }
}

bool CancelSignal::WaitFor(std::chrono::milliseconds timeout) const {
  if (cancelled()) return true;
  const auto& clock = SystemClock::Instance();
  int64_t deadline = clock.MonotonicMs() + timeout.count();
  while (!cancelled()) {
    int64_t left = deadline - clock.MonotonicMs();
    if (left <= 0) return false;
    int fd = this->fd();
    if (fd < 0) {
      // No eventfd: fall back to short naps so cancel is still noticed.
      pollfd none{};
      poll(&none, 0, static_cast<int>(std::min<int64_t>(left, 10)));
      continue;
    }
    pollfd p{fd, POLLIN, 0};
    int rc = poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1'000'000)));
    if (rc < 0 && errno != EINTR) return cancelled();
  }
  return true;
}

Outcome Outcome::Ok(protocol::Bytes output) {
  Outcome o;
  o.ok = true;
  o.output = std::move(output);
  return o;
}

Outcome Outcome::Fail(std::string code, std::string message, bool retryable) {
  Outcome o;
  o.ok = false;
  o.error = protocol::TaskError{std::move(code), std::move(message), retryable};
  return o;
}

TaskContext::TaskContext(const protocol::TaskMsg& task, const CancelSignal& cancel,
                         ProgressSink progress)
    : task_(task), cancel_(cancel), progress_(std::move(progress)) {}

void TaskContext::ReportProgress(double fraction, std::string_view message) {
  if (!progress_) return;
  if (!(fraction >= 0)) fraction = 0;  // also maps NaN to 0
  if (fraction > 1) fraction = 1;
  int64_t now = SystemClock::Instance().MonotonicMs();
  {
    std::lock_guard lock(mu_);
    if (fraction < 1 && last_progress_ms_ >= 0 && now - last_progress_ms_ < kProgressIntervalMs) {
      held_progress_.emplace(fraction, std::string(protocol::TrimProgressMessage(message)));
      return;
    }
    last_progress_ms_ = now;
    held_progress_.reset();
  }
  progress_(fraction, protocol::TrimProgressMessage(message));
}

void TaskContext::FlushProgress() {
  if (!progress_) return;
  std::optional<std::pair<double, std::string>> held;
  {
    std::lock_guard lock(mu_);
    held = std::move(held_progress_);
    held_progress_.reset();
    if (held) last_progress_ms_ = SystemClock::Instance().MonotonicMs();
  }
  if (held) progress_(held->first, held->second);
}

void TaskContext::AddCost(std::string_view name, double value) {
  std::lock_guard lock(mu_);
  costs_[std::string(name)] += value;
}

protocol::CostMap TaskContext::costs() const {
  std::lock_guard lock(mu_);
  return costs_;
}

}  // namespace taskmill::worker
