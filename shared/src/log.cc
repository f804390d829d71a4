#include "taskmill/shared/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

namespace taskmill {
namespace {
std::mutex& LevelMutex() {
  static std::mutex m;
  return m;
}
spdlog::level::level_enum& CurrentLevel() {
  static spdlog::level::level_enum level = spdlog::level::info;
  return level;
}
}  // namespace

Result<void> SetLogLevel(const std::string& level) {
  auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "log level '" + level + "' is not one of trace, debug, info, warn, error, critical, off");
  }
  std::lock_guard lock(LevelMutex());
  CurrentLevel() = parsed;
  spdlog::set_level(parsed);
  return {};
}

std::shared_ptr<spdlog::logger> Logger(const std::string& name) {
  std::lock_guard lock(LevelMutex());
  if (auto existing = spdlog::get(name)) return existing;
  auto logger = spdlog::stderr_color_mt(name);
  logger->set_level(CurrentLevel());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
  return logger;
}

}  // namespace taskmill
