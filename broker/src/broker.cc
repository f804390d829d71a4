// Broker::Run as its named steps (broker_runtime.h holds what they build).

#include "taskmill/broker/broker.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include "broker_runtime.h"

namespace taskmill::broker {

Broker::Broker(BrokerOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock) {
  stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

Broker::~Broker() {
  if (stop_fd_ >= 0) close(stop_fd_);
}

void Broker::Stop() {
  uint64_t one = 1;
  (void)!write(stop_fd_, &one, sizeof one);
}

Result<void> Broker::Run() {
  BrokerRuntime runtime(options_, clock_, stop_fd_);
  if (auto r = runtime.OpenStore(); !r) return r;
  if (auto r = runtime.OpenSockets(); !r) return r;
  if (auto r = runtime.StartHttp(); !r) return r;
  runtime.BuildLayers();
  runtime.AwaitRedis();
  runtime.Announce();
  runtime.ScheduleTimers();
  while (runtime.Turn()) {
  }
  return runtime.Shutdown();
}

}  // namespace taskmill::broker
