#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

#include "taskmill/shared/error.h"

namespace taskmill {

// Sets the level of every taskmill logger ("trace".."off"); logs go to stderr.
Result<void> SetLogLevel(const std::string& level);
// The named logger for a component, e.g. Logger("broker.dispatch"); created on first use.
// spdlog's registry co-owns it (hence shared_ptr); safe to call from any thread.
std::shared_ptr<spdlog::logger> Logger(const std::string& name);

}  // namespace taskmill
