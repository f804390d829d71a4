#include "store/fencing_token.h"

#include <sys/random.h>

#include <cerrno>
#include <random>

namespace taskmill::broker {

std::vector<uint64_t> NewFencingTokens(size_t n) {
  std::vector<uint64_t> tokens(n, 0);
  auto* bytes = reinterpret_cast<char*>(tokens.data());
  size_t want = n * sizeof(uint64_t);
  size_t got = 0;
  while (got < want) {
    ssize_t r = getrandom(bytes + got, want - got, 0);
    if (r > 0) {
      got += static_cast<size_t>(r);
    } else if (r < 0 && errno != EINTR) {
      break;  // no getrandom (very old kernel): fall back below
    }
  }
  if (got < want) {
    std::random_device device;  // /dev/urandom on Linux
    for (auto& t : tokens) t = (uint64_t{device()} << 32) ^ device();
  }
  for (auto& t : tokens) {
    if (t == 0) t = 1;  // 0 is "unknown"; a 2^-64 event
  }
  return tokens;
}

}  // namespace taskmill::broker
