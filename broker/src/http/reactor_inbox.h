#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "taskmill/shared/error.h"

namespace taskmill::broker {

// Work the HTTP threads hand to the reactor thread, for the writes that must go through
// the lifecycle layer as a client's would (a webhook's COMPLETE: its RESULT pushes, WAIT
// answers, bus events and batch events), without the reactor ever waiting for an HTTP
// thread. A job is posted and the reactor's poll woken through an eventfd; the HTTP thread
// waits for the job's answer, bounded.
// Thread: Post and Call from any thread but the reactor's; fd, RunPending and Close on the
// reactor thread. Owner: BrokerRuntime; it outlives the HTTP server that posts.
class ReactorInbox {
 public:
  // A job is told whether it runs (false: the broker is stopping; answer so).
  using Job = std::function<void(bool run)>;
  // Jobs waiting at most; past it Post refuses (the HTTP answer is 503).
  static constexpr size_t kMaxPending = 256;

  ReactorInbox();
  ~ReactorInbox();
  ReactorInbox(const ReactorInbox&) = delete;
  ReactorInbox& operator=(const ReactorInbox&) = delete;

  // The eventfd the reactor polls for POLLIN (-1 if it could not be made: Post refuses).
  int fd() const { return fd_; }
  // False (the job dropped, never called) if the inbox is closed or full.
  bool Post(Job job);
  // Runs every job posted so far, in order.
  void RunPending();
  // At shutdown: every waiting job is told it does not run, and later Posts and Calls are
  // refused; a Call whose job already ran stops waiting.
  void Close();

  // Runs `start(done)` on the reactor thread and waits, at most `timeout_ms`, for it to call
  // `done` (there or later, on that thread). kBrokerUnavailable when closed or full,
  // kTimeout when no answer came in time.
  template <typename T>
  Result<T> Call(std::function<void(std::function<void(Result<T>)>)> start, int64_t timeout_ms);

 private:
  void Wake();

  int fd_ = -1;
  std::mutex mu_;
  std::condition_variable answered_;  // a Call's answer arrived, or the inbox closed
  std::deque<Job> jobs_;
  bool closed_ = false;
};

template <typename T>
Result<T> ReactorInbox::Call(std::function<void(std::function<void(Result<T>)>)> start,
                             int64_t timeout_ms) {
  // Shared with the callback, which may come after this call gave up.
  auto answer = std::make_shared<std::optional<Result<T>>>();
  auto reply = [this, answer](Result<T> r) {
    std::lock_guard lock(mu_);
    *answer = std::move(r);
    answered_.notify_all();
  };
  bool posted = Post([start = std::move(start), reply](bool run) mutable {
    if (run) return start(std::move(reply));
    reply(MakeError(ErrorCode::kBrokerUnavailable, "the broker is stopping"));
  });
  if (!posted) {
    return MakeError(ErrorCode::kBrokerUnavailable,
                     "the broker is stopping or has " + std::to_string(kMaxPending) +
                         " HTTP writes waiting; retry");
  }
  std::unique_lock lock(mu_);
  if (!answered_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                          [&] { return answer->has_value() || closed_; })) {
    return MakeError(ErrorCode::kTimeout,
                     "no answer from the broker's reactor in " + std::to_string(timeout_ms) +
                         " ms; the write may still happen");
  }
  if (!answer->has_value()) return MakeError(ErrorCode::kBrokerUnavailable, "the broker is stopping");
  return std::move(**answer);
}

}  // namespace taskmill::broker
