#include "http/reactor_inbox.h"

#include <sys/eventfd.h>
#include <unistd.h>

namespace taskmill::broker {

ReactorInbox::ReactorInbox() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

ReactorInbox::~ReactorInbox() {
  if (fd_ >= 0) close(fd_);
}

bool ReactorInbox::Post(Job job) {
  {
    std::lock_guard lock(mu_);
    if (closed_ || fd_ < 0 || jobs_.size() >= kMaxPending) return false;
    jobs_.push_back(std::move(job));
  }
  Wake();
  return true;
}

void ReactorInbox::Wake() {
  uint64_t one = 1;
  (void)!write(fd_, &one, sizeof one);
}

void ReactorInbox::RunPending() {
  uint64_t drained = 0;
  (void)!read(fd_, &drained, sizeof drained);
  std::deque<Job> jobs;
  {
    std::lock_guard lock(mu_);
    jobs.swap(jobs_);
  }
  for (auto& job : jobs) job(true);  // outside the lock: a job's answer takes it
}

void ReactorInbox::Close() {
  std::deque<Job> jobs;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    jobs.swap(jobs_);
    answered_.notify_all();
  }
  for (auto& job : jobs) job(false);
}

}  // namespace taskmill::broker
