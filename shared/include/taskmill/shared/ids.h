#pragma once

#include <string>

namespace taskmill {

// A new random id: 26 characters, time-ordered prefix (ms) then randomness, so ids sort
// roughly by creation time and collide with probability ~2^-80. Thread-safe.
std::string NewId();

}  // namespace taskmill
