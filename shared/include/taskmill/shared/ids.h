#pragma once

#include <cstddef>
#include <span>
#include <string>

namespace taskmill {

// A new random id: 26 characters, time-ordered prefix (ms) then randomness, so ids sort
// roughly by creation time and collide with probability ~2^-80. Thread-safe.
std::string NewId();
// A SUBMIT's or BATCH's request_id: 32 lowercase hex digits of 128 bits from getrandom(2),
// one per logical request, the same on every resend of it (the broker stores it once).
std::string NewRequestId();

// Fills `out` from the kernel's CSPRNG, getrandom(2) (std::random_device where that fails),
// for ids nobody may guess. Thread-safe.
void RandomBytes(std::span<unsigned char> out);
// `bytes` random bytes (RandomBytes) as 2 * `bytes` lowercase hex digits.
std::string RandomHex(size_t bytes);

}  // namespace taskmill
