#pragma once

// SHA-256 (FIPS 180-4), for artifact checksums: the worker hashes what it keeps, clients
// check what they fetch. Small and dependency-free. Not constant-time; nothing secret is
// hashed with it.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace taskmill {

// Incremental: Update any number of times, then HexDigest once. Plain value type.
class Sha256 {
 public:
  Sha256();
  void Update(std::string_view bytes);
  // Lowercase hex of the digest; the object is spent afterwards.
  std::string HexDigest();

  static std::string Hex(std::string_view bytes) {
    Sha256 h;
    h.Update(bytes);
    return h.HexDigest();
  }

 private:
  void Block(const uint8_t* p);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;    // bytes in buffer_
  uint64_t total_ = 0;     // bytes hashed so far
};

}  // namespace taskmill
