#include "taskmill/shared/ids.h"

#include <array>
#include <cstdint>
#include <random>

#include "taskmill/shared/clock.h"

namespace taskmill {

std::string NewId() {
  // Crockford base32: no I, L, O, U, so ids read back unambiguously.
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t ms = static_cast<uint64_t>(SystemClock::Instance().NowMs());
  std::string id(26, '0');
  for (int i = 9; i >= 0; --i) {  // 10 chars = 50 bits of milliseconds
    id[i] = kAlphabet[ms & 31];
    ms >>= 5;
  }
  uint64_t a = rng(), b = rng();
  for (int i = 10; i < 26; ++i) {  // 16 chars = 80 bits of randomness
    uint64_t& src = i < 22 ? a : b;
    id[i] = kAlphabet[src & 31];
    src >>= 5;
  }
  return id;
}

}  // namespace taskmill
