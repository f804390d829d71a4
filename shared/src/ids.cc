#include "taskmill/shared/ids.h"

#include <array>
#include <cstdint>
#include <random>

#include <sys/random.h>

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

std::string NewRequestId() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::array<unsigned char, 16> bytes{};
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
      continue;
    }
    // getrandom fails only without kernel support (or an interrupt): fall back to the
    // standard library's source rather than sending a predictable id.
    std::random_device rd;
    for (; got < bytes.size(); ++got) bytes[got] = static_cast<unsigned char>(rd());
  }
  std::string id(32, '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    id[2 * i] = kHex[bytes[i] >> 4];
    id[2 * i + 1] = kHex[bytes[i] & 15];
  }
  return id;
}

}  // namespace taskmill
