#pragma once

namespace taskmill {
inline constexpr const char* kVersionString = "0.1.0";
}  // namespace taskmill
