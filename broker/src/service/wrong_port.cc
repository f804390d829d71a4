#include "service/wrong_port.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "taskmill/shared/log.h"

namespace taskmill::broker {

Error WrongPortError(BrokerPort port, std::string_view command,
                     const std::string& other_endpoint) {
  std::string cmd(command);
  if (port == BrokerPort::kWorker) {
    return Error{ErrorCode::kUnknownCommand,
                 cmd + " is a client request, but this is the broker's worker port; clients "
                       "connect to " + other_endpoint + " (TASKMILL_BROKER or --broker)"};
  }
  return Error{ErrorCode::kUnknownCommand,
               cmd + " is a worker message, but this is the broker's client port; workers "
                     "connect to " + other_endpoint + " (TASKMILL_WORKER_BROKER or --broker)"};
}

WrongPortGuard::WrongPortGuard(BrokerPort port, BrokerCounters& counters, const Clock& clock,
                               int64_t interval_ms)
    : port_(port),
      counters_(counters),
      clock_(clock),
      log_(Logger(port == BrokerPort::kClient ? "broker.clients" : "broker.workers")),
      interval_ms_(interval_ms) {}

protocol::Reply WrongPortGuard::Refuse(std::string_view command, uint64_t req_id,
                                       const std::string& other_endpoint) {
  ++counters_.bad_frames;
  ++counters_.wrong_port;
  Error error = WrongPortError(port_, command, other_endpoint);
  if (auto held_back = AllowWarning()) {
    log_->warn("a {} is talking to the {} port: {}{}",
               port_ == BrokerPort::kClient ? "worker" : "client",
               port_ == BrokerPort::kClient ? "client" : "worker", error.message,
               *held_back > 0 ? fmt::format(" ({} more since the last warning)", *held_back)
                              : std::string());
  }
  // A client's call fails at once with this text instead of timing out; a worker logs it.
  protocol::Reply reply;
  reply.req_id = req_id;
  reply.error = protocol::WireError{std::string(ErrorCodeName(error.code)), error.message};
  return reply;
}

std::optional<uint64_t> WrongPortGuard::AllowWarning() {
  int64_t now_ms = clock_.MonotonicMs();
  if (now_ms < next_ms_) {
    ++suppressed_;
    return std::nullopt;
  }
  next_ms_ = now_ms + interval_ms_;
  return std::exchange(suppressed_, 0);
}

}  // namespace taskmill::broker
