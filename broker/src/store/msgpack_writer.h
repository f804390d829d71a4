#pragma once

// A small msgpack writer for the store's script arguments and task record (task_record.h):
// no allocation beyond the output string, no heavy header in every store source.

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace taskmill::broker {

class MsgpackWriter {
 public:
  void Nil() { out_.push_back(static_cast<char>(0xc0)); }
  void Bool(bool v) { out_.push_back(static_cast<char>(v ? 0xc3 : 0xc2)); }
  void Uint(uint64_t v) {
    if (v < 128) {
      out_.push_back(static_cast<char>(v));
    } else if (v <= 0xffffffffu) {
      Head(0xce, v, 4);
    } else {
      Head(0xcf, v, 8);
    }
  }
  void Int(int64_t v) {
    if (v >= 0) return Uint(static_cast<uint64_t>(v));
    if (v >= -32) {
      out_.push_back(static_cast<char>(static_cast<int8_t>(v)));
    } else {
      Head(0xd3, static_cast<uint64_t>(v), 8);
    }
  }
  void Double(double v) { Head(0xcb, std::bit_cast<uint64_t>(v), 8); }
  void Str(std::string_view s) {
    if (s.size() < 32) {
      out_.push_back(static_cast<char>(0xa0 | s.size()));
    } else if (s.size() <= 0xff) {
      Head(0xd9, s.size(), 1);
    } else if (s.size() <= 0xffff) {
      Head(0xda, s.size(), 2);
    } else {
      Head(0xdb, s.size(), 4);
    }
    out_.append(s);
  }
  void Array(uint32_t n) {
    if (n < 16) {
      out_.push_back(static_cast<char>(0x90 | n));
    } else if (n <= 0xffff) {
      Head(0xdc, n, 2);
    } else {
      Head(0xdd, n, 4);
    }
  }
  void Map(uint32_t n) {
    if (n < 16) {
      out_.push_back(static_cast<char>(0x80 | n));
    } else if (n <= 0xffff) {
      Head(0xde, n, 2);
    } else {
      Head(0xdf, n, 4);
    }
  }
  // Bytes already msgpack-encoded (one or more values).
  void Raw(std::string_view encoded) { out_.append(encoded); }

  std::string& out() { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  // A type byte followed by `n` big-endian bytes of v.
  void Head(uint8_t type, uint64_t v, int n) {
    out_.push_back(static_cast<char>(type));
    for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string out_;
};

}  // namespace taskmill::broker
