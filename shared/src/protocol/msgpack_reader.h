#pragma once

// A bounded, allocation-free msgpack pull reader: the one place untrusted bytes are read.
// Every declared length is checked against the decoder limits and against the bytes that
// remain before anything is trusted, so a 5-byte frame declaring 4 billion elements is
// rejected at once. Errors name the field path ("tasks[2].priority").

#include <cstdint>
#include <string>
#include <string_view>

#include "taskmill/shared/error.h"
#include "taskmill/shared/protocol/codec.h"

namespace taskmill::protocol {

// Where a value sits in a message, for error messages. Lives on the stack; a chain of
// parents, turned into text only when an error is reported.
struct FieldPath {
  const FieldPath* parent = nullptr;
  std::string_view key;  // map key, or empty for an array element
  int64_t index = -1;    // array index when key is empty
  std::string ToString() const;
};

class MsgpackReader {
 public:
  MsgpackReader(std::string_view data, const DecodeLimits& limits) : data_(data), limits_(limits) {}

  bool AtEnd() const { return pos_ == data_.size(); }
  // True iff the next value is nil; it is consumed.
  bool ConsumeNil();

  // Container headers; they count against the depth and element limits. Callers pair
  // every successful header with Leave() after reading the contents.
  Result<uint32_t> MapHeader(const FieldPath& path);
  Result<uint32_t> ArrayHeader(const FieldPath& path);
  void Leave() { --depth_; }

  Result<std::string_view> Str(const FieldPath& path);
  // bin, or str (lenient: some encoders cannot tell bytes from text).
  Result<std::string_view> Bytes(const FieldPath& path);
  Result<uint64_t> Uint(const FieldPath& path);
  Result<int64_t> Int(const FieldPath& path);
  // float32, float64 or any integer (encoders in JavaScript write 2.0 as an integer).
  Result<double> Double(const FieldPath& path);
  Result<bool> Bool(const FieldPath& path);
  // Skips one value of any type, honouring the limits.
  Result<void> Skip(const FieldPath& path);

 private:
  std::unexpected<Error> Fail(ErrorCode code, const FieldPath& path, std::string what) const;
  std::unexpected<Error> WrongType(const FieldPath& path, const char* expected) const;
  // Reads a big-endian unsigned integer of `n` bytes.
  Result<uint64_t> ReadBE(size_t n, const FieldPath& path);
  Result<uint32_t> Container(const FieldPath& path, bool is_map);
  Result<std::string_view> Take(uint64_t n, uint32_t cap, const FieldPath& path, const char* what);
  static const char* TypeName(uint8_t byte);

  std::string_view data_;
  const DecodeLimits& limits_;
  size_t pos_ = 0;         // next unread byte
  uint32_t depth_ = 0;     // open containers
  uint64_t elements_ = 0;  // array elements + map entries seen so far
};

}  // namespace taskmill::protocol
