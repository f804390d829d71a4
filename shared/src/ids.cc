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

void RandomBytes(std::span<unsigned char> out) {
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = getrandom(out.data() + got, out.size() - got, 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
      continue;
    }
    // getrandom fails only without kernel support (or an interrupt): fall back to the
    // standard library's source rather than a predictable value.
    std::random_device rd;
    for (; got < out.size(); ++got) out[got] = static_cast<unsigned char>(rd());
  }
}

std::string RandomHex(size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  // The raw bytes go in the back half and are expanded forwards in place (byte i is read
  // before digits 2i and 2i+1 are written, which never reach a byte not read yet): one
  // allocation per id, which a client draws on every SUBMIT.
  std::string hex(2 * bytes, '0');
  auto* raw = reinterpret_cast<unsigned char*>(hex.data()) + bytes;
  RandomBytes({raw, bytes});
  for (size_t i = 0; i < bytes; ++i) {
    unsigned char b = raw[i];
    hex[2 * i] = kHex[b >> 4];
    hex[2 * i + 1] = kHex[b & 15];
  }
  return hex;
}

std::string NewRequestId() { return RandomHex(16); }

}  // namespace taskmill
