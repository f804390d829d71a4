#include "service/wrong_port.h"

#include <utility>

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

std::optional<uint64_t> WrongPortWarnings::Allow(int64_t now_ms) {
  if (now_ms < next_ms_) {
    ++suppressed_;
    return std::nullopt;
  }
  next_ms_ = now_ms + interval_ms_;
  return std::exchange(suppressed_, 0);
}

}  // namespace taskmill::broker
